"""The real report notebooks, run once through run_report on a small scenario, then opened in
headless Chromium: no console errors, nothing fetched from outside file://, every image loaded,
the executive summary above the fold, no code cells. Screenshots go to the test's tmp folder
(and to $CLVKIT_SCREENSHOTS when set).

Without Chromium the browser tests skip locally and FAIL when CLVKIT_REQUIRE_BROWSER=1 (CI).
"""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
import yaml

from clvkit.notebook import notebooks_dir
from clvkit.report import run_report

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run"]
REPORTS = ["01_data_quality", "02_customer_value", "03_tiers", "04_satisfaction_retention",
           "05_case_study"]


def small_params(folder: Path) -> Path:
    """The default scenario with fewer customers and bootstrap draws, to keep CI fast."""
    params = yaml.safe_load((ROOT / "params" / "retail.yaml").read_text(encoding="utf-8"))
    params["scenario"] = "small"
    params["data"]["simulate"]["customers"] = 1500
    params["impact"]["n_boot"] = 200
    path = folder / "small.yaml"
    path.write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("browser")
    return run_report(small_params(folder), out=folder / "reports", run_date="2024-12-31")


def pages(run):
    return [run.index, *run.reports]


def test_the_real_notebooks_produce_five_reports_the_index_and_the_export(run):
    assert [p.stem for p in run.reports] == REPORTS
    assert all(p.stat().st_size > 10_000 for p in run.reports)
    assert {p.name for p in run.exports} == {"tiers.csv", "tiers.parquet"}
    assert (run.path / "result" / "result.json").is_file()  # the one computed result, stored
    index = run.index.read_text(encoding="utf-8")
    for name in REPORTS:
        assert f'href="{name}.html"' in index
    assert run.fingerprint.startswith("sha256:") and run.fingerprint in index
    assert os.readlink(run.path.parent / "latest") == "2024-12-31"


def test_no_external_url_in_any_src_or_href(run):
    for page in [*pages(run), run.path.parent / "latest.html"]:
        text = page.read_text(encoding="utf-8")
        refs = re.findall(r"""(?:src|href)\s*=\s*["']?([^"'\s>]+)""", text, flags=re.I)
        assert refs, page
        bad = [r for r in refs if re.match(r"(https?:)?//", r, flags=re.I)]
        assert not bad, (page.name, bad[:5])
        assert not re.search(r"https?://", text), page.name


def test_failing_notebook_leaves_the_previous_run_intact(run, tmp_path):
    """A copy of the real notebooks with one broken cell, run over the good run's date."""
    import nbformat

    notebooks = tmp_path / "notebooks"
    shutil.copytree(notebooks_dir(), notebooks)
    broken = notebooks / "03_tiers.ipynb"
    nb = nbformat.read(broken, as_version=4)
    nb.cells.insert(3, nbformat.v4.new_code_cell("raise RuntimeError('deliberately broken')"))
    nbformat.write(nb, broken)
    before = {p.name: p.read_bytes() for p in run.path.iterdir()}
    from clvkit.report import ReportError

    with pytest.raises(ReportError, match=r"notebook 03_tiers\.ipynb, cell 4 .*deliberately broken"):
        run_report(small_params(tmp_path), out=run.path.parents[1], run_date="2024-12-31",
                   notebooks_dir=notebooks, only="03_tiers", export=False)
    assert {p.name: p.read_bytes() for p in run.path.iterdir()} == before
    assert os.readlink(run.path.parent / "latest") == "2024-12-31"
    assert (run.path.parent / "failed" / "2024-12-31" / "03_tiers.ipynb").exists()


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        if os.environ.get("CLVKIT_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{CHROMIUM} is missing but CLVKIT_REQUIRE_BROWSER=1: apt-get install chromium")
        pytest.skip(f"{CHROMIUM} not installed (CI installs it and sets CLVKIT_REQUIRE_BROWSER=1)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


def open_page(browser, path: Path):
    """Open ``path``; return (page, console errors, requests that left file://)."""
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    errors, outside = [], []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: outside.append(r.url)
            if not r.url.startswith(("file://", "data:", "about:")) else None)
    page.route(re.compile(r"^(?!file:|data:|about:).*"), lambda route: route.abort())
    page.goto(path.as_uri(), wait_until="load")
    return page, errors, outside


@pytest.mark.browser
@pytest.mark.parametrize("name", ["index", *REPORTS])
def test_report_opens_cleanly_in_chromium(run, browser, name, tmp_path):
    path = run.index if name == "index" else run.path / f"{name}.html"
    page, errors, outside = open_page(browser, path)
    try:
        assert errors == [] and outside == []
        images = page.eval_on_selector_all(
            "img", "els => els.map(e => [e.complete, e.naturalWidth])")
        assert all(done and width > 0 for done, width in images), images
        if name != "index":
            assert len(images) >= 1
            # no code: no code-cell input area, no prompts
            assert page.locator(".jp-CodeCell .jp-InputArea").count() == 0
            assert page.locator(".jp-InputPrompt:visible, .jp-OutputPrompt:visible").count() == 0
        shots = [tmp_path / f"{name}.png"]
        if os.environ.get("CLVKIT_SCREENSHOTS"):
            shots.append(Path(os.environ["CLVKIT_SCREENSHOTS"]) / f"{name}.png")
        for shot in shots:
            shot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(shot))
            assert shot.stat().st_size > 5_000
    finally:
        page.close()


@pytest.mark.browser
def test_executive_summary_is_above_the_fold(run, browser):
    page, errors, _ = open_page(browser, run.path / "05_case_study.html")
    try:
        heading = page.get_by_role("heading", name="Executive summary")
        first_point = page.locator("h2:has-text('Executive summary') ~ * li, .jp-Cell li").first
        assert heading.is_visible() and first_point.is_visible()
        viewport = page.viewport_size
        for el in (heading, first_point):
            box = el.bounding_box()
            assert box is not None and 0 <= box["y"] and box["y"] + box["height"] <= viewport["height"], box
    finally:
        page.close()
