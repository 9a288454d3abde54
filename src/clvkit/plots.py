"""Figures for the reports: one theme, titles that state the finding, labelled axes with units.

Plots only draw. Each function takes a frame that a tested clvkit function computed (a tier
profile, a satisfaction table, a matrix, ...) and ``ax=None``; it draws on ``ax`` (or on a new
figure) and returns the Axes. Titles are passed in by the caller, who knows the finding, or
built from the frame's own fields; nothing here computes a statistic. ``set_theme`` applies the
clvkit look and picks a CJK-capable font (Noto Sans CJK from Debian's ``fonts-noto-cjk`` when
installed) so Chinese tier labels such as ``VIP客户`` render; without one, labels fall back to
DejaVu Sans and CJK characters show as boxes (matplotlib warns about the missing glyphs).

Labels are data, drawn literally: a tier called ``$$$`` or a currency ``US$`` would otherwise be
read as matplotlib mathtext (and crash or garble the figure), so every text a function puts on a
figure -- titles, axis labels, tick labels, legend entries -- goes through :func:`literal`.

matplotlib and seaborn are imported inside the functions, so importing clvkit never needs them.
"""
from __future__ import annotations

import re
from collections.abc import Sequence

#: Fonts tried in order for CJK text; the first one installed is used, with DejaVu Sans behind it.
CJK_FONTS = ("Noto Sans CJK SC", "Noto Sans CJK JP", "Source Han Sans SC", "Source Han Sans CN",
             "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "Microsoft YaHei", "PingFang SC",
             "SimHei", "Arial Unicode MS")
#: The clvkit palette: dark blue, orange, teal, grey, red, green (colour-blind safe order).
PALETTE = ("#1f4e79", "#e07b39", "#2a9d8f", "#8d99ae", "#c0392b", "#6a994e")


def _t(key: str, **fields) -> str:
    """A label in the report language (``clvkit.i18n``; set by the notebook's set-up)."""
    from clvkit import i18n

    return i18n.t(key, **fields)


def literal(text) -> str:
    """``text`` as a string matplotlib draws as is: each ``$`` escaped, so no mathtext."""
    return str(text).replace("$", r"\$")


def _label(ax, **texts):
    """``ax.set`` for title / xlabel / ylabel, each drawn literally."""
    ax.set(**{k: (literal(v) if v is not None else v) for k, v in texts.items()})


#: File names of CJK fonts, to find one installed after matplotlib cached its font list.
CJK_FILES = re.compile(r"(NotoSans|NotoSerif|SourceHanSans|SourceHanSerif)[\w-]*CJK|"
                       r"NotoSansCJK|SourceHan|wqy-|WenQuanYi|msyh|simhei|PingFang|"
                       r"Arial Unicode", re.I)


def cjk_font() -> str | None:
    """The first installed font of :data:`CJK_FONTS`, or None when there is none.

    matplotlib caches its font list once; a CJK font installed later (``apt-get install
    fonts-noto-cjk``) is invisible to it until the cache is purged by hand. When no CJK font is
    in the list but a CJK font file is on the system, the missing files are added to the font
    manager (and the cache is rewritten), so the font is found without a manual purge.
    """
    from matplotlib import font_manager

    manager = font_manager.fontManager
    found = _first_cjk(manager)
    if found is None and _add_uncached_cjk_files(manager):
        found = _first_cjk(manager)
    return found


_ADDED: list[str] = []  # files already added in this process


def _first_cjk(manager) -> str | None:
    installed = {f.name for f in manager.ttflist}
    return next((name for name in CJK_FONTS if name in installed), None)


def _add_uncached_cjk_files(manager) -> list[str]:
    """Add the CJK font files on the system whose fonts the cached list lacks (once a process)."""
    import os

    import matplotlib as mpl
    from matplotlib import font_manager

    if _ADDED:
        return []
    usable = {os.path.realpath(f.fname) for f in manager.ttflist if f.name in CJK_FONTS}
    new = [path for path in font_manager.findSystemFonts()
           if CJK_FILES.search(os.path.basename(path)) and os.path.realpath(path) not in usable]
    _ADDED.extend(new)
    added = []
    for path in new:
        try:
            manager.addfont(path)
            added.append(path)
        except (OSError, RuntimeError, ValueError):  # an unreadable font file: skip it
            continue
    if added:
        try:  # so the next process finds them in the cache
            font_manager.json_dump(manager, os.path.join(
                mpl.get_cachedir(), f"fontlist-v{font_manager.FontManager.__version__}.json"))
        except OSError:
            pass
    return added


def set_theme() -> str | None:
    """Apply the clvkit figure theme (seaborn ``whitegrid``, palette, fonts); return the CJK font.

    Call it once at the top of a notebook. Font fallback is per glyph (matplotlib ≥ 3.6): Latin
    text in the CJK font's Latin glyphs, anything missing from DejaVu Sans.
    """
    import matplotlib as mpl
    import seaborn as sns

    font = cjk_font()
    families = ([font] if font else []) + ["DejaVu Sans"]
    sns.set_theme(style="whitegrid", palette=list(PALETTE), rc={
        "font.family": "sans-serif", "font.sans-serif": families,
        "axes.unicode_minus": False, "axes.titlesize": 13, "axes.titleweight": "bold",
        "axes.titlelocation": "left", "axes.labelsize": 11, "figure.dpi": 100,
        "savefig.dpi": 100, "figure.figsize": (8, 4.2), "axes.spines.top": False,
        "axes.spines.right": False})
    mpl.rcParams["figure.constrained_layout.use"] = True
    _show_sharp_with_alt()
    return font


def describe(fig) -> str:
    """Alt text for a figure: its titles and axis labels (``Chart: <title>. x: …; y: …``)."""
    from clvkit import i18n

    parts = []
    for ax in fig.get_axes():
        title = " ".join(t for t in (ax.get_title("left"), ax.get_title(), ax.get_title("right")) if t)
        if not (title or ax.get_xlabel() or ax.get_ylabel()):
            continue  # colour bars and empty axes
        parts.append(i18n.t("chart.alt", title=title or "–", x=ax.get_xlabel() or "–",
                            y=ax.get_ylabel() or "–"))
    suptitle = fig._suptitle.get_text() if getattr(fig, "_suptitle", None) else ""
    return " ".join(([suptitle] if suptitle else []) + parts) or i18n.t("chart.alt_default")


def figure_png(fig) -> tuple[str, dict] | None:
    """A figure as a 2× PNG (base64) with display size and alt text, for IPython's formatter.

    The PNG has twice the pixels of its displayed size (``width``/``height`` metadata), so it is
    sharp on high-resolution screens and still at least 1.5× its width when a phone shrinks it.
    """
    import base64
    import io
    import struct

    if not fig.get_axes():
        return None
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=2 * fig.dpi, bbox_inches="tight",
                facecolor="white")
    data = buffer.getvalue()
    width, height = struct.unpack(">II", data[16:24])  # the PNG IHDR chunk
    return (base64.b64encode(data).decode("ascii"),
            {"width": width // 2, "height": height // 2, "alt": describe(fig)})


def _show_sharp_with_alt() -> None:
    """In IPython, show figures through :func:`figure_png` (2× PNG with alt text)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None:
        return
    import matplotlib as mpl
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    # load the backend now (matplotlib loads it lazily): the inline backend registers its own
    # PNG formatter when it loads, which would otherwise replace this one at the first figure
    plt.switch_backend(mpl.get_backend())
    shell.display_formatter.formatters["image/png"].for_type(Figure, figure_png)


def _axes(ax, figsize=None):
    """``ax`` itself, or the Axes of a new figure (the only pyplot state clvkit touches)."""
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=figsize)
    return ax


def _need(frame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} needs column(s) {', '.join(missing)}; got {', '.join(map(str, frame.columns))}")


def ledger(table, *, ax=None, title=None):
    """Rows dropped or modified by cleaning, by reason (``clvkit.clean.Ledger.table``)."""
    _need(table, ["reason", "rows", "action"], "ledger")
    ax = _axes(ax, (8, 0.45 * max(len(table), 3) + 1.2))
    colours = [PALETTE[4] if a == "dropped" else PALETTE[1] for a in table["action"]]
    ax.barh([literal(r) for r in table["reason"]], table["rows"], color=colours)
    ax.invert_yaxis()
    for y, (rows, action) in enumerate(zip(table["rows"], table["action"])):
        ax.annotate(f" {rows:,} {_t('plot.' + str(action))}", (rows, y), va="center", fontsize=9)
    nothing = not (table["rows"] > 0).any()
    if nothing:  # no negative axis around an empty chart
        ax.set_xlim(0, 1)
    _label(ax, title=title or (_t("plot.ledger_nothing") if nothing else _t("plot.ledger_title")),
           xlabel=_t("plot.rows"), ylabel="")
    return ax


def histogram(values, *, ax=None, title=None, xlabel, bins=40, log=False, weights=None):
    """The distribution of one per-customer quantity (e.g. ``summary["frequency"]``); with
    ``weights``, ``values`` are bin left edges and ``weights`` their counts (bins counted
    elsewhere, e.g. in Spark)."""
    ax = _axes(ax)
    ax.hist(values, bins=bins, color=PALETTE[0], edgecolor="white", log=log, weights=weights)
    _label(ax, title=title or _t("plot.distribution", what=xlabel), xlabel=xlabel,
           ylabel=_t("plot.customers_log" if log else "plot.customers"))
    return ax


def lines(frame, *, ax=None, title, xlabel, ylabel, styles=None):
    """Each column of ``frame`` as a line over its index (tracking, cohorts over time, ...)."""
    ax = _axes(ax)
    for i, col in enumerate(frame.columns):
        style = (styles or {}).get(col, "-" if i == 0 else "--")
        ax.plot(frame.index, frame[col], style, color=PALETTE[i % len(PALETTE)],
                label=literal(col), linewidth=2)
    ax.legend(frameon=False)
    _label(ax, title=title, xlabel=xlabel, ylabel=ylabel)
    return ax


def grouped_bars(frame, *, ax=None, title, xlabel, ylabel, percent=False):
    """Columns of ``frame`` as side-by-side bars per index label (actual vs model, shares, ...)."""
    ax = _axes(ax)
    n = len(frame.columns)
    width = 0.8 / max(n, 1)
    positions = range(len(frame.index))
    for i, col in enumerate(frame.columns):
        ax.bar([p + (i - (n - 1) / 2) * width for p in positions], frame[col], width,
               label=literal(col), color=PALETTE[i % len(PALETTE)])
    ax.set_xticks(list(positions), [literal(x) for x in frame.index])
    if percent:
        from matplotlib.ticker import PercentFormatter

        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.legend(frameon=False)
    _label(ax, title=title, xlabel=xlabel, ylabel=ylabel)
    return ax


def tier_profile(summary, *, ax=None, title=None):
    """Share of customers against share of CLV (and revenue) per tier (``ProfileResult.summary``).

    The default title reads the top tier's row: "VIP: 10% of customers, 45% of future value".
    """
    _need(summary, ["tier", "customer_share", "clv_share"], "tier_profile")
    cols = {"customer_share": _t("plot.customers"), "clv_share": _t("plot.future_value")}
    if "revenue_share" in summary.columns and summary["revenue_share"].notna().any():
        cols["revenue_share"] = _t("plot.past_revenue")
    frame = summary.set_index("tier")[list(cols)].rename(columns=cols)
    top = summary.iloc[0]
    title = title or _t("plot.tier_profile_title", tier=top["tier"],
                        customers=f"{top['customer_share']:.0%}", value=f"{top['clv_share']:.0%}")
    return grouped_bars(frame, ax=ax, percent=True, xlabel=_t("plot.tier"), ylabel=_t("plot.share_of_total"),
                        title=title)


def intervals(frame, *, value, low, high, label, ax=None, title, xlabel, reference=None):
    """Point estimates with their intervals, one row per label (CSAT by tier, uplifts, ...).

    ``frame`` holds the estimate and interval columns named by ``value``, ``low`` and ``high``
    (e.g. ``csat, csat_low, csat_high`` from ``clvkit.satisfaction.by_group``); rows with no
    estimate are marked "not estimated" rather than dropped. ``reference`` draws a vertical line
    (0 for an uplift).
    """
    _need(frame, [value, low, high, label], "intervals")
    ax = _axes(ax, (8, 0.5 * max(len(frame), 3) + 1.2))
    labels = [literal(x) for x in frame[label]]
    ys = list(range(len(labels)))
    est, lo, hi = (frame[c].astype("float64").to_numpy() for c in (value, low, high))
    ax.hlines(ys, lo, hi, color=PALETTE[0], linewidth=3, alpha=0.6)
    ax.plot(est, ys, "o", color=PALETTE[0], markersize=8)
    for y, e in zip(ys, est):
        if e != e:  # NaN: say so on the chart instead of leaving a silent gap
            ax.annotate(_t("plot.not_estimated"), (0.02, y), xycoords=("axes fraction", "data"), va="center",
                        color=PALETTE[3])
    if reference is not None:
        ax.axvline(reference, color=PALETTE[4], linewidth=1, linestyle="--")
    ax.set_yticks(ys, labels)
    ax.invert_yaxis()
    _label(ax, title=title, xlabel=xlabel, ylabel="")
    return ax


def heatmap(matrix, *, ax=None, title, xlabel, ylabel, colorbar, fmt=".0%", annotate=True,
            cmap="Blues"):
    """A labelled matrix (cohort retention, tier migration, P(alive) by frequency × recency)."""
    import seaborn as sns

    ax = _axes(ax, (9, 0.35 * max(len(matrix), 8) + 1.5))
    matrix = matrix.rename(index=literal, columns=literal)  # tick labels drawn as written
    matrix.index.name, matrix.columns.name = None, None
    sns.heatmap(matrix, ax=ax, cmap=cmap, annot=annotate and matrix.size <= 400, fmt=fmt,
                annot_kws={"fontsize": 8}, cbar_kws={"label": literal(colorbar)},
                linewidths=0.3)
    ax.grid(False)  # no theme grid lines through the blank (missing) cells
    ax.tick_params(axis="y", labelrotation=0)
    _label(ax, title=title, xlabel=xlabel, ylabel=ylabel)
    return ax


def counts(series, *, ax=None, title, xlabel, ylabel=None, order=None):
    """Bars of a count per category (customers per lifecycle stage, per segment, ...)."""
    ax = _axes(ax)
    s = series if order is None else series.reindex(order)
    ax.bar([literal(x) for x in s.index], s.to_numpy(), color=PALETTE[0])
    for x, v in enumerate(s.to_numpy()):
        if v == v:
            ax.annotate(f"{v:,.0f}", (x, v), ha="center", va="bottom", fontsize=9)
    _label(ax, title=title, xlabel=xlabel, ylabel=_t("plot.customers") if ylabel is None else ylabel)
    ax.tick_params(axis="x", labelrotation=20 if len(s) > 6 else 0)
    return ax


def tracking(frame, *, cumulative=False, calibration_end=None, ax=None, title=None,
             unit="week"):
    """Actual vs model-expected repeat transactions over time (``diagnostics.tracking``).

    Draws ``actual``/``expected`` per period (or ``actual_cumulative``/``expected_cumulative``
    with ``cumulative=True``) against ``period_end``; ``calibration_end`` marks where the fit
    stopped, so the part to its right is an out-of-sample check. ``unit`` names the period in the
    axis label ("repeat transactions per week").
    """
    cols = ["actual_cumulative", "expected_cumulative"] if cumulative else ["actual", "expected"]
    _need(frame, ["period_end", *cols], "tracking")
    ax = _axes(ax)
    ax.plot(frame["period_end"], frame[cols[0]], "-", color=PALETTE[0], linewidth=2,
            label=_t("plot.actual"))
    ax.plot(frame["period_end"], frame[cols[1]], "--", color=PALETTE[1], linewidth=2,
            label=_t("plot.expected_by_model"))
    if calibration_end is not None:
        ax.axvline(calibration_end, color=PALETTE[3], linestyle=":", linewidth=1.5,
                   label=_t("plot.calibration_end"))
    ax.legend(frameon=False)
    ylabel = _t("plot.cum_repeat") if cumulative else _t("plot.repeat_per", unit=unit)
    _label(ax, title=title or (_t("plot.cum_repeat_title") if cumulative
                           else _t("plot.repeat_title", unit=unit)),
           xlabel=_t("plot.period_end"), ylabel=ylabel)
    return ax


def calibration_holdout(table, *, ax=None, title=None, holdout=None):
    """Mean actual vs predicted holdout purchases by calibration frequency
    (``diagnostics.calibration_holdout_table``: index = frequency bin, ``actual``, ``predicted``).

    ``holdout`` describes the holdout window for the axis label ("26 weeks").
    """
    _need(table, ["actual", "predicted"], "calibration_holdout")
    ax = _axes(ax)
    xs = list(range(len(table)))
    ax.plot(xs, table["actual"], "o-", color=PALETTE[0], linewidth=2, label=_t("plot.actual"))
    ax.plot(xs, table["predicted"], "s--", color=PALETTE[1], linewidth=2,
            label=_t("plot.predicted"))
    ax.set_xticks(xs, [literal(x) for x in table.index])
    ax.legend(frameon=False)
    _label(ax, title=title or _t("plot.holdout_title"), xlabel=_t("plot.calibration_purchases"),
           ylabel=_t("plot.holdout_mean", holdout=holdout or _t("plot.holdout_period")))
    return ax


def frequency_recency(frame, *, value, ax=None, title, colorbar, fmt=".2f", recency_unit="weeks",
                      cmap="Blues"):
    """A frequency x recency matrix (``diagnostics.frequency_recency_matrix``) as a heatmap.

    The tidy frame (``frequency``, ``recency``, ``value``) is pivoted for drawing only: one row
    per frequency, highest at the top, one column per recency; cells the grid leaves out
    (frequency 0 at recency > 0) stay blank.
    """
    _need(frame, ["frequency", "recency", value], "frequency_recency")
    matrix = frame.pivot(index="frequency", columns="recency", values=value).sort_index(
        ascending=False)
    matrix.columns = [f"{c:g}" for c in matrix.columns]
    ax = _axes(ax, (9, 0.28 * len(matrix) + 1.6))
    return heatmap(matrix, ax=ax, title=title, colorbar=colorbar, fmt=fmt, cmap=cmap,
                   xlabel=_t("plot.recency_axis", unit=recency_unit),
                   ylabel=_t("plot.frequency_axis"))


def effects(frame, *, title, outcome="outcome", value="estimate", low="low", high="high",
            unit="unit", units=None, axes=None):
    """Programme effects in their own units: one small panel per outcome (``ImpactResult.effects``).

    Each panel shows the estimate with its interval on its own x axis, labelled with the
    outcome's unit (``units`` overrides, e.g. ``{"spend": "CNY per customer"}``), a dashed line
    at zero and the estimate written beside the point; an outcome with no estimate says so.
    Outcomes measured on different scales (CSAT points, NPS points, percentage points, money)
    are never forced onto one axis. Returns the list of Axes, one per outcome.
    """
    data = frame.reset_index() if outcome not in frame.columns else frame
    _need(data, [outcome, value, low, high], "effects")
    n = len(data)
    if axes is None:
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(n, 1, figsize=(8, 1.05 * n + 0.9), squeeze=False)
        axes = list(axes[:, 0])
    names = units or {}
    for ax, (_, row) in zip(axes, data.iterrows()):
        est, lo, hi = (float(row[c]) for c in (value, low, high))
        label = names.get(row[outcome]) or (row[unit] if unit in data.columns else "") or ""
        ax.axvline(0, color=PALETTE[4], linewidth=1, linestyle="--")
        if est == est:
            ax.hlines(0, lo, hi, color=PALETTE[0], linewidth=3, alpha=0.6)
            ax.plot([est], [0], "o", color=PALETTE[0], markersize=8)
            ax.annotate(f"{est:+,.3g}", (est, 0), xytext=(0, 7), textcoords="offset points",
                        ha="center", fontsize=9)
            left, right = min(0.0, lo, est), max(0.0, hi, est)   # zero always in view
            pad = 0.08 * (right - left) or 1.0
            ax.set_xlim(left - pad, right + pad)
        else:
            ax.annotate(_t("plot.not_estimated"), (0.02, 0.5), xycoords="axes fraction", va="center",
                        color=PALETTE[3])
        ax.set_yticks([0], [literal(row[outcome])])
        ax.set_ylim(-0.8, 0.8)
        ax.grid(axis="y", visible=False)
        ax.set_xlabel(literal(label), fontsize=9, labelpad=1)
    axes[0].set_title(literal(title))
    return axes
