"""The real report notebooks, run once per scenario through run_report (retail and retail_zh on
1,500 simulated customers, cdnow on the real data), then opened in headless Chromium at 1280
and 390 px: no console errors, no dialogs, nothing fetched from outside file://, no horizontal
overflow, every chart image at least 1.5× its displayed width, every link resolving, the key
points and KPI tiles on the first screen, Chinese pages in Chinese. The summary's KPI numbers
are compared with clvkit.briefing's for the same stored result. Screenshots go to the test's
tmp folder (and to $CLVKIT_SCREENSHOTS when set).

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
SCENARIOS = ("retail", "retail_zh", "cdnow", "visits")
WIDTHS = (1280, 390)
#: Text no reader should ever see: Python warnings and tracebacks, source paths, nan, inf.
FORBIDDEN = re.compile(r"\b\w*(Warning|Error)\b|Traceback|site-packages|\.py\b|/src/clvkit|"
                       r"\bnan\b|\binf\b|\bNaN\b|\bNone\b")


def scenario_params(folder: Path, name: str) -> Path:
    """A shipped scenario; the simulated ones with 1,500 customers and 200 bootstrap draws.
    ``visits``: a log without amounts (customer id and date of 500 simulated customers), with
    the minimal params (scenario and transactions, ``amount: null``)."""
    if name == "visits":
        from clvkit.datasets import simulate

        tx = simulate(500, 7, start="2023-01-01", observation_end="2024-12-31",
                      programme=False).transactions
        tx[["customer_id", "date"]].to_csv(folder / "visits.csv", index=False)
        path = folder / "visits.yaml"
        path.write_text("scenario: visits\ndata:\n  source: files\n  transactions: "
                        "{path: visits.csv, amount: null}\n", encoding="utf-8")
        return path
    params = yaml.safe_load((ROOT / "params" / f"{name}.yaml").read_text(encoding="utf-8"))
    if params["data"]["source"] == "simulate":
        params["data"]["simulate"]["customers"] = 1500
        params["impact"]["n_boot"] = 200
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")
    return path


def small_params(folder: Path) -> Path:
    return scenario_params(folder, "retail")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("browser")


@pytest.fixture(scope="module")
def runs(folder):
    """One report run per scenario, made on first use and shared by every test here."""
    done = {}

    def get(name):
        if name not in done:
            done[name] = run_report(scenario_params(folder, name), out=folder / "reports",
                                    run_date="2024-12-31", pdf=name == "retail_zh")
        return done[name]
    return get


@pytest.fixture(scope="module")
def run(runs):
    return runs("retail")


def pages(run):
    return [run.index, run.path / "appendix.html", *run.reports]


def visible_text(html: str) -> str:
    html = re.sub(r"<(style|script)\b.*?</\1>", " ", html, flags=re.S | re.I)
    return re.sub(r"<[^>]+>", " ", html)


def test_the_real_notebooks_produce_five_reports_the_index_and_the_export(run):
    assert [p.stem for p in run.reports] == REPORTS
    assert all(p.stat().st_size > 10_000 for p in run.reports)
    assert {p.name for p in run.exports} == {"tiers.csv", "tiers.parquet"}
    assert (run.path / "result" / "result.json").is_file()  # the one computed result, stored
    index = run.index.read_text(encoding="utf-8")
    for name in REPORTS:
        assert f'href="{name}.html"' in index
    appendix = (run.path / "appendix.html").read_text(encoding="utf-8")
    assert run.fingerprint.startswith("sha256:") and run.fingerprint in appendix
    assert str(ROOT) not in appendix and "/tmp" not in visible_text(appendix)  # no machine path
    assert os.readlink(run.path.parent / "latest") == "2024-12-31"


@pytest.mark.parametrize("name", SCENARIOS)
def test_no_python_warning_source_path_nan_or_inf_in_any_page(runs, name):
    run = runs(name)
    for page in pages(run):
        text = visible_text(page.read_text(encoding="utf-8"))
        hits = [m.group(0) for m in FORBIDDEN.finditer(text)]
        assert not hits, (page.name, hits[:5])


@pytest.mark.parametrize("name", SCENARIOS)
def test_no_external_url_in_any_src_or_href(runs, name):
    run = runs(name)
    for page in [*pages(run), run.path.parent / "latest.html"]:
        text = page.read_text(encoding="utf-8")
        refs = re.findall(r"""(?:src|href)\s*=\s*["']?([^"'\s>]+)""", text, flags=re.I)
        assert refs, page
        bad = [r for r in refs if re.match(r"(https?:)?//", r, flags=re.I)]
        assert not bad, (page.name, bad[:5])
        assert not re.search(r"https?://", text), page.name


def test_pages_are_light_one_small_stylesheet(run):
    for page in pages(run):
        text = page.read_text(encoding="utf-8")
        css = sum(len(m) for m in re.findall(r"<style\b.*?</style>", text, flags=re.S))
        assert css < 40_000, (page.name, css)            # was 264 KB of JupyterLab CSS per page


def test_cdnow_leaves_out_what_it_has_no_data_for(runs):
    run = runs("cdnow")
    assert [p.stem for p in run.reports] == REPORTS[:4]   # no programme: no case study page
    index = visible_text(run.index.read_text(encoding="utf-8"))
    assert "No case study" in index and "Not available" not in index
    sat = (run.path / "04_satisfaction_retention.html").read_text(encoding="utf-8")
    assert sat.count('class="omitted"') == 1 and "Cohort retention" in visible_text(sat)


def test_data_without_amounts_leave_out_every_spend_section(runs):
    from clvkit import i18n

    run = runs("visits")
    assert [p.stem for p in run.reports] == REPORTS[:4]
    text = {p.stem: visible_text(p.read_text(encoding="utf-8")) for p in pages(run)}
    assert i18n.t("omit.spend.index") in text["index"]
    assert i18n.t("omit.spend.clv") in text["02_customer_value"]
    assert "Gamma-Gamma spend model" not in text["02_customer_value"]


def test_chinese_scenario_is_chinese_with_a_pdf_and_a_bom(runs):
    run = runs("retail_zh")
    for page in pages(run):
        text = page.read_text(encoding="utf-8")
        assert '<html lang="zh-CN"' in text, page.name
        h1 = re.search(r"<h1[^>]*>(.*?)</h1>", text, flags=re.S).group(1)
        assert re.search(r"[\u4e00-\u9fff]", h1), (page.name, h1)
    assert (run.path / "tiers.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    tiers = (run.path / "03_tiers.html").read_text(encoding="utf-8")
    assert "重要价值客户" in tiers                          # the rfm8 segments, in Chinese
    pdf = run.path / "retail_zh-2024-12-31.pdf"
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF") and len(re.findall(rb"/Type\s*/Page\b", data)) >= 10


def test_summary_kpis_equal_the_library_numbers(runs):
    from clvkit import briefing
    from clvkit.result import ScenarioResult

    for name in ("retail", "retail_zh", "cdnow", "visits"):
        run = runs(name)
        res = ScenarioResult.load(run.path / "result")
        expected = {k.key: k.value for k in briefing.kpis(res, language=res.config.report.language)}
        shown = dict(re.findall(r'data-kpi="([^"]+)" data-value="([^"]+)"',
                                run.index.read_text(encoding="utf-8")))
        assert set(shown) == set(expected), name
        for key, value in expected.items():
            assert float(shown[key]) == pytest.approx(value, rel=1e-12), (name, key)


def test_a_later_run_shows_changes_and_migration_from_the_previous_good_run(run, tmp_path):
    later = run_report(small_params(tmp_path), out=run.path.parents[1], run_date="2025-01-31",
                       only="03_tiers")
    index = visible_text(later.index.read_text(encoding="utf-8"))
    assert "since 2024-12-31" in index and "no earlier" not in index
    tiers = visible_text((later.path / "03_tiers.html").read_text(encoding="utf-8"))
    assert "Tier migration" in tiers and "first run" not in tiers
    assert "Compared with" in visible_text((later.path / "appendix.html").read_text(encoding="utf-8"))


def test_failing_notebook_leaves_the_previous_run_intact(run, tmp_path):
    """A copy of the real notebooks with one broken cell, run over the good run's date."""
    import nbformat

    notebooks = tmp_path / "notebooks"
    shutil.copytree(notebooks_dir(), notebooks)
    broken = notebooks / "03_tiers.ipynb"
    nb = nbformat.read(broken, as_version=4)
    nb.cells.insert(3, nbformat.v4.new_code_cell("raise RuntimeError('deliberately broken')"))
    nbformat.write(nb, broken)
    def files():
        return {p.relative_to(run.path): p.read_bytes() for p in run.path.rglob("*") if p.is_file()}

    before, latest = files(), os.readlink(run.path.parent / "latest")
    from clvkit.report import ReportError

    with pytest.raises(ReportError, match=r"notebook 03_tiers\.ipynb, cell 4 .*deliberately broken"):
        run_report(small_params(tmp_path), out=run.path.parents[1], run_date="2024-12-31",
                   notebooks_dir=notebooks, only="03_tiers", export=False)
    assert files() == before
    assert os.readlink(run.path.parent / "latest") == latest   # untouched by the failed run
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


def open_page(browser, path: Path, width: int = 1280):
    """Open ``path``; return (page, console errors and dialogs, requests that left file://)."""
    page = browser.new_page(viewport={"width": width, "height": 800})
    errors, outside = [], []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("dialog", lambda d: (errors.append(f"dialog: {d.message}"), d.dismiss()))
    page.on("request", lambda r: outside.append(r.url)
            if not r.url.startswith(("file://", "data:", "about:")) else None)
    page.route(re.compile(r"^(?!file:|data:|about:).*"), lambda route: route.abort())
    page.goto(path.as_uri(), wait_until="load")
    return page, errors, outside


CHECK = """() => {
  const doc = document.documentElement;
  const imgs = [...document.images].map(i => ({src: i.currentSrc.slice(0, 30), done: i.complete,
      natural: i.naturalWidth, shown: i.getBoundingClientRect().width, alt: i.alt,
      svg: i.currentSrc.startsWith('data:image/svg')}));
  const links = [...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href'));
  const ids = new Set([...document.querySelectorAll('[id]')].map(e => e.id));
  return {overflow: doc.scrollWidth - doc.clientWidth, imgs, links, ids: [...ids],
          lang: doc.lang, h1: [...document.querySelectorAll('h1')].map(h => h.textContent)};
}"""


@pytest.mark.browser
@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", SCENARIOS)
def test_every_page_opens_cleanly_in_chromium(runs, browser, name, width, tmp_path):
    run = runs(name)
    for path in pages(run):
        page, errors, outside = open_page(browser, path, width)
        try:
            info = page.evaluate(CHECK)
            where = f"{name} {path.name} @{width}px"
            assert errors == [] and outside == [], (where, errors, outside)
            assert info["overflow"] <= 1, (where, "horizontal overflow", info["overflow"])
            for img in info["imgs"]:
                assert img["done"] and img["natural"] > 0, (where, img)
                assert img["svg"] or img["natural"] >= 1.5 * img["shown"], (where, img)
                assert img["alt"] and img["alt"] != "Chart", (where, "alt text", img)
            for href in info["links"]:
                if href.startswith("#"):
                    assert href[1:] in info["ids"], (where, href)
                else:
                    assert (path.parent / href.split("#")[0]).exists(), (where, href)
            assert info["lang"] == ("zh-CN" if name == "retail_zh" else "en"), where
            assert len(info["h1"]) == 1, (where, info["h1"])
            if path in run.reports:
                assert len(info["imgs"]) >= 1, where
                assert page.locator(".jp-CodeCell .jp-InputArea").count() == 0
                # the brand (to the summary), the summary, every report, the run details
                assert page.locator("nav.clvkit-nav a").count() == len(run.reports) + 3
            if width == 1280:
                shots = [tmp_path / f"{name}_{path.stem}.png"]
                if os.environ.get("CLVKIT_SCREENSHOTS"):
                    shots.append(Path(os.environ["CLVKIT_SCREENSHOTS"]) / f"{name}_{path.stem}.png")
                for shot in shots:
                    shot.parent.mkdir(parents=True, exist_ok=True)
                    page.screenshot(path=str(shot))
        finally:
            page.close()


@pytest.mark.browser
@pytest.mark.parametrize("width", WIDTHS)
def test_key_points_and_kpis_are_on_the_first_screen(run, browser, width):
    for path, selector in [(run.index, ".kpi"), *((p, ".keypoints li") for p in run.reports)]:
        page, _, _ = open_page(browser, path, width)
        try:
            first = page.locator(selector).first
            box = first.bounding_box()
            assert box is not None and box["y"] + box["height"] <= 800, (path.name, width, box)
        finally:
            page.close()
