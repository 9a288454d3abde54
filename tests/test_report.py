"""The report pipeline's mechanics, on tiny throwaway notebooks made here (no clvkit analysis)."""
from __future__ import annotations

import fcntl
import json
import os
import re
import sys
from pathlib import Path

import nbformat
import pytest

from clvkit.errors import ConfigError
from clvkit.report import ReportError, check_run_date, run_report, select_notebooks

OK_CODE = (
    "import sys\n"
    "import matplotlib.pyplot as plt\n"
    "secret_marker_in_code = 'CODE-MUST-NOT-SHOW'\n"
    "print('params=' + params)\n"
    "print('run_date=' + run_date)\n"
    "print('prefix=' + sys.prefix)\n"
    "print('cwd=' + __import__('os').getcwd())\n"
    "fig, ax = plt.subplots(figsize=(3, 2))\n"
    "ax.plot([1, 2, 3])\n"
)


def make_notebook(path: Path, code: str, title: str = "Tiny report") -> Path:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('params = "../params/tiny.yaml"\nrun_date = None')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {title}"), params, nbformat.v4.new_code_cell(code)]
    nb.metadata["kernelspec"] = {"name": "some-other-kernel", "display_name": "x", "language": "python"}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


@pytest.fixture()
def project(tmp_path):
    (tmp_path / "params").mkdir()
    (tmp_path / "params" / "tiny.yaml").write_text(
        "scenario: tiny\ndata: {source: simulate}\n", encoding="utf-8")
    make_notebook(tmp_path / "notebooks" / "01_first.ipynb", OK_CODE, "First report")
    make_notebook(tmp_path / "notebooks" / "02_second.ipynb", "print('second ' + run_date)",
                  "Second report")
    return tmp_path


def run(project, **kw):
    kw.setdefault("out", project / "reports")
    kw.setdefault("export", False)
    kw.setdefault("notebooks_dir", project / "notebooks")  # a user's own set (--notebooks)
    return run_report(project / "params" / "tiny.yaml", **kw)


def executed_text(path: Path) -> str:
    nb = nbformat.read(path, as_version=4)
    return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                   for o in c.get("outputs", []))


def test_run_publishes_reports_index_and_latest(project, capfd):
    result = run(project, run_date="2024-05-01")
    scenario = project / "reports" / "tiny"
    assert result.path == scenario / "2024-05-01" and result.scenario == "tiny"
    names = sorted(p.name for p in result.path.iterdir())
    assert names == ["01_first.html", "01_first.ipynb", "02_second.html", "02_second.ipynb",
                     "appendix.html", "index.html", "run.json"]
    assert [p.name for p in result.reports] == ["01_first.html", "02_second.html"]
    # latest: a relative symlink and an offline redirect page
    assert os.readlink(scenario / "latest") == "2024-05-01"
    assert 'url=2024-05-01/index.html' in (scenario / "latest.html").read_text()
    # nothing left over from building
    assert sorted(p.name for p in scenario.iterdir()) == [".lock", "2024-05-01", "latest", "latest.html"]
    # parameters injected; the kernel is this interpreter's; cwd is the notebooks folder
    out = executed_text(result.path / "01_first.ipynb")
    assert f"params={project / 'params' / 'tiny.yaml'}" in out
    assert "run_date=2024-05-01" in out
    assert f"prefix={sys.prefix}" in out
    assert f"cwd={project / 'notebooks'}" in out
    # HTML: code hidden, figure embedded, no prompts, no URL leaving the file
    page = (result.path / "01_first.html").read_text()
    assert "CODE-MUST-NOT-SHOW" not in page and "secret_marker_in_code" not in page
    body = page.partition("<body")[2]
    assert "jp-CodeMirrorEditor" not in body and "jp-InputPrompt" not in body
    assert "In&nbsp;[" not in body and 'class="highlight' not in body
    assert 'src="data:image/png;base64,' in page
    assert "://" not in page
    index = (result.path / "index.html").read_text()
    assert 'href="01_first.html">First report</a>' in index and "Second report" in index
    appendix = (result.path / "appendix.html").read_text()
    assert "scenario: tiny" in appendix  # the effective configuration is on the appendix page
    assert 'href="02_second.html"' in page and 'href="appendix.html"' in page  # the nav bar
    meta = json.loads((result.path / "run.json").read_text())
    assert meta["run_date"] == "2024-05-01" and meta["notebooks"] == ["01_first.ipynb", "02_second.ipynb"]
    assert meta["fingerprint"].startswith("params-sha256:")
    # stderr is not a terminal under pytest: no progress bar written
    assert "Executing" not in capfd.readouterr().err


def test_failing_notebook_keeps_previous_run_and_latest(project):
    good = run(project, run_date="2024-05-01")
    before = {p.name: p.read_bytes() for p in good.path.iterdir()}
    make_notebook(project / "notebooks" / "02_second.ipynb",
                  "x = 1\nraise ValueError('deliberate failure')", "Broken")
    with pytest.raises(ReportError, match=r"notebook 02_second\.ipynb, cell 3 .*ValueError: "
                                          r"deliberate failure; executed notebook kept in .*failed"):
        run(project, run_date="2024-05-01")
    scenario = project / "reports" / "tiny"
    assert {p.name: p.read_bytes() for p in good.path.iterdir()} == before
    assert os.readlink(scenario / "latest") == "2024-05-01"
    failed = scenario / "failed" / "2024-05-01"
    assert "deliberate failure" in (failed / "02_second.ipynb").read_text()
    assert not [p for p in scenario.iterdir() if p.name.startswith((".build", ".old"))]


def test_failing_first_run_publishes_nothing(project):
    make_notebook(project / "notebooks" / "01_first.ipynb", "1 / 0")
    with pytest.raises(ReportError, match="01_first.ipynb, cell 3 .*ZeroDivisionError"):
        run(project, run_date="2024-05-01")
    scenario = project / "reports" / "tiny"
    assert not (scenario / "2024-05-01").exists() and not (scenario / "latest").exists()


def test_rerun_of_a_date_replaces_it_and_latest_tracks_newest(project):
    run(project, run_date="2024-05-02")
    make_notebook(project / "notebooks" / "02_second.ipynb", "print('version two')")
    again = run(project, run_date="2024-05-02")
    assert "version two" in executed_text(again.path / "02_second.ipynb")
    scenario = project / "reports" / "tiny"
    run(project, run_date="2024-04-30", only="second")  # a backfill of an older date
    assert os.readlink(scenario / "latest") == "2024-05-02"
    assert sorted(p.name for p in scenario.iterdir() if not p.name.startswith(".")) == [
        "2024-04-30", "2024-05-02", "latest", "latest.html"]


def test_only_reruns_one_notebook_and_keeps_the_others(project):
    first = run(project, run_date="2024-05-01")
    kept = (first.path / "01_first.ipynb").read_bytes()
    make_notebook(project / "notebooks" / "02_second.ipynb", "print('second, edited')")
    again = run(project, run_date="2024-05-01", only=["02_second"])
    assert [p.name for p in again.reports] == ["02_second.html"]
    assert (again.path / "01_first.ipynb").read_bytes() == kept   # not executed again
    # its page is written again from the kept notebook, so its nav names the new second report
    assert 'href="02_second.html"' in (again.path / "01_first.html").read_text()
    assert "second, edited" in executed_text(again.path / "02_second.ipynb")
    assert "01_first.html" in (again.path / "index.html").read_text()


def test_lock_stops_a_second_run_of_the_scenario(project):
    scenario = project / "reports" / "tiny"
    scenario.mkdir(parents=True)
    with open(scenario / ".lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(ReportError, match="another report run of scenario 'tiny' is in progress"):
            run(project, run_date="2024-05-01")
    assert not (scenario / "2024-05-01").exists()


@pytest.mark.parametrize("bad", ["2024-13-01", "01/05/2024", "yesterday", "2024-5-1"])
def test_bad_run_date_is_a_config_error(bad):
    with pytest.raises(ConfigError, match=r"run_date: run date .* is not a calendar date YYYY-MM-DD"):
        check_run_date(bad)


def test_run_date_defaults_to_today_and_accepts_dates():
    import datetime as dt

    assert check_run_date(None) == dt.date.today().isoformat()
    assert check_run_date(dt.date(2024, 2, 29)) == "2024-02-29"


def test_unknown_only_name_lists_the_notebooks(project):
    with pytest.raises(ConfigError, match=r"only: no report notebook named 'tier'.*01_first, 02_second"):
        select_notebooks(project / "notebooks", only="tier")
    assert [p.name for p in select_notebooks(project / "notebooks", only="first")] == ["01_first.ipynb"]


def test_empty_notebook_folder_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="no report notebooks"):
        select_notebooks(tmp_path)


def test_missing_params_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match=r"nope\.yaml: params file not found"):
        run_report(tmp_path / "nope.yaml", out=tmp_path / "reports")


def test_template_removes_every_cdn_script():
    from clvkit.report import to_html

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Title\n\n$x^2$ maths would want MathJax")]
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        src = Path(d) / "n.ipynb"
        nbformat.write(nb, src)
        page = to_html(src, Path(d) / "n.html").read_text()
    assert "<script src" not in page
    assert not re.search(r"(src|href)=[\"']?https?:", page)
    assert "://" not in page


def test_notebooks_share_a_kernel_per_worker_but_never_each_others_names(tmp_path):
    """Three notebooks on at most two kernels (imports paid once per worker); each kernel's
    namespace is emptied between notebooks, so a notebook cannot lean on an earlier one."""
    (tmp_path / "params").mkdir()
    (tmp_path / "params" / "tiny.yaml").write_text("scenario: tiny\ndata: {source: simulate}\n")
    code = ("import os\nprint('pid', os.getpid(), 'leak' in globals())\nleak = 1")
    for i in (1, 2, 3):
        make_notebook(tmp_path / "notebooks" / f"0{i}_n.ipynb", code)
    result = run(tmp_path, run_date="2024-05-01")
    lines = [executed_text(result.path / f"0{i}_n.ipynb").split() for i in (1, 2, 3)]
    assert [line[2] for line in lines] == ["False"] * 3
    assert len({line[1] for line in lines}) <= 2  # a kernel ran more than one notebook
