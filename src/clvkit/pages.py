"""The report pages' layout: nbconvert with clvkit's template, nav bar, table of contents, boxes.

Every page of a run shares one look (``templates/clvkit_report/static/clvkit.css``, ~6 KB,
inlined in each page so one e-mailed file still opens offline) and one nav bar: the summary
(index), every report, previous/next. Long reports get a table of contents of their sections.
Notebooks show narrative boxes through the small HTML helpers here (:func:`keypoints`,
:func:`todo`, :func:`caveat`, :func:`omitted`), so a caveat is a styled box in plain words,
never a Python warning.

Nothing here computes a statistic: the sentences come from tested functions (``clvkit.briefing``)
and the words from the catalogues (``clvkit.i18n``).
"""
from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from clvkit import i18n

__all__ = ["Html", "Page", "add_toc", "caveat", "keypoints", "nav_resources", "omitted",
           "print_header", "to_html", "todo"]

TEMPLATE = "clvkit_report"
#: A report with at least this many sections (H2) gets a table of contents.
TOC_MIN_SECTIONS = 4


class Html(str):
    """A piece of HTML that a notebook displays as HTML (``_repr_html_``) and tests read as text."""

    def _repr_html_(self) -> str:
        return str(self)


def _esc(text) -> str:
    return html.escape(str(text), quote=True)


def _items(items: Iterable[str]) -> str:
    return "".join(f"<li>{_esc(s)}</li>" for s in items if s)


def keypoints(sentences: Sequence[str], *, language: str | None = None) -> Html:
    """The key-points box at the top of a report (3–5 sentences with numbers)."""
    title = i18n.t("box.keypoints", language=language)
    return Html(f'<section class="keypoints" aria-label="{_esc(title)}"><h2>{_esc(title)}</h2>'
                f"<ul>{_items(sentences)}</ul></section>")


def todo(actions: Sequence[str], *, language: str | None = None) -> Html:
    """The "what to do" box at the end of a report."""
    title = i18n.t("box.todo", language=language)
    return Html(f'<section class="todo" aria-label="{_esc(title)}"><h2>{_esc(title)}</h2>'
                f"<ul>{_items(actions)}</ul></section>")


def caveat(text: str | Sequence[str], *, language: str | None = None) -> Html:
    """A caveat in plain words, as a styled box (one paragraph per sentence given)."""
    label = i18n.t("box.caveat", language=language)
    parts = [text] if isinstance(text, str) else list(text)
    body = "".join(f"<p>{_esc(p)}</p>" for p in parts if p)
    return Html(f'<div class="caveat" role="note" data-label="{_esc(label)}">{body}</div>')


def omitted(text: str) -> Html:
    """One line saying why a section is left out (instead of a "Not available" page)."""
    return Html(f'<p class="omitted">{_esc(text)}</p>')


@dataclass(frozen=True)
class Page:
    """One page of a run: its file name (``03_tiers.html``) and its title (the H1)."""

    href: str
    title: str


def print_header(title: str, run_date: str, *, language: str = "en") -> str:
    """The printed page header (scenario title and run date) as a CSS string's content."""
    text = i18n.t("print.header", language=language, title=title, run_date=run_date)
    # a CSS string: escape backslash and quote; '<' too, so '</style>' cannot end the block
    return (text.replace("\\", "\\\\").replace('"', '\\"').replace("<", "\\3C ")
            .replace("\n", " "))


def nav_resources(pages: Sequence[Page], current: str | None, *, brand: str, run_date: str,
                  language: str = "en", index: Page | None = None,
                  appendix: Page | None = None) -> dict:
    """What the template needs to draw the nav bar and prev/next links of page ``current``.

    ``pages`` are the reports in order; ``index`` the summary page (first in the nav) and
    ``appendix`` the run details (last; default ``appendix.html``).
    """
    lang = i18n.translator(language)
    first = index or Page("index.html", lang("nav.index"))
    last = appendix or Page("appendix.html", lang("nav.appendix"))
    order = [first, *pages, last]
    names = [p.href for p in order]
    at = names.index(current) if current in names else None
    return {
        "brand": brand, "index_href": first.href,
        "nav": [{"href": p.href, "title": p.title, "current": p.href == current} for p in order],
        "prev": ({"href": order[at - 1].href, "title": order[at - 1].title}
                 if at is not None and at > 0 else None),
        "next": ({"href": order[at + 1].href, "title": order[at + 1].title}
                 if at is not None and at + 1 < len(order) else None),
        "labels": {"previous": lang("nav.previous"), "next": lang("nav.next"),
                   "skip": lang("nav.skip"), "chart": lang("chart.alt_default")},
        "print_header": print_header(brand, run_date, language=language),
    }


_H2 = re.compile(r'<h2 id="([^"]+)">(.*?)(?:<a class="anchor-link"[^>]*>.*?</a>)?</h2>', re.S)


def add_toc(page: str, *, label: str, min_sections: int = TOC_MIN_SECTIONS) -> str:
    """Insert a table of contents of the page's sections after its H1 (when it has enough)."""
    found = [(anchor, re.sub(r"<[^>]+>", "", text).strip()) for anchor, text in _H2.findall(page)]
    found = [(a, t) for a, t in found if t]
    if len(found) < min_sections:
        return page
    links = "".join(f'<li><a href="#{a}">{t}</a></li>' for a, t in found)  # already escaped
    toc = f'<nav class="toc" aria-label="{_esc(label)}"><strong>{_esc(label)}</strong><ol>{links}</ol></nav>'
    end = page.find("</h1>")
    if end < 0:
        return page
    # after the H1's cell (its closing divs), so the box sits between title and first section
    close = page.find("</div>", end)
    at = close + len("</div>") if close >= 0 else end + len("</h1>")
    return page[:at] + toc + page[at:]


def stylesheet() -> str:
    """The shared stylesheet (``templates/clvkit_report/static/clvkit.css``)."""
    path = resources.files("clvkit") / "templates" / TEMPLATE / "static" / "clvkit.css"
    return path.read_text(encoding="utf-8")


def page(title: str, body: str, *, language: str = "en", nav: dict | None = None) -> str:
    """A whole HTML page in the reports' look (for the index and the appendix).

    ``body`` is HTML built by the caller with escaped text; ``title`` is escaped here.
    """
    nav = nav or {}
    bar = pager = ""
    if nav.get("nav"):
        links = "".join(f'<a href="{_esc(i["href"])}"'
                        + (' aria-current="page"' if i["current"] else "")
                        + f'>{_esc(i["title"])}</a>' for i in nav["nav"])
        bar = (f'<a class="skip" href="#content">{_esc(nav["labels"]["skip"])}</a>'
               f'<nav class="clvkit-nav" aria-label="reports"><div class="bar">'
               f'<a class="brand" href="{_esc(nav["index_href"])}">{_esc(nav["brand"])}</a>'
               f'<span class="pages">{links}</span></div></nav>')
        prev, nxt = nav.get("prev"), nav.get("next")
        pager = ('<nav class="clvkit-pager" aria-label="previous and next"><span>'
                 + (f'<a href="{_esc(prev["href"])}" rel="prev">← {_esc(nav["labels"]["previous"])}: '
                    f'{_esc(prev["title"])}</a>' if prev else "")
                 + "</span><span>"
                 + (f'<a href="{_esc(nxt["href"])}" rel="next">{_esc(nav["labels"]["next"])}: '
                    f'{_esc(nxt["title"])} →</a>' if nxt else "")
                 + "</span></nav>")
    header = nav.get("print_header", "")
    return f"""<!DOCTYPE html>
<html lang="{i18n.HTML_LANG[language]}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<meta name="generator" content="clvkit">
<title>{_esc(title)}</title>
<style type="text/css">
{stylesheet()}
@page {{ size: A4; margin: 16mm 14mm 18mm 14mm;
  @top-left {{ content: "{header}"; font-size: 8pt; color: #5f6b7a; }}
  @bottom-right {{ content: counter(page) " / " counter(pages); font-size: 8pt; color: #5f6b7a; }} }}
</style>
</head>
<body class="clvkit">
{bar}
<main id="content">
{body}
{pager}
</main>
</body>
</html>
"""


def to_html(notebook: Path, output: Path, *, language: str = "en", nav: dict | None = None) -> Path:
    """Convert an executed notebook to a self-contained HTML page with the code hidden.

    Parameters
    ----------
    notebook, output : Path
        The executed notebook and the page to write.
    language : {"en", "zh"}
        Sets ``<html lang>`` (``zh-CN`` for Chinese) and the words of the TOC.
    nav : dict, optional
        From :func:`nav_resources`; without it the page has no nav bar.
    """
    import nbformat

    from clvkit.nbexport import ClvkitHTMLExporter

    exporter = ClvkitHTMLExporter(language_code=i18n.HTML_LANG[language])
    nb = nbformat.read(notebook, as_version=4)
    body, _ = exporter.from_notebook_node(
        nb, resources={"metadata": {"name": notebook.stem}, "clvkit": nav or {}})
    body = add_toc(body, label=i18n.t("nav.contents", language=language))
    output.write_text(body, encoding="utf-8")
    return output
