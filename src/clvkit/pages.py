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
           "page", "print_header", "stylesheet", "todo"]

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


# ------------------------------------------------------------------------ summary and appendix
def format_kpi(value, kind: str, *, language: str, currency: str = "") -> str:
    """A KPI value as its tile shows it (``21.9万`` / ``219,334``, ``41%``, ``4.25``, ``+30``)."""
    if value is None:
        return "–"
    if kind == "money":
        return i18n.compact(value, language=language)
    if kind == "share":
        return i18n.percent(value, language=language)
    if kind == "csat":
        return i18n.number(value, digits=2, language=language)
    if kind == "nps":
        return i18n.number(value, digits=0, language=language)
    if kind == "effect":
        text = i18n.number(value, digits=1, language=language)
        return text if text.startswith("-") or text == "–" else "+" + text
    return i18n.number(value, language=language)


def _change(k, *, language: str, previous_date: str | None) -> str:
    tr = i18n.translator(language)
    if k.change is None:
        return f'<div class="change">{_esc(tr("kpi.no_previous"))}</div>' if previous_date else ""
    delta = k.change
    if k.kind == "share":
        text = f"{delta * 100:+.1f} pp"
    elif k.kind == "money":
        text = i18n.compact(delta, language=language, signed=True)
    else:
        text = format_kpi(delta, "effect" if k.kind not in ("count",) else "count", language=language)
        text = text if text.startswith(("+", "-")) else ("+" + text if delta >= 0 else text)
    cls = "up" if delta > 0 else ("down" if delta < 0 else "")
    return (f'<div class="change {cls}">'
            f'{_esc(tr("kpi.change", change=text, date=previous_date or ""))}</div>')


def kpi_tiles(items, *, language: str, currency: str, previous_date: str | None) -> str:
    """The KPI tiles (value, 95 % interval, change, per-tier lines) as HTML."""
    tr = i18n.translator(language)
    tiles = []
    for k in items:
        value = _esc(format_kpi(k.value, k.kind, language=language, currency=currency))
        if k.kind == "money":
            value += f' <span class="unit">{_esc(currency)}</span>'
        elif k.parts:
            value += f' <span class="unit tier">{_esc(k.parts[0][0])}</span>'
        interval = ""
        if k.low is not None and k.high is not None:
            interval = (f'<div class="interval">' + _esc(tr(
                "kpi.interval", low=format_kpi(k.low, k.kind, language=language),
                high=format_kpi(k.high, k.kind, language=language))) + "</div>")
        parts = ""
        if k.parts:
            parts = "<div class=\"interval\">" + " · ".join(
                f'<span class="tier">{_esc(t)}</span> {_esc(format_kpi(v, k.kind, language=language))}'
                for t, v, _, _ in k.parts[1:]) + "</div>"
        tiles.append(f'<div class="kpi" data-kpi="{_esc(k.key)}" data-value="{k.value!r}">'
                     f'<div class="label">{_esc(k.label)}</div>'
                     f'<div class="value">{value}</div>{interval}{parts}'
                     f'{_change(k, language=language, previous_date=previous_date)}'
                     + (f'<div class="note">{_esc(k.note)}</div>' if k.note else "") + "</div>")
    missing = ("" if previous_date else
               f'<p class="meta">{_esc(tr("kpi.no_previous_run"))}</p>')
    return '<section class="kpis" aria-label="KPIs">' + "".join(tiles) + "</section>" + missing


def decisions_table(frame, *, language: str, currency: str, counts: bool = False) -> str:
    """One decision per tier as an HTML table (tier order as given); ``counts``: data without
    amounts, where value and value at risk are expected purchases (``briefing.decisions``)."""
    tr = i18n.translator(language)
    has_cost = "cost" in frame and frame["cost"].notna().any()
    heads = [tr("col.tier"), tr("col.customers"),
             tr("col.value_counts") if counts else tr("col.value", currency=currency),
             tr("col.at_risk_counts") if counts else tr("col.at_risk", currency=currency),
             tr("col.action")]
    if has_cost:
        per = frame["cost"].sum() / max(frame.loc[frame["cost"].notna(), "customers"].sum(), 1)
        heads.append(tr("col.cost", currency=currency, per=i18n.number(per, digits=2).rstrip("0").rstrip(".")))
    rows = []
    for _, r in frame.iterrows():
        cells = [f'<td class="tier">{_esc(r["tier"])}</td>',
                 f'<td>{_esc(i18n.number(r["customers"]))}</td>',
                 f'<td>{_esc(i18n.number(r["value"]))}</td>',
                 f'<td>{_esc(i18n.number(r["at_risk"]))}</td>',
                 f'<td>{_esc(r["action"])}</td>']
        if has_cost:
            cells.append(f'<td>{_esc(i18n.number(r["cost"]))}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    head = "".join(f"<th>{_esc(h)}</th>" for h in heads)
    return (f'<div class="jp-OutputArea-output"><table class="decisions"><thead><tr>{head}</tr>'
            f'</thead><tbody>{"".join(rows)}</tbody></table></div>')


def _data_age_line(info, tr) -> str:
    """A prominent line when the data end well before the run (a historical data set, or a
    stale export): leaders must not read old numbers as today's."""
    from clvkit.display import data_age

    age = data_age(info.observation_end, info.run_date)
    if age is None:
        return ""
    n, unit = age
    text = tr("summary.data_age", end=f"{info.observation_end:%Y-%m-%d}",
              age=tr(f"unit.{unit}_n", n=n))
    return caveat(text, language=tr.keywords.get("language"))


def summary_body(res, *, items, changed, decisions, reports, exports, previous_date,
                 language: str, left_out=()) -> str:
    """The index page's content: the executive summary on the first screen, then the reports.

    Data without amounts get count tiles (``briefing.kpis``) and one line under them saying
    that value in money is left out, and why."""
    tr = i18n.translator(language)
    info = res.info
    counts = not res.config.has_amounts
    h = [f"<h1>{_esc(info.title)}</h1>",
         f'<p class="meta">{_esc(tr("summary.meta", run_date=f"{info.run_date:%Y-%m-%d}", end=f"{info.observation_end:%Y-%m-%d}", source=info.source))}</p>',
         _data_age_line(info, tr),
         kpi_tiles(items, language=language, currency=info.currency, previous_date=previous_date),
         str(omitted(tr("omit.spend.index"))) if counts else "",
         f'<h2 id="what-changed">{_esc(tr("summary.changed"))}</h2>',
         "<p>" + " ".join(_esc(s) for s in changed) + "</p>",
         f'<h2 id="decisions">{_esc(tr("summary.decisions"))}</h2>',
         decisions_table(decisions, language=language, currency=info.currency, counts=counts),
         f'<h2 id="reports">{_esc(tr("summary.reports"))}</h2>',
         '<ul class="reports-list">' + "".join(
             f'<li><a href="{_esc(p.href)}">{_esc(p.title)}</a></li>' for p in reports) + "</ul>"]
    h += [str(omitted(tr(f"omit.report.{stem}"))) for stem in left_out
          if f"omit.report.{stem}" in i18n.keys(language)]
    if exports:
        h.append(f'<h2 id="exports">{_esc(tr("summary.exports"))}</h2><ul>' + "".join(
            f'<li><a href="{_esc(e)}">{_esc(e)}</a></li>' for e in exports) + "</ul>")
    return "\n".join(h)


def appendix_body(facts: dict, config_text: str, *, language: str) -> str:
    """The appendix page: run details and the effective configuration."""
    tr = i18n.translator(language)
    rows = "".join(f"<tr><th>{_esc(k)}</th><td>{_esc(v)}</td></tr>" for k, v in facts.items())
    return (f"<h1>{_esc(tr('appendix.title'))}</h1>"
            f'<h2 id="run">{_esc(tr("appendix.run"))}</h2>'
            f'<div class="jp-OutputArea-output"><table>{rows}</table></div>'
            f'<h2 id="config">{_esc(tr("appendix.config"))}</h2>'
            f'<p class="meta">{_esc(tr("appendix.config_note"))}</p>'
            f"<pre>{_esc(config_text)}</pre>")


def effective_config(cfg) -> str:
    """The effective configuration as YAML (``Config.public_dict``: secrets masked), with file
    paths reduced to their names (no machine path on a page leaders read)."""
    import re as _re

    import yaml

    def clean(v):
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        if isinstance(v, str) and ("/" in v or "\\" in v) and not _re.match(r"^\w+://", v):
            return Path(v).name
        return v

    plain = cfg.public_dict()
    plain.pop("source", None)  # the params file's absolute path
    return yaml.safe_dump(clean(plain), allow_unicode=True, sort_keys=False,
                          default_flow_style=False, width=100)
