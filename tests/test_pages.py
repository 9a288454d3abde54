"""Page layout pieces (clvkit.pages) and the PDF's browser discovery and bundle (clvkit.pdf)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from clvkit import config, pages, pdf
from clvkit.errors import ClvkitError

ROOT = Path(__file__).resolve().parents[1]


def test_nav_lists_summary_reports_and_appendix_with_previous_and_next():
    reports = [pages.Page("01_a.html", "A"), pages.Page("02_b.html", "B")]
    nav = pages.nav_resources(reports, "01_a.html", brand="Shop", run_date="2024-12-31")
    assert [i["href"] for i in nav["nav"]] == ["index.html", "01_a.html", "02_b.html",
                                               "appendix.html"]
    assert nav["prev"]["href"] == "index.html" and nav["next"]["href"] == "02_b.html"
    last = pages.nav_resources(reports, "appendix.html", brand="Shop", run_date="2024-12-31",
                               language="zh")
    assert last["next"] is None and last["nav"][0]["title"] == "摘要"


def test_toc_only_on_long_pages_and_after_the_title():
    sections = "".join(f'<h2 id="s{i}">Section {i}<a class="anchor-link" href="#s{i}">¶</a></h2>'
                       for i in range(5))
    page = f'<div><h1 id="t">Title</h1></div>{sections}'
    out = pages.add_toc(page, label="Contents")
    assert out.index("</h1>") < out.index('<nav class="toc"') < out.index('<h2 id="s0">')
    assert out.count('<li><a href="#s') == 5
    short = '<div><h1 id="t">T</h1></div><h2 id="a">A</h2>'
    assert pages.add_toc(short, label="Contents") == short


def test_boxes_escape_text():
    box = pages.caveat("<script>alert(1)</script>", language="en")
    assert "<script>" not in box and "&lt;script&gt;" in box and 'class="caveat"' in box
    assert "要点" in pages.keypoints(["a"], language="zh")
    assert pages.omitted("x & y") == '<p class="omitted">x &amp; y</p>'


def test_print_header_cannot_end_the_style_block():
    text = pages.print_header('a "quoted" </style><script>', "2024-12-31")
    assert "</style>" not in text and '\\"quoted\\"' in text


def test_a_page_has_its_language_nav_and_the_small_stylesheet():
    nav = pages.nav_resources([], "index.html", brand="店", run_date="2024-12-31", language="zh")
    html = pages.page("标题", "<h1>标题</h1>", language="zh", nav=nav)
    assert '<html lang="zh-CN">' in html and 'class="clvkit-nav"' in html
    assert "@page" in html and "@media print" in html and len(html) < 20_000


def test_effective_config_hides_machine_paths_and_passwords(tmp_path):
    cfg = config.Config.from_dict({
        "scenario": "x", "data": {"source": "files", "transactions": {
            "url": "postgresql://me:s3cret@db.example/shop", "table": "orders"}},
        "satisfaction": {"enabled": False}, "impact": {"enabled": False}},
        source=tmp_path / "x.yaml")
    text = pages.effective_config(cfg)
    assert "s3cret" not in text and "me:***@db.example" in text
    assert str(tmp_path) not in text


@pytest.mark.parametrize("value, kind, lang, shown", [
    (219334.0, "money", "zh", "21.9万"), (0.581, "share", "en", "58%"), (4.421, "csat", "en", "4.42"),
    (30.1, "effect", "en", "+30.1"), (-2.0, "effect", "en", "-2.0"), (float("nan"), "count", "en", "–")])
def test_kpi_values_are_formatted_per_kind(value, kind, lang, shown):
    assert pages.format_kpi(value, kind, language=lang) == shown


def test_no_browser_is_one_clear_error(monkeypatch):
    monkeypatch.setenv("CLVKIT_CHROMIUM", "/nonexistent/chromium")
    monkeypatch.setattr(pdf, "CHROMIUM", "/nonexistent/chromium-too")
    monkeypatch.setattr(pdf.shutil, "which", lambda name: None)
    with pytest.raises(pdf.PdfError, match=r"no Chromium browser found .*apt-get install "
                                           r"chromium.*without --pdf") as e:
        pdf.chromium_path()
    assert isinstance(e.value, ClvkitError) and "\n" not in str(e.value)


def test_bundle_joins_the_pages_after_page_breaks(tmp_path):
    for name, body in (("index.html", "<h1>Sum</h1>"), ("01_a.html", "<h1>A</h1>")):
        (tmp_path / name).write_text(pages.page(name, body, nav=pages.nav_resources(
            [pages.Page("01_a.html", "A")], name, brand="b", run_date="2024-12-31")),
            encoding="utf-8")
    out = pdf.bundle([tmp_path / "index.html", tmp_path / "01_a.html"], tmp_path / "all.html")
    text = out.read_text(encoding="utf-8")
    assert text.count("<main") == 1 and text.count('class="page-break"') == 1
    assert "<nav class=\"clvkit-pager\"" not in text and text.index("Sum") < text.index(">A<")


@pytest.mark.browser
def test_a_pdf_is_printed_with_the_system_chromium(tmp_path):
    if not Path(pdf.CHROMIUM).exists() and os.environ.get("CLVKIT_REQUIRE_BROWSER") != "1":
        pytest.skip("no Chromium")
    page = tmp_path / "index.html"
    page.write_text(pages.page("t", "<h1>客户价值 value</h1><p>text</p>", language="zh"),
                    encoding="utf-8")
    out = pdf.write_pdf([page], tmp_path / "x.pdf")
    assert out.read_bytes().startswith(b"%PDF") and (tmp_path / "report-all.html").exists()


def test_report_pdf_without_a_browser_fails_before_running_anything(monkeypatch, tmp_path):
    from clvkit import cli

    monkeypatch.setenv("CLVKIT_CHROMIUM", "/nonexistent/chromium")
    monkeypatch.setattr(pdf, "CHROMIUM", "/nonexistent/chromium-too")
    monkeypatch.setattr(pdf.shutil, "which", lambda name: None)
    code = cli.main(["report", str(ROOT / "params" / "cdnow.yaml"), "--pdf",
                     "--out", str(tmp_path)])
    assert code == 2 and not (tmp_path / "cdnow").exists()


def test_index_says_how_old_historical_data_are():
    from types import SimpleNamespace

    import pandas as pd

    from clvkit import i18n, pages
    from clvkit.display import data_age

    assert data_age("1998-06-30", "2024-12-31") == (27, "Y")
    assert data_age("2024-11-01", "2024-12-31") == (2, "M")
    assert data_age("2024-12-01", "2024-12-31") == (30, "D")
    old = SimpleNamespace(observation_end=pd.Timestamp("1998-06-30"),
                          run_date=pd.Timestamp("2024-12-31"))
    en = pages._data_age_line(old, i18n.translator("en"))
    assert "The data end on 1998-06-30, 27 years before this run" in en and 'class="caveat"' in en
    assert "数据截至 1998-06-30，比本次运行早 27年" in pages._data_age_line(old, i18n.translator("zh"))
    fresh = SimpleNamespace(observation_end=pd.Timestamp("2024-12-31"),
                            run_date=pd.Timestamp("2025-01-02"))
    assert pages._data_age_line(fresh, i18n.translator("en")) == ""
