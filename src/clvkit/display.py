"""Tables for the HTML reports: one look for every number a reader sees.

The report notebooks show analysis results to people who never open a notebook. A raw
DataFrame prints ``0.603764`` and ``132426.028105``, a 0..n index and snake_case headers; the
functions here turn a result into a pandas ``Styler`` with consistent formats instead, so the
notebooks only choose *which* columns to show and stay logic-free:

* thousands separators everywhere (``132,426``), a fixed number of decimals per column;
* shares as percentages (``60.4%``), money in whole units when the amounts are large;
* dates as ``YYYY-MM-DD``, booleans as yes/no, missing values as an en dash;
* readable headers (``clv_at_risk`` -> "CLV at risk"), text left-aligned, the index hidden;
* identifiers (``customer_id``, ``*_id``) as they are: ``1981``, not ``1,981``.

Formatting only: nothing here computes a statistic, and the full unformatted tables stay in the
run's CSV exports.

Untrusted text is inert: titles, currencies, file names, column labels and tier labels come from
the user's params and data, so everything these helpers put into HTML -- cells, headers, index,
captions -- goes through one function, :func:`escape`, and text put into Markdown through
:func:`escape_markdown` (HTML-escaped, then Markdown's punctuation backslash-escaped, so neither
``<script>`` nor ``[link](javascript:...)`` survives). :func:`markdown` fills a template with
escaped values; :func:`byline` is the line under each report's title.
"""
from __future__ import annotations

import datetime as _dt
import html
import math
import re
import numbers
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from clvkit import i18n

from clvkit.models.registry import MODELS

__all__ = ["MODEL_NAMES", "byline", "data_through", "definitions", "escape", "escape_markdown",
           "format_value", "header", "is_id", "largest", "markdown", "table"]

#: Shown for a missing value (NaN, NA, NaT, None).
MISSING = "–"
#: Words written in capitals (or otherwise) in headers; the rest is lower case with spaces.
WORDS = {"clv": "CLV", "aic": "AIC", "bic": "BIC", "mae": "MAE", "rmse": "RMSE", "nps": "NPS",
         "csat": "CSAT", "smd": "SMD", "rfm": "RFM", "id": "ID", "se": "std. error"}


def escape(value) -> str:
    """``value`` as text safe inside HTML (``<``, ``>``, ``&`` and quotes escaped)."""
    return html.escape(str(value), quote=True)


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~$<>])")


def escape_markdown(value) -> str:
    """``value`` as literal text inside Markdown: HTML-escaped, Markdown punctuation escaped."""
    return _MD_SPECIAL.sub(r"\\\1", escape(value).replace("\n", " "))


def markdown(template: str, /, **values):
    """``IPython.display.Markdown`` of ``template.format(**values)`` with every value escaped
    (:func:`escape_markdown`); the template itself is trusted Markdown written by clvkit.

    Numbers keep their format spec: ``markdown("**{n:,}** rows", n=1234)``.
    """
    from IPython.display import Markdown

    safe = {k: v if isinstance(v, numbers.Number) and not isinstance(v, bool)
            else _Escaped(v) for k, v in values.items()}
    return Markdown(template.format(**safe))


class _Escaped:
    """A value that formats (with any format spec) and then escapes itself for Markdown."""

    def __init__(self, value):
        self.value = value

    def __format__(self, spec):
        return escape_markdown(format(self.value, spec))


def byline(title, source, observation_end, run_date=None):
    """The line under a report's title: scenario title, data source, observation end and run
    date, every part escaped."""
    run = pd.Timestamp(run_date or "today")
    return markdown("**{title}** · {source} · observation end {end:%Y-%m-%d} · run {run:%Y-%m-%d}",
                    title=title, source=source, end=pd.Timestamp(observation_end), run=run)


def header(name) -> str:
    """A readable column header: ``p_alive_mean`` -> "P(alive) mean", ``clv_at_risk`` ->
    "CLV at risk"; names that are not plain snake_case (``"7+"``, ``"VIP客户"``) are kept."""
    text = str(name)
    if text != text.lower() or " " in text:
        return text
    text = text.replace("p_alive", "P(alive)")
    return " ".join(WORDS.get(word, word) for word in text.split("_") if word)


def _yes_no(value) -> str:
    """yes / no in the report's language (``clvkit.i18n``)."""
    return i18n.t("word.yes" if value else "word.no")


def _is_missing(value) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # lists, arrays: not a scalar, so not "missing"
        return False


def format_value(value, *, digits: int = 2) -> str:
    """One value as the reports print it (dates ``YYYY-MM-DD``, ``1,234.57``, yes/no, –).

    Integers get thousands separators and no decimals, floats ``digits`` decimals (a float that
    is a whole number prints as an integer), timestamps their date when the time is midnight.
    """
    if value is None or _is_missing(value):
        return MISSING
    if isinstance(value, (bool, np.bool_)):
        return _yes_no(value)
    if isinstance(value, pd.Timestamp | _dt.datetime):
        stamp = pd.Timestamp(value)
        return f"{stamp:%Y-%m-%d}" if stamp == stamp.normalize() else f"{stamp:%Y-%m-%d %H:%M}"
    if isinstance(value, _dt.date):
        return value.isoformat()
    if isinstance(value, pd.Timedelta):
        return f"{value / pd.Timedelta(days=1):,.{digits}f} days"
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}"
    if isinstance(value, numbers.Real):
        v = float(value)
        if math.isfinite(v) and v == round(v) and abs(v) < 1e15:
            return f"{int(round(v)):,}"
        return f"{v:,.{digits}f}"
    return str(value)


def _money_format(values: pd.Series) -> str:
    """Whole currency units when the typical amount is at least 1,000, else cents."""
    finite = pd.to_numeric(values, errors="coerce").abs().dropna()
    whole = len(finite) > 0 and float(finite.median()) >= 1000
    return "{:,.0f}" if whole else "{:,.2f}"


def is_id(name) -> bool:
    """True for an identifier column (``customer_id``, ``id``, ``order_id``): its integers are
    labels, shown as they are (``1981``), never with thousands separators."""
    text = str(name).lower()
    return text == "id" or text.endswith("_id")


def _formatter(column: pd.Series, *, percent: bool, money: bool, integer: bool, digits: int):
    dtype = column.dtype
    if is_id(column.name) and not (percent or money or integer):
        return lambda v: MISSING if _is_missing(v) else str(v)
    if percent:
        return "{:.1%}"
    if money:
        return _money_format(column)
    if integer:
        return "{:,.0f}"
    if pd.api.types.is_bool_dtype(dtype):
        return _yes_no
    if pd.api.types.is_integer_dtype(dtype):
        return "{:,}"
    if pd.api.types.is_float_dtype(dtype):
        return f"{{:,.{digits}f}}"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return lambda v: format_value(v, digits=digits)
    return lambda v: format_value(v, digits=digits)


def _as_list(names) -> list:
    if names is None:
        return []
    if isinstance(names, str):
        return [names]
    return list(names)


def table(frame, *, columns: Mapping | Iterable | None = None, percent=(), money=(), integer=(),
          digits: int = 2, index: bool = False, caption: str | None = None,
          max_rows: int | None = None):
    """A result table formatted for a report: a pandas ``Styler`` that notebooks display.

    Parameters
    ----------
    frame : DataFrame or Series
        The result to show, unchanged by this function (a copy is formatted).
    columns : list or dict, optional
        The columns to show, in this order; a dict also renames them (``{"clv_total":
        "future value"}``). Default: every column, headers made readable by :func:`header`.
    percent, money, integer : column name or list of names
        Shares (fractions, ``0.604`` -> ``60.4%``); amounts of money (thousands separators;
        whole units when the column's median is at least 1,000, else two decimals); floats
        that count things (``4,500``). Names refer to ``frame``'s columns (before renaming).
    digits : int
        Decimals of the other float columns.
    index : bool
        Show the index. When False, a meaningful index (named, or not the default 0..n) becomes
        the first column instead, so no information is lost; the 0..n counter is never shown.
    caption : str, optional
        A caption above the table.
    max_rows : int, optional
        Show only the first ``max_rows`` rows (the caption says so).

    Returns
    -------
    pandas.io.formats.style.Styler
        Displays as an HTML table in a notebook; ``.to_html()`` gives the HTML.

    Raises
    ------
    KeyError
        When ``columns``, ``percent``, ``money`` or ``integer`` names a column that is not in
        ``frame`` (the message lists the columns there are).
    """
    data = frame.to_frame() if isinstance(frame, pd.Series) else frame.copy()
    if not index and not (isinstance(data.index, pd.RangeIndex) and data.index.name is None
                          and data.index.start == 0 and data.index.step == 1):
        data = data.reset_index()
    chosen = _as_list(columns) if not isinstance(columns, Mapping) else list(columns)
    named = {"columns": chosen, "percent": _as_list(percent), "money": _as_list(money),
             "integer": _as_list(integer)}
    for what, names in named.items():
        missing = [n for n in names if n not in data.columns]
        if missing:
            raise KeyError(f"table({what}=...): no column {', '.join(map(repr, missing))}; "
                           f"the table has {', '.join(map(str, data.columns))}")
    if chosen:
        data = data[chosen]
    # the axes' names are printed raw by the Styler (its escaping covers labels only)
    data = data.rename_axis(index=[None if n is None else escape(str(n)) for n in data.index.names],
                            columns=[None if n is None else escape(str(n))
                                     for n in data.columns.names])
    total = len(data)
    if max_rows is not None and total > max_rows:
        data = data.head(max_rows)
        note = i18n.t("table.first_rows", n=f"{max_rows:,}", total=f"{total:,}")
        caption = f"{caption} ({note})" if caption else note[:1].upper() + note[1:]
    formats = {col: _escaped(_formatter(data[col], percent=col in named["percent"],
                                        money=col in named["money"],
                                        integer=col in named["integer"], digits=digits))
               for col in data.columns}
    text_cols = [col for col in data.columns
                 if not (pd.api.types.is_numeric_dtype(data[col].dtype)
                         or pd.api.types.is_datetime64_any_dtype(data[col].dtype))
                 or pd.api.types.is_bool_dtype(data[col].dtype)]
    labels = dict(columns) if isinstance(columns, Mapping) else {}
    styler = (data.style.format(formats, na_rep=MISSING)
              .format_index(lambda c: escape(labels.get(c, header(c))), axis="columns"))
    if not index:
        styler = styler.hide(axis="index")
    else:
        show = str if is_id(data.index.name) else (lambda v: format_value(v, digits=digits))
        styler = styler.format_index(lambda v: escape(show(v)), axis="index")
    if text_cols:
        styler = styler.set_properties(subset=text_cols, **{"text-align": "left"})
    styles = [{"selector": "th.col_heading", "props": "text-align: right; vertical-align: bottom;"}]
    styles += [{"selector": f"th.col_heading.col{data.columns.get_loc(c)}",
                "props": "text-align: left;"} for c in text_cols]
    styler = styler.set_table_styles(styles, overwrite=False)
    if caption:
        styler = styler.set_caption(escape(caption))
    return styler


def _escaped(formatter):
    """A formatter (format string or callable) whose output is escaped for HTML."""
    if isinstance(formatter, str):
        return lambda v, f=formatter: escape(f.format(v))
    return lambda v, f=formatter: escape(f(v))


def definitions(mapping, *, term: str = "term", meaning: str = "definition", digits: int = 2,
                caption: str | None = None):
    """A dict of definitions (or any name -> value mapping) as a two-column table.

    Used for the method section of a report (``ImpactResult.definitions``, the analysis
    windows, model settings): keys in the first column, values formatted by
    :func:`format_value` (dates as ``YYYY-MM-DD``, numbers with separators) in the second.

    Parameters
    ----------
    mapping : Mapping or Series
        Names to values; the order is kept.
    term, meaning : str
        The two column headers; with both empty the table has no header row.
    digits : int
        Decimals of float values.
    caption : str, optional
        A caption above the table.

    Returns
    -------
    pandas.io.formats.style.Styler
    """
    items = list(mapping.items())
    # positional columns, so equal (or empty) headers cannot collide; headers set for display
    frame = pd.DataFrame({0: [str(k) for k, _ in items],
                          1: [format_value(v, digits=digits) for _, v in items]}, dtype=object)
    styler = (frame.style.format(escape).hide(axis="index")
              .format_index(lambda c: escape({0: term, 1: meaning}[c]), axis="columns")
              .set_properties(**{"text-align": "left", "white-space": "normal"})
              .set_properties(subset=[0], **{"font-weight": "bold"})
              .set_table_styles([{"selector": "th", "props": "text-align: left;"}]))
    if not (term or meaning):
        styler = styler.hide(axis="columns")
    if caption:
        styler = styler.set_caption(escape(caption))
    return styler


#: Report names of the models, by params key and by class name (from ``clvkit.models.registry``).
MODEL_NAMES = {**{key: spec.name for key, spec in MODELS.items()},
               **{spec.cls.__name__: spec.name for spec in MODELS.values()}}


def largest(counts: pd.Series, *, what: str, of: str = "customers") -> str:
    """A title stating the largest group of a count series: ``"Dormant is the largest lifecycle
    stage: 2,314 of 5,000 customers (46%)"``; ties name the first in the series' order."""
    counts = pd.Series(counts).fillna(0)
    total = float(counts.sum())
    if counts.empty or total <= 0:
        return f"No {of} in any {what}"
    name, n = str(counts.idxmax()), float(counts.max())
    return f"{name[:1].upper()}{name[1:]} is the largest {what}: {n:,.0f} of {total:,.0f} {of} " \
           f"({n / total:.0%})"


def data_through(end, run_date=None) -> str:
    """The sentence a report leads with: ``"Data through 2010-12-20."``, plus how old the data
    are when the run date is more than a week later (a historical data set, or a stale export):
    ``"Data through 2010-12-20: 16 years before this run (2026-12-01)."``.

    Parameters
    ----------
    end : date-like
        The last day of the data (the observation end).
    run_date : date-like, optional
        The run's date; None states the end alone.

    Examples
    --------
    >>> data_through("2024-12-31", "2025-01-02")
    'Data through 2024-12-31.'
    >>> data_through("2024-12-31", "2025-03-01")
    'Data through 2024-12-31: 2 months before this run (2025-03-01).'
    """
    end = pd.Timestamp(end).normalize()
    if run_date is None:
        return f"Data through {end:%Y-%m-%d}."
    run = pd.Timestamp(run_date).normalize()
    days = (run - end).days
    if days < 0:
        return f"Data through {end:%Y-%m-%d}, after this run's date ({run:%Y-%m-%d})."
    age = data_age(end, run)
    if age is None:
        return f"Data through {end:%Y-%m-%d}."
    n, unit = age
    words = {"D": "days", "M": "months", "Y": "years"}[unit]
    return f"Data through {end:%Y-%m-%d}: {n} {words} before this run ({run:%Y-%m-%d})."


def data_age(end, run_date) -> tuple[int, str] | None:
    """How long before the run the data end, as ``(count, unit)`` with unit ``D``, ``M`` or
    ``Y`` (days under 60, months under two years, else years); None within a week (or when the
    data end after the run date). For the "data through" line in any language.

    >>> data_age("1998-06-30", "2024-12-31"), data_age("2024-12-31", "2025-01-02")
    ((27, 'Y'), None)
    """
    days = (pd.Timestamp(run_date).normalize() - pd.Timestamp(end).normalize()).days
    if days <= 7:
        return None
    if days < 60:
        return days, "D"
    if days < 730:
        return round(days / 30.436875), "M"
    return round(days / 365.2425), "Y"
