"""Scheduled runs (issue 11, items 9-13), driven through the command line.

A scheduler runs `clvkit report` every night: a planted lock, a hanging cell, a killed run, a
read-only or wrong --out, a real folder called `latest`, a partial run, months of runs, a closed
pipe -- each ends in a correct result or one line with exit status 2, and never damages the
last good run. Tiny throwaway notebooks (passed with --notebooks) keep these tests fast; the real
notebooks are exercised in tests/test_browser.py and tests/test_guard_injection.py.
"""
from __future__ import annotations

import fcntl
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import pytest
import yaml

from clvkit import cli

ROOT = Path(__file__).resolve().parents[1]
EXE = Path(sys.executable).with_name("clvkit")


def clvkit(*args, cwd=None, timeout=600):
    return subprocess.run([str(EXE), *map(str, args)], capture_output=True, text=True,
                          cwd=cwd or ROOT, env={**os.environ, "PYTHONIOENCODING": "utf-8"},
                          timeout=timeout)


def one_line(err: str, pattern: str) -> str:
    lines = [line for line in err.strip().splitlines()]
    assert len(lines) == 1 and lines[0].startswith("clvkit: "), err
    assert "Traceback" not in err
    assert re.search(pattern, lines[0]), lines[0]
    return lines[0]


def notebook(folder: Path, name: str, code: str) -> Path:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('params = ""\nrun_date = None')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {name}"), params, nbformat.v4.new_code_cell(code)]
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / f"{name}.ipynb")
    return folder


@pytest.fixture()
def project(tmp_path):
    """A params file (tiny simulated data) and two quick notebooks."""
    params = {"scenario": "nightly", "data": {"source": "simulate", "simulate": {
        "customers": 300, "programme": False}},
        "satisfaction": {"enabled": False}, "impact": {"enabled": False}}
    (tmp_path / "nightly.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    notebook(tmp_path / "nb", "01_first", "print('first')")
    notebook(tmp_path / "nb", "02_second", "print('second')")
    return tmp_path


def report(project, date, *extra, notebooks="nb", params="nightly.yaml", **kw):
    return clvkit("report", project / params, "--out", project / "reports", "--run-date", date,
                  "--notebooks", project / notebooks, *extra, **kw)


def snapshot(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def scenario(project) -> Path:
    return project / "reports" / "nightly"


def leftovers(project) -> list[str]:
    return sorted(p.name for p in scenario(project).iterdir()
                  if p.name.startswith((".build-", ".old-", ".latest-")))


# --------------------------------------------------------------------------- 9. the lock
def test_a_symlinked_lock_is_refused_and_its_target_untouched(project, tmp_path):
    target = tmp_path / "precious.txt"
    target.write_text("do not truncate me\n")
    scenario(project).mkdir(parents=True)
    os.symlink(target, scenario(project) / ".lock")
    res = report(project, "2024-05-01")
    assert res.returncode == 2
    one_line(res.stderr, r"lock .*\.lock is a symlink, which clvkit never follows; remove it")
    assert target.read_text() == "do not truncate me\n"
    assert not (scenario(project) / "2024-05-01").exists()


def test_a_hard_linked_lock_is_refused(project, tmp_path):
    target = tmp_path / "precious.txt"
    target.write_text("keep\n")
    scenario(project).mkdir(parents=True)
    os.link(target, scenario(project) / ".lock")
    res = report(project, "2024-05-01")
    assert res.returncode == 2
    one_line(res.stderr, r"is not a plain file of its own \(a hard link")
    assert target.read_text() == "keep\n"


def test_a_live_lock_stops_a_second_run(project):
    scenario(project).mkdir(parents=True)
    with open(scenario(project) / ".lock", "w") as fh:
        fh.write(f"pid {os.getpid()} since now\n")
        fh.flush()
        fcntl.flock(fh, fcntl.LOCK_EX)
        res = report(project, "2024-05-01")
    assert res.returncode == 2
    one_line(res.stderr, rf"another report run of scenario 'nightly' is in progress .*pid "
                         rf"{os.getpid()}")


def test_a_stale_lock_is_taken_over_saying_so_and_leftovers_removed(project):
    dead = 2 ** 22 + 12345  # above the usual pid_max: no such process
    folder = scenario(project)
    (folder / f".build-2024-04-30-{dead}" / "sub").mkdir(parents=True)
    (folder / ".lock").write_text(f"pid {dead} since 2024-04-30T02:30:00\n")
    kernel_dir = Path(tempfile.mkdtemp(prefix=f"clvkit-kernel-{dead}-"))
    res = report(project, "2024-05-01")
    assert res.returncode == 0, res.stderr
    assert f"took over the lock of a run that ended without releasing it (pid {dead}" in res.stderr
    assert leftovers(project) == [] and not kernel_dir.exists()
    assert (folder / ".lock").read_text() == ""  # released cleanly
    assert os.readlink(folder / "latest") == "2024-05-01"


# ------------------------------------------------------------------ 10. hanging cell
@pytest.mark.slow
def test_a_hanging_cell_fails_the_run_cleanly(project):
    assert report(project, "2024-05-01").returncode == 0
    before = snapshot(scenario(project) / "2024-05-01")
    notebook(project / "hang", "01_first", "import time\ntime.sleep(600)")
    cfg = yaml.safe_load((project / "nightly.yaml").read_text())
    cfg["report"] = {"cell_timeout": 3}
    (project / "hang.yaml").write_text(yaml.safe_dump(cfg))
    started = time.monotonic()
    res = report(project, "2024-05-01", notebooks="hang", params="hang.yaml")
    assert time.monotonic() - started < 120
    assert res.returncode == 2
    one_line(res.stderr, r"report failed in notebook 01_first\.ipynb, cell \d+: "
                         r"CellTimeoutError: it ran longer than report.cell_timeout")
    assert snapshot(scenario(project) / "2024-05-01") == before
    assert os.readlink(scenario(project) / "latest") == "2024-05-01"
    assert leftovers(project) == []
    assert report(project, "2024-05-02").returncode == 0  # the lock was released


# ----------------------------------------------------------- 11. one line, exit 2
def test_an_impossible_yaml_date_names_the_key(project):
    text = (project / "nightly.yaml").read_text() + "run_date: 2024-13-01\n"
    (project / "bad.yaml").write_text(text)
    res = clvkit("validate", project / "bad.yaml")
    assert res.returncode == 2
    one_line(res.stderr, r"bad\.yaml: run_date: '2024-13-01' is not an ISO date; fix: write it "
                         r"as YYYY-MM-DD")


@pytest.mark.parametrize("url, message", [
    ("postgresql+psycopg2://bob:hunter2@db/shop",
     r"postgresql\+psycopg2://bob:\*\*\*@db/shop: the database driver for "
     r"'postgresql\+psycopg2' is not installed \(No module named 'psycopg2'\); fix: install"),
    ("nosuchdb://host/x", r"unknown database scheme 'nosuchdb'; fix: use a scheme"),
])
def test_unusable_database_url_is_one_line(project, url, message):
    cfg = {"scenario": "db", "data": {"source": "files",
                                      "transactions": {"url": url, "table": "tx"}},
           "satisfaction": {"enabled": False}, "impact": {"enabled": False}}
    (project / "db.yaml").write_text(yaml.safe_dump(cfg))
    res = clvkit("validate", project / "db.yaml")
    assert res.returncode == 2
    line = one_line(res.stderr, message)
    assert "hunter2" not in line


def test_relative_sqlite_url_resolves_against_the_params_file(project):
    import sqlite3

    from clvkit.datasets import load_cdnow

    (project / "sub").mkdir()
    frame = load_cdnow("sample")[["customer_id", "date", "amount"]]
    with sqlite3.connect(project / "shop.db") as con:
        frame.assign(date=frame["date"].dt.strftime("%Y-%m-%d")).to_sql("tx", con, index=False)
    cfg = {"scenario": "db", "data": {"source": "files", "transactions": {
        "url": "sqlite:///../shop.db", "table": "tx"}},
        "satisfaction": {"enabled": False}, "impact": {"enabled": False}}
    (project / "sub" / "db.yaml").write_text(yaml.safe_dump(cfg))
    res = clvkit("validate", project / "sub" / "db.yaml", cwd="/")
    assert res.returncode == 0, res.stderr
    assert "customers:        2,357 with purchases" in res.stdout


def test_out_that_is_a_file_is_one_line(project):
    (project / "reports").write_text("not a folder")
    res = report(project, "2024-05-01")
    assert res.returncode == 2
    one_line(res.stderr, r"--out .*reports is a file, not a folder")
    res = clvkit("score", project / "nightly.yaml", "--out", project / "reports")
    assert res.returncode == 2
    one_line(res.stderr, r"--out .*reports is a file, not a folder")


def test_out_that_cannot_be_written_is_one_line(project):
    out = Path("/sys/clvkit-out")  # sysfs refuses new folders even to root
    try:
        out.mkdir()
    except OSError:
        pass
    else:  # pragma: no cover -- a machine where /sys is writable
        out.rmdir()
        pytest.skip("/sys is writable here")
    for args in (["report", project / "nightly.yaml", "--notebooks", project / "nb"],
                 ["score", project / "nightly.yaml"]):
        res = clvkit(*args, "--out", out)
        assert res.returncode == 2
        one_line(res.stderr, r"--out /sys/clvkit-out is not writable \(.+\); fix: choose a folder")


def test_latest_as_a_real_folder_is_refused_before_the_run(project):
    (scenario(project) / "latest").mkdir(parents=True)
    res = report(project, "2024-05-01")
    assert res.returncode == 2
    one_line(res.stderr, r"latest is a real folder, not the link clvkit keeps .*move it away")
    assert not (scenario(project) / "2024-05-01").exists()


def test_a_closed_pipe_ends_quietly():
    res = subprocess.run(f"'{EXE}' validate params/cdnow.yaml | head -1", shell=True,
                         capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert res.stdout.startswith("source: CDNOW")
    assert res.stderr == "", res.stderr


# -------------------------------------------------------- 12. latest, retention, cron
def test_a_partial_run_never_becomes_latest(project):
    assert report(project, "2024-05-01").returncode == 0
    res = report(project, "2024-05-02", "--only", "02_second")
    assert res.returncode == 0, res.stderr
    folder = scenario(project)
    assert json.loads((folder / "2024-05-02" / "run.json").read_text())["complete"] is False
    assert os.readlink(folder / "latest") == "2024-05-01"
    assert "2024-05-01/index.html" in (folder / "latest.html").read_text()
    # completing that date later makes it latest
    assert report(project, "2024-05-02", "--only", "01_first").returncode == 0
    assert json.loads((folder / "2024-05-02" / "run.json").read_text())["complete"] is True
    assert os.readlink(folder / "latest") == "2024-05-02"


def test_keep_runs_deletes_old_runs_but_never_latest(project):
    cfg = yaml.safe_load((project / "nightly.yaml").read_text())
    cfg["report"] = {"keep_runs": 1}
    (project / "nightly.yaml").write_text(yaml.safe_dump(cfg))
    assert report(project, "2024-05-01").returncode == 0
    assert report(project, "2024-05-02", "--only", "02_second").returncode == 0
    assert report(project, "2024-05-03", "--only", "02_second").returncode == 0
    folder = scenario(project)
    runs = sorted(p.name for p in folder.iterdir() if re.match(r"\d{4}-", p.name))
    assert runs == ["2024-05-01", "2024-05-03"]  # 05-01 is what latest points at
    assert os.readlink(folder / "latest") == "2024-05-01"
    assert report(project, "2024-05-04").returncode == 0
    runs = sorted(p.name for p in folder.iterdir() if re.match(r"\d{4}-", p.name))
    assert runs == ["2024-05-04"] and os.readlink(folder / "latest") == "2024-05-04"


def test_readme_cron_line_works_on_a_fresh_clone():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    cron = re.search(r"```cron\n(?:#.*\n)*(.+)\n```", readme).group(1)
    command = cron.split(None, 5)[5]
    assert ">> logs/" in command and "mkdir -p logs" in command.split(">>")[0]


# ------------------------------------------------------------------ 13. help and hints
@pytest.mark.parametrize("command, default", [
    ("validate", "(default: 0.05)"), ("validate", "(default: customer_id)"),
    ("report", "(default: reports)"), ("simulate", "(default: 5000)"),
    ("score", "--run-date")])
def test_help_shows_defaults(capsys, command, default):
    with pytest.raises(SystemExit):
        cli.main([command, "--help"])
    assert default in " ".join(capsys.readouterr().out.split())


def test_report_hint_names_an_option_that_exists(project):
    (project / "empty").mkdir()
    res = report(project, "2024-05-01", notebooks="empty")
    assert res.returncode == 2
    one_line(res.stderr, r"no report notebooks .*fix: pass a folder of \.ipynb files with "
                         r"--notebooks DIR, or leave it out to run the notebooks shipped")
    assert "--notebooks" in clvkit("report", "--help").stdout


def test_params_mode_hint_names_the_params_key(project, tmp_path):
    (tmp_path / "semi.csv").write_text("customer_id;date;amount\n1;2024-01-01;5\n")
    cfg = {"scenario": "s", "data": {"source": "files", "transactions": {"path": "semi.csv"}},
           "satisfaction": {"enabled": False}, "impact": {"enabled": False}}
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(cfg))
    res = clvkit("validate", tmp_path / "s.yaml")
    assert res.returncode == 2
    one_line(res.stderr, r"fix: set data\.transactions\.sep: ';'$")


# ------------------------------------------------------------- fault injection: kills
def kernels_of(pid: int) -> list[int]:
    """Processes whose command line names the kernel folder of run ``pid``."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if f"clvkit-kernel-{pid}-" in cmd:
                found.append(int(proc.name))
    return found


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_a_killed_run_leaves_the_previous_run_and_latest_and_the_next_run_works(project, sig):
    assert report(project, "2024-05-01").returncode == 0
    folder = scenario(project)
    before = snapshot(folder / "2024-05-01")
    notebook(project / "slow", "01_first", "import time\ntime.sleep(300)")
    proc = subprocess.Popen([str(EXE), "report", project / "nightly.yaml", "--out",
                             project / "reports", "--run-date", "2024-05-01", "--notebooks",
                             project / "slow"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=ROOT)
    deadline = time.monotonic() + 240
    while not kernels_of(proc.pid):  # wait until the notebook's kernel runs
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the kernel never started"
        time.sleep(0.5)
    time.sleep(2)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    if sig == signal.SIGTERM:
        assert proc.returncode == 128 + signal.SIGTERM
        one_line(err, r"stopped by SIGTERM; the previous run and latest are untouched")
        assert leftovers(project) == []  # cleaned up on the way out
        assert (folder / ".lock").read_text() == ""
    else:
        assert proc.returncode == -signal.SIGKILL
        assert leftovers(project)  # a killed process cannot clean up ...
    assert snapshot(folder / "2024-05-01") == before
    assert os.readlink(folder / "latest") == "2024-05-01"
    deadline = time.monotonic() + 30
    while kernels_of(proc.pid) and time.monotonic() < deadline:  # no orphan kernel stays
        time.sleep(0.5)
    assert kernels_of(proc.pid) == []
    res = report(project, "2024-05-02")  # ... the next run does
    assert res.returncode == 0, res.stderr
    assert leftovers(project) == []
    assert not list(Path(tempfile.gettempdir()).glob(f"clvkit-kernel-{proc.pid}-*"))
    if sig == signal.SIGKILL:
        assert f"pid {proc.pid}" in res.stderr and "took over the lock" in res.stderr
    assert os.readlink(folder / "latest") == "2024-05-02"
    assert snapshot(folder / "2024-05-01") == before
