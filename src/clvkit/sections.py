"""What each report section shows for a scenario result -- or one line saying why it is left out.

A scenario may lack a part: no calibration period, no second tier dimension, no previous run,
no surveys, no programme. The report notebooks hold no control flow, so the decision lives here:
each function takes a :class:`clvkit.result.ScenarioResult` and returns something a notebook
displays -- a formatted table (``clvkit.display``), a figure's axes (``clvkit.plots``), a box
(``clvkit.pages``) or Markdown. A section without data is left out: its heading
(:func:`heading`) becomes one plain line saying why, and its other cells return None, so
nothing else is shown and the table of contents skips it.

Data without amounts (``data.transactions.amount: null``) have purchase counts only: every
spend section (the spend model, spend per purchase, CLV, value at risk, revenue) is left out
with one line saying so where it would have been (``omit.spend.*``), and rankings, tier
profiles and the watchlist use expected purchases instead (headings ``h.<section>.counts``).

Every word comes from the catalogues (``clvkit.i18n``) in the scenario's ``report.language``;
tiers are always listed in the params order (top tier first). Formatting and drawing only:
every number comes from the result or from ``clvkit.briefing``.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from IPython.display import Markdown

from clvkit import briefing, i18n, pages, plots
from clvkit.display import MODEL_NAMES, byline, definitions, escape_markdown, table

__all__ = ["available", "candidate_models", "covariate_effects", "effect_sentence", "header",
           "heading", "holdout_summary",
           "impact_balance", "impact_effects_plot", "impact_effects_table", "impact_method",
           "impact_summary", "migration_heatmap", "migration_table", "model_comparison",
           "satisfaction_complaints", "satisfaction_csat_plot", "satisfaction_link",
           "satisfaction_nps_plot", "satisfaction_response_rates", "satisfaction_table",
           "tier_grid", "todo", "tracking_plot"]

#: What a left-out section's later cells return: None, so the cell shows nothing at all (its
#: heading cell already said why in one line).
_SAID = None

#: Which part of the result each section needs (None there: the section is left out).
_NEEDS = {"value.holdout": "calibration", "value.tracking": "calibration", "value.drivers": "effects",
          "value.candidates": "calibration", "tiers.grid": "grid", "tiers.migration": "migration",
          "sat.by_tier": "satisfaction", "sat.response": "satisfaction",
          "sat.complaints": "complaints", "sat.link": "satisfaction",
          **{f"case.{k}": "impact" for k in ("groups", "trends", "evidence", "balance",
                                             "assumptions", "method", "roi")}}
#: Sub-sections that say nothing when their parent section is left out (it said why).
_PARENT = {"sat.response": "sat.by_tier", "sat.complaints": "sat.by_tier",
           "sat.link": "sat.by_tier", "value.tracking": "value.holdout",
           "value.candidates": "value.holdout"}
#: The report (notebook stem without its number) each ``header`` key belongs to.
REPORTS = briefing.REPORTS


def _lang(res) -> str:
    return res.config.report.language


def _tr(res):
    return i18n.translator(_lang(res))


def available(res, section: str) -> bool:
    """Whether the result has the data a section needs (sections not listed always do)."""
    need = _NEEDS.get(section)
    if need is None:
        return True
    if need == "complaints":
        return res.satisfaction is not None and res.satisfaction.complaints is not None
    if section == "case.roi":
        return res.impact is not None and _cost(res) is not None and "spend" in res.impact.effects.index
    return getattr(res, need) is not None


def counts_only(res) -> bool:
    """Whether the scenario's transactions have no amounts: purchase counts only, no spend."""
    return not res.config.has_amounts


def _no_spend(res, what: str):
    """The one line saying why a spend section is left out (data without amounts)."""
    return pages.omitted(_tr(res)(f"omit.spend.{what}"))


def _show(*items) -> None:
    """Display each item that is not None (a cell shows several parts, e.g. a table and a
    left-out line, whatever its last expression is)."""
    from IPython.display import display

    for item in items:
        if item is not None:
            display(item)


def _key(res, key: str) -> str:
    """``key``, or its counts-only variant ``key.counts`` for data without amounts (when the
    catalogue has one): headings and sentences that speak of value become counts."""
    if counts_only(res) and f"{key}.counts" in i18n.keys(_lang(res)):
        return f"{key}.counts"
    return key


def _cost(res):
    return getattr(res.config.impact, "cost_per_customer", None)


def _ordered(frame: pd.DataFrame, res, column: str = "group") -> pd.DataFrame:
    """Rows in the params' tier order (top tier first); other labels after, as they were."""
    order = briefing.tier_order(res)
    rank = {t: i for i, t in enumerate(order)}
    keys = frame[column].astype("string").map(lambda v: rank.get(v, len(order)))
    return frame.assign(_rank=keys.to_numpy()).sort_values("_rank", kind="mergesort").drop(
        columns="_rank").reset_index(drop=True)


def _lake(res):
    """A lake-scale result's exact aggregates (``clvkit.result.LakeAggregates``), or None: read
    them where the per-customer frames hold only the sample."""
    return getattr(res, "lake", None)


def _describe(res, frame: pd.DataFrame, columns) -> pd.DataFrame:
    """``describe()`` of per-customer columns: over every customer (lake) or of ``frame``."""
    if _lake(res) is not None:
        return _lake(res).distributions.loc[list(columns)]
    return frame[list(columns)].describe().T


def _histogram(res, series: pd.Series, **kw):
    """A histogram of a per-customer column: every customer's bins counted in Spark (lake),
    else drawn from the column."""
    hist = None if _lake(res) is None else _lake(res).histograms.get(series.name)
    if hist is None:
        return plots.histogram(series, **kw)
    edges = np.append(hist["left"].to_numpy(), hist["right"].to_numpy()[-1:])
    kw["bins"] = edges
    return plots.histogram(hist["left"].to_numpy(), weights=hist["customers"].to_numpy(), **kw)


def _finite(frame: pd.DataFrame) -> pd.DataFrame:
    """Infinite values (an interval without an upper end) shown as missing, never as ``inf``."""
    num = frame.select_dtypes("number").columns
    return frame.assign(**{c: frame[c].replace([np.inf, -np.inf], np.nan) for c in num})


# ------------------------------------------------------------------------ page furniture
def header(res, report: str):
    """The report's title, its one-line context and the key-points box (the first screen)."""
    tr = _tr(res)
    i = res.info
    title = tr(_key(res, f"title.{report}"))
    meta = tr("header.meta", title=i.title, source=i.source, end=f"{i.observation_end:%Y-%m-%d}",
              run_date=f"{i.run_date:%Y-%m-%d}")
    points = briefing.key_points(res, report, language=_lang(res))
    box = pages.keypoints(points, language=_lang(res)) if points else ""
    if report == "case_study" and res.impact is not None:
        points = briefing.verdict(res, language=_lang(res)) + points
        box = pages.keypoints(points[:5], language=_lang(res))
    text = f"# {title}\n\n<p class=\"meta\">{_md_escape(meta)}</p>\n\n{box}"
    if _lake(res) is not None:  # which numbers are exact and which come from the sample
        text += "\n\n" + str(pages.caveat(lake_note(res), language=_lang(res)))
    if report == "case_study" and res.impact is None:
        text += "\n\n" + pages.omitted(tr("omit.case"))
    return Markdown(text)


def _md_escape(text: str) -> str:
    import html

    return html.escape(str(text))


def lake_note(res) -> str:
    """At lake scale: what is computed over every customer and what on the sample (its size
    and seed); empty for a single-machine result."""
    lake = _lake(res)
    if lake is None:
        return ""
    return _tr(res)("lake.note", customers=i18n.number(lake.customers + lake.prospects),
                    sample=i18n.number(lake.sample_customers), seed=lake.sample_seed)


def heading(res, section: str, *, level: int = 2):
    """A section's heading and introduction, or one line saying why the section is left out."""
    tr = _tr(res)
    if not available(res, section):
        parent = _PARENT.get(section)
        if parent is not None and not available(res, parent):
            return _SAID  # the parent section said why
        why = i18n.keys(_lang(res)).get(_key(res, _omit_key(res, section)))
        return Markdown(str(pages.omitted(why))) if why else _SAID
    intro = i18n.keys(_lang(res)).get(_key(res, f"intro.{section}"))
    text = f"{'#' * level} {tr(_key(res, f'h.{section}'))}"
    return Markdown(text + (f"\n\n{intro}" if intro else ""))


def _omit_key(res, section: str) -> str:
    """The catalogue key of a left-out section's line (covariates: none configured, or the
    chosen model takes none)."""
    c = res.config.model.covariates
    if section == "value.drivers" and (c.purchase or c.dropout):
        return "omit.value.drivers_model"
    return f"omit.{section}"


def todo(res, report: str):
    """The "what to do" box at the end of a report."""
    items = briefing.actions(res, report, language=_lang(res))
    return pages.todo(items, language=_lang(res)) if items else _SAID


# ------------------------------------------------------------------------ 01 data quality
def ledger_summary(res):
    """Rows in, kept, dropped and modified, and the ledger by reason."""
    tr, led = _tr(res), res.ledger
    from IPython.display import display

    display(Markdown(tr("dq.ledger_line", rows_in=i18n.number(led.rows_in),
                        kept=i18n.number(led.rows_out), dropped=i18n.number(led.rows_dropped),
                        modified=i18n.number(led.rows_modified))))
    frame = led.table.assign(action=led.table["action"].map(lambda a: tr(f"plot.{a}")))
    if counts_only(res):  # no amounts: no amount column (not a column of blanks)
        frame = frame.drop(columns="amount", errors="ignore")
    return table(frame, money=[c for c in ("amount",) if c in frame], columns={k: v for k, v in {
        "reason": tr("col.reason"), "action": tr("col.what_happened"), "rows": tr("plot.rows"),
        "customers": tr("col.customers"),
        "amount": tr("col.amount", currency=res.info.currency)}.items() if k in frame})


def ledger_plot(res):
    """The ledger by reason as bars."""
    return plots.ledger(res.ledger.table)


def coverage_table(res):
    """What the clean data holds (first and last purchase, counts, revenue)."""
    tr = _tr(res)
    cov = res.coverage
    names = {"first purchase": "cov.first", "last purchase": "cov.last",
             "observation end": "cov.end", "customers who bought": "cov.buyers",
             "purchase lines": "cov.lines", "customers on file (with prospects)": "cov.on_file",
             "survey responses": "cov.surveys", "complaints": "cov.complaints"}
    rows = {}
    for key, value in cov.items():
        label = names.get(key)
        if label is None and str(key).startswith("revenue"):
            label = "cov.revenue"
        if value is None:
            continue  # a table the scenario does not have: not listed
        rows[tr(label, currency=res.info.currency) if label else str(key)] = value
    return definitions(rows, term="", meaning="")


def monthly_plot(res):
    """Purchase lines per month, titled with the trend (``briefing.what_changed``)."""
    tr = _tr(res)
    frame = res.monthly[["lines"]].rename(columns={"lines": tr("plot.purchase_lines")})
    changed = briefing.what_changed(res, language=_lang(res))
    return plots.lines(frame, title=tr("plot.monthly_title"), xlabel=tr("plot.month"),
                       ylabel=tr("plot.lines_per_month")) if not changed else plots.lines(
        frame, title=_short(changed[0]), xlabel=tr("plot.month"), ylabel=tr("plot.lines_per_month"))


def _short(sentence: str, limit: int = 70) -> str:
    s = sentence.rstrip("。.")
    return s if len(s) <= limit else s[: limit - 1] + "…"


def distributions_table(res):
    """Per-customer frequency, recency, T and monetary value: mean and quartiles (without
    amounts: no monetary value, and a line saying so)."""
    tr = _tr(res)
    names = {"frequency": tr("col.frequency"), "recency": tr("col.recency"), "T": tr("col.age_T"),
             "monetary_value": tr("col.monetary")}
    unit = briefing.time_unit(res, _lang(res))
    if counts_only(res):
        names.pop("monetary_value")
        stats = _describe(res, res.summary, names).rename(index=names)
        return _show(table(stats, columns=_quartile_columns(tr), caption=tr("cap.units_counts", unit=unit)),
                     _no_spend(res, "distributions"))
    stats = _describe(res, res.summary, names).rename(index=names)
    return table(stats, columns=_quartile_columns(tr),
                 caption=tr("cap.units", unit=unit, currency=res.info.currency))


def _quartile_columns(tr) -> dict:
    return {"index": tr("col.per_customer"), "mean": tr("col.mean"), "25%": tr("col.q1"),
            "50%": tr("col.median"), "75%": tr("col.q3"), "max": tr("col.max")}


def frequency_histogram(res):
    tr = _tr(res)
    return _histogram(res, res.summary["frequency"], xlabel=tr("plot.frequency_count"), log=True,
                      title=tr("plot.frequency_title"))


def age_histogram(res):
    tr = _tr(res)
    return _histogram(res, res.summary["T"], xlabel=tr("plot.age", unit=briefing.time_unit(res, _lang(res))),
                           title=tr("plot.age_title"))


# --------------------------------------------------------------------- 02 customer value
def model_reason(res):
    """Which purchase model is used and why (the pipeline's sentence, in English only)."""
    from clvkit.value import one_time_buyers_never_at_risk

    tr = _tr(res)
    mc = res.model_choice
    text = tr(f"value.choice_{mc.criterion}", model=mc.name)
    facts = one_time_buyers_never_at_risk(res.scored)
    if facts is not None:  # BG/NBD-type: one-time buyers can never be at risk; say so
        n, share, mean_T = facts
        if _lake(res) is not None:  # count and share over every buyer; mean age of the sample
            t = _lake(res).totals
            n, share = t["one_time"], t["one_time"] / max(t["buyers"], 1)
        text += "\n\n" + tr("value.one_time_note", model=mc.name, n=i18n.number(n),
                             share=f"{share:.0%}", age=f"{mean_T:.0f}", unit=briefing.time_unit(res, _lang(res)))
    return Markdown(text)


def model_comparison(res):
    """The candidate purchase models on the full data and (with a holdout) their holdout error."""
    tr = _tr(res)
    comp = res.model_choice.comparison
    columns = {"name": tr("col.model"), "n_params": tr("col.n_params"),
               "log_likelihood": tr("col.loglik"), "aic": "AIC",
               "covariates": tr("col.covariates"),
               "holdout_mae": tr("col.holdout_mae"), "holdout_rmse": tr("col.holdout_rmse"),
               "fit_seconds": tr("col.fit_seconds"), "fit_customers": tr("col.fit_customers"),
               "chosen": tr("col.chosen")}
    caption = tr("cap.lower_better")
    if "fit_customers" in comp.columns and (comp["fit_customers"] < comp["fit_customers"].max()).any():
        part = comp[comp["fit_customers"] < comp["fit_customers"].max()]
        caption += ". " + tr("cap.sampled_fits", models=", ".join(part["name"]),
                             n=i18n.number(int(part["fit_customers"].max())),
                             total=i18n.number(int(comp["fit_customers"].max())))
    return table(comp, digits=3, columns={k: v for k, v in columns.items() if k in comp.columns},
                 integer=[c for c in ("fit_customers",) if c in comp.columns], caption=caption)


def parameter_table(res, which: str = "transaction"):
    """The purchase (``transaction``) or spend model's estimates with intervals."""
    tr = _tr(res)
    model = res.transaction_model if which == "transaction" else res.spend_model
    if model is None:
        return _no_spend(res, "model") if which != "transaction" and counts_only(res) else _SAID
    ci = f"{res.config.model.ci_level:.0%}"
    columns = {"index": tr("col.parameter"), "estimate": tr("col.estimate"), "se": tr("col.se"),
               "lower": tr("col.lower", ci=ci), "upper": tr("col.upper", ci=ci)}
    caption = (tr("cap.purchase_model", model=res.model_choice.name,
                  n=i18n.number(model.n_customers_), unit=briefing.time_unit(res, _lang(res)))
               if which == "transaction" else tr("cap.spend_model", currency=res.info.currency))
    if getattr(model, "boundary_", None):   # a fit at a limit of the model says so
        caption += " " + tr("cap.boundary", note=model.boundary_)
    return table(model.summary(), columns=columns, digits=3, caption=caption)


def effect_sentence(row, language: str = "en", ci: str = "95%") -> str:
    """One covariate effect in plain words, from a row of ``res.effects``
    (``clvkit.models.covariates.effects``): "Customers with channel = referral buy 43% more
    often than those with channel = organic (95% CI +24% to +66%)." Column and level names are
    escaped (they come from the data)."""
    tr = i18n.translator(language)
    col = escape_markdown(row["column"])
    level = row["level"]
    if pd.isna(level):
        who, than = tr("drivers.who_unit", column=col), ""
    else:
        who = tr("drivers.who_level", column=col, level=escape_markdown(level))
        than = tr("drivers.as_for" if row["kind"] == "dropout_spread" else "drivers.than",
                  column=col, reference=escape_markdown(row["reference"]))
    change = float(row["factor"]) - 1
    if row["kind"] == "dropout_spread":
        verb = tr("drivers.spread", factor=i18n.number(row["factor"], digits=2))
    else:
        base = "buy" if row["kind"] == "purchase" else "drop"
        verb = (tr(f"drivers.{base}_same") if abs(change) < 0.005 else
                tr(f"drivers.{base}_{'more' if change > 0 else 'less'}",
                   pct=i18n.percent(abs(change))))
    interval = tr("drivers.ci", level=ci, lo=i18n.percent(row["lower"] - 1, signed=True),
                  hi=i18n.percent(row["upper"] - 1, signed=True))
    return tr("drivers.sentence", who=who, verb=verb, than=than, ci=interval)


def covariate_effects(res):
    """What drives purchase and churn: each covariate effect of the purchase model in plain
    words, then as a table with its interval (None when the section is left out)."""
    from IPython.display import display

    eff = res.effects
    if eff is None or eff.empty:
        return _SAID
    tr, lang = _tr(res), _lang(res)
    ci = f"{res.config.model.ci_level:.0%}"
    display(Markdown("\n".join(f"- {effect_sentence(row, lang, ci)}"
                               for _, row in eff.iterrows())))
    frame = pd.DataFrame({
        "attribute": [r["column"] if pd.isna(r["level"]) else f"{r['column']} = {r['level']}"
                      for _, r in eff.iterrows()],
        "process": [tr(f"drivers.kind_{k}") for k in eff["kind"]],
        "change": eff["factor"] - 1, "lower": eff["lower"] - 1, "upper": eff["upper"] - 1})
    ref = "; ".join(dict.fromkeys(f"{r['column']} = {r['reference']}" for _, r in eff.iterrows()
                                  if not pd.isna(r["level"]))) or "–"
    return table(frame, percent=["change", "lower", "upper"], digits=0,
                 columns={"attribute": tr("col.attribute"), "process": tr("col.process"),
                          "change": tr("col.change"), "lower": tr("col.lower", ci=ci),
                          "upper": tr("col.upper", ci=ci)},
                 caption=tr("cap.drivers", model=res.model_choice.name, reference=ref))


def holdout_summary(res):
    """How well the chosen model, fitted on the calibration period, predicted the holdout."""
    cal = res.calibration
    if cal is None:
        return _SAID
    tr, e, i = _tr(res), cal.errors, res.info
    return Markdown(tr("value.holdout_text", end=f"{cal.calibration_end:%Y-%m-%d}",
                       customers=i18n.number(cal.customers), model=res.model_choice.name,
                       predicted=i18n.number(e["predicted_total"]),
                       length=i18n.number(cal.holdout_length), unit=briefing.time_unit(res, _lang(res)),
                       obs_end=f"{i.observation_end:%Y-%m-%d}",
                       actual=i18n.number(e["actual_total"]),
                       diff=i18n.percent(e["predicted_total"] / e["actual_total"] - 1, digits=1,
                                         signed=True) if e["actual_total"] else "–",
                       mae=i18n.number(e["mae"], digits=2), rmse=i18n.number(e["rmse"], digits=2)))


def calibration_plot(res):
    """Mean holdout purchases by calibration frequency, actual against predicted."""
    cal = res.calibration
    if cal is None:
        return _SAID
    tr, e = _tr(res), cal.errors
    return plots.calibration_holdout(
        cal.table, holdout=f"{cal.holdout_length:.0f} {briefing.time_unit(res, _lang(res))}",
        title=tr("plot.holdout_result", predicted=i18n.number(e["predicted_total"]),
                 actual=i18n.number(e["actual_total"])))


def tracking_plot(res, *, cumulative: bool = False):
    """Repeat transactions of the whole base per period (or cumulated), actual vs expected."""
    cal = res.calibration
    if cal is None:
        return _SAID
    track, unit = cal.tracking, briefing.time_unit(res, _lang(res), singular=True)
    return plots.tracking(track, cumulative=cumulative, calibration_end=cal.calibration_end,
                          unit=unit)


def candidate_models(res):
    """Every candidate model fitted on the calibration period: fit and holdout error."""
    cal = res.calibration
    if cal is None:
        return _SAID
    tr = _tr(res)
    return table(cal.candidates, digits=2, integer=["predicted_total", "actual_total"],
                 columns={"model": tr("col.model"), "aic": "AIC", "bic": "BIC", "mae": "MAE",
                          "rmse": "RMSE", "bias": tr("col.bias"),
                          "predicted_total": tr("col.predicted_purchases"),
                          "actual_total": tr("col.actual_purchases")})


def value_summary(res):
    """Total value over the horizon, value at risk, and per-customer distributions."""
    from IPython.display import display

    tr, s, i = _tr(res), res.scored, res.info
    if counts_only(res):
        return _counts_summary(res)
    t = {"buyers": len(s), "clv": s["clv"].sum(), "clv_at_risk": s["clv_at_risk"].sum()}
    t = t if _lake(res) is None else _lake(res).totals
    display(Markdown(tr("value.total_text", buyers=i18n.number(t["buyers"]),
                        total=i18n.number(t["clv"]), currency=_md_escape(i.currency),
                        horizon=briefing.horizon(res, _lang(res)), discount=i.discount,
                        risk=i18n.number(t["clv_at_risk"]))))
    names = {"p_alive": tr("col.p_alive"), "expected_purchases": tr("col.expected_purchases"),
             "expected_spend": tr("col.expected_spend"), "clv": tr("col.clv"),
             "clv_at_risk": tr("col.clv_at_risk")}
    stats = _describe(res, s, names).rename(index=names)
    return table(stats, columns=_quartile_columns(tr),
                 caption=tr("cap.value_units", horizon=briefing.horizon(res, _lang(res)), currency=i.currency))


def _counts_summary(res):
    """:func:`value_summary` for data without amounts: expected purchases and P(alive) only,
    and one line saying why CLV, spend and value at risk are left out."""
    tr, s = _tr(res), res.scored
    lang = _lang(res)
    names = {"p_alive": tr("col.p_alive"), "expected_purchases": tr("col.expected_purchases")}
    stats = s[list(names)].describe().T.rename(index=names)
    return _show(Markdown(tr("value.total_text_counts", buyers=i18n.number(len(s)),
                             total=i18n.number(s["expected_purchases"].sum()),
                             horizon=briefing.horizon(res, lang),
                             active=i18n.number(s["p_alive"].sum()))),
                 table(stats, columns=_quartile_columns(tr),
                       caption=tr("cap.value_units_counts", horizon=briefing.horizon(res, lang))),
                 _no_spend(res, "clv"))


def p_alive_histogram(res):
    tr = _tr(res)
    return _histogram(res, res.scored["p_alive"], xlabel=tr("col.p_alive"), bins=30,
                           title=tr("plot.p_alive_title"))


def clv_histogram(res):
    """CLV per customer (log scale); without amounts, expected purchases per customer."""
    tr, i = _tr(res), res.info
    if counts_only(res):
        return plots.histogram(res.scored["expected_purchases"], log=True,
                               xlabel=tr("col.expected_purchases_h", horizon=briefing.horizon(res, _lang(res))),
                               title=tr("plot.purchases_title"))
    return _histogram(res, res.scored["clv"], log=True,
                           xlabel=tr("plot.clv_axis", currency=i.currency, horizon=briefing.horizon(res, _lang(res))),
                           title=tr("plot.clv_title"))


def frequency_recency_plot(res, value: str = "expected_purchases"):
    """Expected purchases (or P(alive)) on the frequency × recency grid."""
    tr, fr, i = _tr(res), res.frequency_recency, res.info
    if value == "p_alive":
        return plots.frequency_recency(fr.table, value="p_alive", fmt=".0%", colorbar=tr("col.p_alive"),
                                       recency_unit=briefing.time_unit(res, _lang(res)),
                                       title=tr("plot.fr_alive_title", age=f"{fr.T:.0f}", unit=briefing.time_unit(res, _lang(res))) + _fr_pattern(res))
    return plots.frequency_recency(fr.table, value="expected_purchases", fmt=".1f",
                                   recency_unit=briefing.time_unit(res, _lang(res)),
                                   colorbar=tr("plot.fr_purchases_bar", horizon=briefing.horizon(res, _lang(res))),
                                   title=tr("plot.fr_purchases_title", horizon=briefing.horizon(res, _lang(res)),
                                            age=f"{fr.T:.0f}", unit=briefing.time_unit(res, _lang(res))) + _fr_pattern(res))


def _fr_pattern(res) -> str:
    """For a model with covariates: whose grid it is (the commonest covariate values)."""
    pattern = getattr(res.frequency_recency, "pattern", None)
    if not pattern:
        return ""
    return _tr(res)("plot.fr_pattern", pattern=", ".join(f"{k} = {v}" for k, v in pattern.items()))


def top_customers(res, n: int = 10):
    """The ``n`` most valuable customers (without amounts: the ``n`` expected to buy most)."""
    tr, i = _tr(res), res.info
    if counts_only(res):
        top = res.scored.nlargest(n, "expected_purchases")[
            ["frequency", "recency", "T", "p_alive", "expected_purchases"]]
        return table(top, percent="p_alive", digits=1, columns={
            "customer_id": tr("col.customer"), "frequency": tr("col.frequency"),
            "recency": tr("col.recency_unit", unit=briefing.time_unit(res, _lang(res))),
            "T": tr("col.age_unit", unit=briefing.time_unit(res, _lang(res))),
            "p_alive": tr("col.p_alive"),
            "expected_purchases": tr("col.expected_purchases_h", horizon=briefing.horizon(res, _lang(res)))})
    top = res.scored.nlargest(n, "clv") if _lake(res) is None else _lake(res).top.head(n)
    return table(top, money=["expected_spend", "clv", "revenue"],
                 percent="p_alive", digits=1,
                 columns={"customer_id": tr("col.customer"), "frequency": tr("col.frequency"),
                          "recency": tr("col.recency_unit", unit=briefing.time_unit(res, _lang(res))),
                          "T": tr("col.age_unit", unit=briefing.time_unit(res, _lang(res))),
                          "revenue": tr("col.past_revenue", currency=i.currency),
                          "p_alive": tr("col.p_alive"),
                          "expected_purchases": tr("col.expected_purchases_h", horizon=briefing.horizon(res, _lang(res))),
                          "expected_spend": tr("col.expected_spend"),
                          "clv": tr("col.clv_cur", currency=i.currency)})


# ------------------------------------------------------------------------------ 03 tiers
def _tier_rules(res, defs: pd.DataFrame) -> pd.DataFrame:
    """The tier rules in the report's language (quantile shares and the prospect tier; a
    threshold rule is shown as the tiering module words it)."""
    tr, t = _tr(res), res.config.tiers
    score = tr(f"col.{t.score}") if i18n.has(f"col.{t.score}", _lang(res)) else t.score
    rules = []
    for i, row in enumerate(defs.itertuples(index=False)):
        if row.tier == t.prospect_label:
            rules.append(tr("rule.prospect"))
        elif t.method == "quantile":
            rules.append(tr("rule.tier_top" if i == 0 else "rule.tier_next", score=score,
                            share=f"{row.target_share * 100:.4g}%"))
        else:
            rules.append(row.rule)
    return defs.assign(rule=rules)


def tier_definitions(res):
    tr = _tr(res)
    defs = _tier_rules(res, res.tiers.definitions)
    return table(_ordered(defs, res, "tier"), percent=["target_share", "share"],
                 money=[] if counts_only(res) else ["score_min", "score_max"],
                 columns={"tier": tr("col.tier"), "rule": tr("col.rule"),
                          "target_share": tr("col.target_share"), "customers": tr("col.customers"),
                          "share": tr("col.share_all"), "score_min": tr("col.score_min"),
                          "score_max": tr("col.score_max")})


def tier_profile_plot(res):
    """Share of customers against share of future value per tier (without amounts: share of
    expected purchases)."""
    if counts_only(res):
        tr = _tr(res)
        prof = briefing.purchase_profile(res)
        top = prof.iloc[0]
        frame = prof.set_index("tier")[["customer_share", "purchases_share"]].rename(
            columns={"customer_share": tr("plot.customers"),
                     "purchases_share": tr("plot.expected_purchases_share")})
        return plots.grouped_bars(frame, percent=True, xlabel=tr("plot.tier"),
                                  ylabel=tr("plot.share_of_total"),
                                  title=tr("plot.tier_profile_title_counts", tier=top["tier"],
                                           customers=f"{top['customer_share']:.0%}",
                                           purchases=f"{top['purchases_share']:.0%}"))
    return plots.tier_profile(_ordered(res.profiles.summary, res, "tier"))


def tier_profile_table(res):
    tr, cur = _tr(res), res.info.currency
    if counts_only(res):
        prof = briefing.purchase_profile(res)
        return _show(table(prof, percent=["customer_share", "purchases_share", "p_alive_mean"],
                           columns={"tier": tr("col.tier"), "customers": tr("col.customers"),
                                    "customer_share": tr("col.customer_share"),
                                    "purchases_total": tr("col.expected_purchases_h",
                                                          horizon=briefing.horizon(res, _lang(res))),
                                    "purchases_share": tr("col.purchases_share"),
                                    "p_alive_mean": tr("col.p_alive_mean"),
                                    "expected_purchases_mean": tr("col.purchases_mean")}),
                     _no_spend(res, "profiles"))
    return table(_ordered(res.profiles.summary, res, "tier"),
                 percent=["customer_share", "clv_share", "p_alive_mean"],
                 money=["revenue", "clv_total", "clv_mean"],
                 columns={"tier": tr("col.tier"), "customers": tr("col.customers"),
                          "customer_share": tr("col.customer_share"),
                          "revenue": tr("col.past_revenue", currency=cur),
                          "clv_total": tr("col.future_value", currency=cur),
                          "clv_share": tr("col.value_share"), "clv_mean": tr("col.clv_mean"),
                          "p_alive_mean": tr("col.p_alive_mean"),
                          "expected_purchases_mean": tr("col.purchases_mean")})


def _stage_names(res, frame, column="stage"):
    tr = _tr(res)
    return frame.assign(**{column: frame[column].map(lambda s: tr(f"stage.{s}"))})


def _stage_rules(res, defs: pd.DataFrame) -> pd.DataFrame:
    """The stage rules in the report's language, with the scenario's thresholds."""
    tr, st = _tr(res), res.config.stages
    values = {"lost": f"{st.lost_p_alive:g}", "dormant": f"{st.dormant_p_alive:g}",
              "dormant_days": f"{st.dormant_days:g}", "new_days": f"{st.new_days:g}",
              "loyal_n": st.loyal_min_purchases, "loyal": f"{st.loyal_min_p_alive:g}"}
    return defs.assign(rule=[tr(f"rule.stage.{stage}", **values) for stage in defs["stage"]])


def stage_table(res):
    tr = _tr(res)
    defs = _stage_rules(res, res.stages.definitions)
    return table(_stage_names(res, defs), percent="share",
                 columns={"stage": tr("col.stage"), "rule": tr("col.rule"),
                          "customers": tr("col.customers"), "share": tr("col.share")})


def stage_plot(res):
    tr = _tr(res)
    counts = _stage_names(res, res.stages.definitions).set_index("stage")["customers"]
    return plots.counts(counts, xlabel=tr("col.stage"), title=_largest(res, counts, "stage"))


def _largest(res, counts: pd.Series, what: str) -> str:
    tr = _tr(res)
    total = float(counts.sum())
    if counts.empty or total <= 0:
        return tr("plot.none_in", what=tr(f"what.{what}"))
    return tr("plot.largest", name=str(counts.idxmax()), what=tr(f"what.{what}"),
              n=i18n.number(counts.max()), total=i18n.number(total),
              share=i18n.percent(counts.max() / total))


def tier_grid(res):
    """Customers by tier and the second dimension (left out when none is configured)."""
    if res.grid is None:
        return _SAID
    tr = _tr(res)
    counts = res.grid.counts
    order = [t for t in briefing.tier_order(res) if t in counts.index]
    counts = counts.reindex(order + [t for t in counts.index if t not in order])
    if res.grid.column == "stage":
        counts = counts.rename(columns=lambda s: tr(f"stage.{s}") if f"stage.{s}" in i18n.keys(_lang(res)) else s)
    return table(counts, index=True, caption=tr("cap.grid", column=tr(f"what.{res.grid.column}")
                                                 if f"what.{res.grid.column}" in i18n.keys(_lang(res))
                                                 else res.grid.column))


def segment_plot(res):
    tr = _tr(res)
    counts = res.segments.definitions.groupby("segment", sort=False)["customers"].sum()
    return plots.counts(counts, xlabel=tr("col.segment"), title=_largest(res, counts, "segment"))


def segment_table(res):
    tr = _tr(res)
    defs = res.segments.definitions
    columns = {"segment": tr("col.segment"), "r": tr("col.r"), "f": tr("col.f"), "m": tr("col.m"),
               "customers": tr("col.customers"), "share": tr("col.share")}
    if counts_only(res):  # no amounts: M is neutral, the segments use R and F only
        columns.pop("m")
    return table(defs, percent="share", columns={k: v for k, v in columns.items() if k in defs},
                 caption=tr("cap.segments_counts") if counts_only(res) else None)


def migration_table(res):
    """Movements between tiers since the previous run (left out without one)."""
    if res.migration is None:
        return _SAID
    tr = _tr(res)
    s = res.migration.summary.rename("customers")
    s.index = [tr(f"mig.{k}") if f"mig.{k}" in i18n.keys(_lang(res)) else k for k in s.index]
    return table(s, columns={"index": tr("col.movement"), "customers": tr("col.customers")})


def migration_heatmap(res):
    """Customers by previous and current tier."""
    if res.migration is None:
        return _SAID
    tr = _tr(res)
    return plots.heatmap(res.migration.counts, title=tr("plot.migration_title"), fmt=",.0f",
                         xlabel=tr("plot.tier_now"), ylabel=tr("plot.tier_before"),
                         colorbar=tr("plot.customers"))


def watchlist_criteria(res):
    tr = _tr(res)
    crit = res.warning.criteria.set_index("criterion")["value"]
    crit.index = [tr(f"crit.{k}") if f"crit.{k}" in i18n.keys(_lang(res)) else k for k in crit.index]
    return definitions(crit, term=tr("col.criterion"), meaning=tr("col.value_plain"))


def watchlist_table(res, n: int = 20):
    tr = _tr(res)
    wl = _stage_names(res, res.warning.watchlist) if "stage" in res.warning.watchlist else res.warning.watchlist
    horizon = briefing.horizon(res, _lang(res))
    return table(wl, max_rows=n, money=[c for c in ("clv", "clv_at_risk") if c in wl],
                 percent="p_alive", digits=2, caption=tr(_key(res, "cap.watchlist")),
                 columns={k: v for k, v in {
                     "rank": tr("col.rank"), "customer_id": tr("col.customer"),
                     "tier": tr("col.tier"), "stage": tr("col.stage"), "p_alive": tr("col.p_alive"),
                     "clv": tr("col.clv_cur", currency=res.info.currency),
                     "clv_at_risk": tr("col.clv_at_risk"),
                     "expected_purchases": tr("col.expected_purchases_h", horizon=horizon),
                     "purchases_at_risk": tr("col.purchases_at_risk"), "reason": tr("col.reason"),
                     "action": tr("col.action_plain")}.items() if k in wl.columns})


def playbook_table(res):
    tr = _tr(res)
    pb = res.playbook.table
    known = i18n.keys(_lang(res))
    pb = pb.assign(applies_to=pb["applies_to"].map(lambda a: known.get(f"pb.{a}", a)),
                   key=[tr(f"stage.{k}") if a == "stage" else k
                        for a, k in zip(pb["applies_to"], pb["key"])])
    return table(pb, columns={"applies_to": tr("col.applies_to"), "key": tr("col.tier_or_stage"),
                              "action": tr("col.action_plain")})


def action_counts(res):
    tr = _tr(res)
    counts = (res.playbook.action.value_counts() if _lake(res) is None
              else _lake(res).actions.sort_values(ascending=False, kind="mergesort"))
    counts = counts.rename("customers").rename_axis("action")
    return table(counts, caption=tr("cap.per_action"),
                 columns={"action": tr("col.action_plain"), "customers": tr("col.customers")})


# ----------------------------------------------------------- 04 satisfaction and retention
def satisfaction_csat_plot(res):
    """Mean CSAT by tier with intervals."""
    sat = res.satisfaction
    if sat is None:
        return _SAID
    tr = _tr(res)
    return plots.intervals(_ordered(sat.by_group, res), value="csat", low="csat_low",
                           high="csat_high", label="group", title=tr("plot.csat_title"),
                           xlabel=tr("plot.csat_axis"))


def satisfaction_nps_plot(res):
    """NPS by tier with intervals."""
    sat = res.satisfaction
    if sat is None:
        return _SAID
    tr = _tr(res)
    return plots.intervals(_ordered(sat.by_group, res), value="nps", low="nps_low",
                           high="nps_high", label="group", reference=0,
                           title=tr("plot.nps_title"), xlabel=tr("plot.nps_axis"))


def satisfaction_table(res):
    """CSAT, top-2-box and NPS per tier."""
    sat = res.satisfaction
    if sat is None:
        return _SAID
    tr = _tr(res)
    by = _finite(_ordered(sat.by_group, res))
    columns = {"group": tr("col.tier"), "csat_n": tr("col.responses"), "csat": tr("col.csat"),
               "csat_low": tr("col.low95"), "csat_high": tr("col.high95"),
               "top2box": tr("col.top2box"), "nps": "NPS", "nps_low": tr("col.nps_low"),
               "nps_high": tr("col.nps_high")}
    return table(by, percent=[c for c in ("top2box",) if c in by.columns],
                 columns={k: v for k, v in columns.items() if k in by.columns})


def satisfaction_response_rates(res):
    sat = res.satisfaction
    if sat is None:
        return _SAID
    tr = _tr(res)
    rr = _ordered(sat.response_rates, res)
    columns = {"group": tr("col.tier"), "base": tr("col.customers"),
               "respondents": tr("col.respondents"), "response_rate": tr("col.response_rate")}
    caveat = briefing.response_caveat(res, language=_lang(res))
    if caveat:
        from IPython.display import display

        display(pages.caveat(caveat, language=_lang(res)))
    return table(rr, percent="response_rate", columns={k: v for k, v in columns.items() if k in rr})


def satisfaction_complaints(res):
    sat = res.satisfaction
    if sat is None or sat.complaints is None:
        return _SAID
    tr = _tr(res)
    c = _finite(_ordered(sat.complaints, res))
    columns = {"group": tr("col.tier"), "customers": tr("col.customers"),
               "complaints": tr("col.complaints"), "complaint_rate": tr("col.complaint_rate"),
               "share_resolved": tr("col.resolved"), "median_resolution_days": tr("col.resolve_days")}
    return table(c, percent="share_resolved", digits=1,
                 columns={k: v for k, v in columns.items() if k in c})


def satisfaction_link(res):
    sat = res.satisfaction
    if sat is None or sat.retention_link is None:
        return _SAID
    tr = _tr(res)
    link = _finite(sat.retention_link)
    columns = {"band": tr("col.satisfaction"), "respondents": tr("col.respondents"),
               "repurchase_rate": tr("col.bought_again"), "repurchase_low": tr("col.low95"),
               "repurchase_high": tr("col.high95"), "mean_p_alive": tr("col.p_alive_mean")}
    return table(link, percent=["repurchase_rate", "repurchase_low", "repurchase_high"],
                 columns={k: v for k, v in columns.items() if k in link})


def cohort_frame(res, *, max_periods: int = 12) -> pd.DataFrame:
    """The cohort retention matrix for the heatmap: month 0 (always 100 %) dropped, cohort
    sizes in the row labels (``2024-01 (399)``), at most ``max_periods`` months; a period cut
    by the observation end (``CohortMatrix.partial``) is left blank, as its share would look
    like a drop in retention."""
    share = res.cohorts.share
    if res.cohorts.partial is not None:
        share = share.mask(res.cohorts.partial.reindex_like(share).fillna(False).astype(bool))
    size = res.cohorts.size.reindex(share.index)
    cols = [c for c in share.columns if str(c) != "0"][:max_periods]
    out = share[cols].copy()
    out.index = [f"{idx} ({i18n.number(n)})" for idx, n in zip(share.index, size.to_numpy())]
    return out


def cohort_heatmap(res):
    """Repeat buying by acquisition cohort, with cohort sizes; the colour scale spans the
    months after the first (month 0 is 100 % by definition and would wash the scale out)."""
    tr = _tr(res)
    frame = cohort_frame(res)
    return plots.heatmap(frame, title=tr("plot.cohort_title"), fmt=".0%",
                         xlabel=tr("plot.months_since"), ylabel=tr("plot.cohort_axis"),
                         colorbar=tr("plot.cohort_bar"))


def churn_table(res):
    tr, r = _tr(res), res.config.retention
    ch = _finite(_ordered(res.churn, res))
    columns = {"group": tr("col.tier"), "buyers": tr("col.buyers"),
               "lapsed": tr("col.lapsed", days=r.churn_window_days),
               "churn_no_purchase": tr("col.share"), "no_purchase_low": tr("col.low95"),
               "no_purchase_high": tr("col.high95"),
               "below": tr("col.below", threshold=f"{r.p_alive_threshold:g}"),
               "churn_p_alive": tr("col.share") + " ", "p_alive_low": tr("col.low95") + " ",
               "p_alive_high": tr("col.high95") + " "}
    pct = [c for c in ("churn_no_purchase", "no_purchase_low", "no_purchase_high",
                       "churn_p_alive", "p_alive_low", "p_alive_high") if c in ch]
    return table(ch, percent=pct, columns={k: v for k, v in columns.items() if k in ch})


def churn_definitions(res):
    """The customers counted as churned by the scenario's primary definition (params
    ``retention.churn_definition``, the one headlines use) beside the other definitions the
    reports touch (lifecycle stage, RFM segment, P(alive), no purchase in a window), so their
    different numbers reconcile (``clvkit.retention.churn_reconciliation``)."""
    from clvkit.retention import churn_reconciliation

    tr, r = _tr(res), res.config.retention
    buyers = res.assignments.set_index("customer_id").reindex(res.scored.index)
    rec = churn_reconciliation(
        r.churn_definition, stages=buyers["stage"],
        segments=buyers["segment"] if res.config.segments.method == "rules" else None,
        p_alive=res.scored["p_alive"], transactions=res.transactions,
        observation_end=res.info.observation_end, window_days=r.churn_window_days,
        threshold=r.p_alive_threshold)
    rec["label"] = [tr(f"churn.def.{d}", threshold=f"{r.p_alive_threshold:g}",
                       days=r.churn_window_days) for d in rec["definition"]]
    rec["primary"] = rec["primary"].map({True: tr("churn.primary"), False: ""})
    return table(rec, percent="share", integer=["churned", "base"],
                 columns={"label": tr("col.churn_definition"), "churned": tr("col.churned"),
                          "base": tr("col.base"), "share": tr("col.share"),
                          "primary": tr("col.primary")},
                 caption=tr("cap.churn_definitions"))


def time_to_next_table(res):
    tr = _tr(res)
    med = _finite(_ordered(res.time_to_next.medians, res))
    columns = {"group": tr("col.tier"), "gaps": tr("col.gaps"), "events": tr("col.events"),
               "median_days": tr("col.median_days"), "median_low": tr("col.low95"),
               "median_high": tr("col.high95")}
    return table(med, digits=0, columns={k: v for k, v in columns.items() if k in med},
                 caption=tr("cap.open_interval"))


# ------------------------------------------------------------------------- 05 case study
def impact_summary(res):
    """Kept for notebooks of earlier versions: the verdict box (the header shows it now)."""
    if res.impact is None:
        return Markdown(str(pages.omitted(_tr(res)("omit.case"))))
    return pages.keypoints(briefing.verdict(res, language=_lang(res)), language=_lang(res))


def group_sizes(res):
    """Eligible, treated and comparison customers."""
    if res.impact is None:
        return _SAID
    tr = _tr(res)
    g = briefing.group_sizes(res)
    return definitions({tr("case.on_file"): g["customers"], tr("case.eligible"): g["eligible"],
                        tr("case.treated"): g["treated"], tr("case.comparison"): g["comparison"],
                        tr("case.start"): res.impact.windows["start"]}, term="", meaning="")


def trends_plot(res):
    """Both groups' spend per customer per month, before and after the start."""
    if res.impact is None:
        return _SAID
    tr = _tr(res)
    trend = briefing.group_trends(res)
    counts = counts_only(res)  # no amounts: the share of each group buying, not spend
    frame = trend.pivot(index="month", columns="group", values="buying" if counts else "spend").rename(
        columns={"treated": tr("case.treated_short"), "comparison": tr("case.comparison_short")})
    ax = plots.lines(frame, title=tr(_key(res, "plot.trends_title")), xlabel=tr("plot.month"),
                     ylabel=tr("plot.buying_share") if counts else
                     tr("plot.spend_per_customer", currency=res.info.currency))
    ax.axvline(res.impact.windows["start"], color=plots.PALETTE[3], linestyle=":", linewidth=1.5,
               label=tr("plot.programme_start"))
    ax.legend(frameon=False)
    return ax


def impact_effects_plot(res):
    """Each effect with its interval, one panel per outcome."""
    if res.impact is None:
        return _SAID
    tr = _tr(res)
    eff = res.impact.effects
    names = {o: tr(f"outcome.{o}") for o in eff.index}
    return plots.effects(eff.rename(index=names),
                         units={names.get("spend", "spend"): tr("unit.per_customer",
                                                                currency=res.info.currency)},
                         title=tr("plot.effects_title"))


def impact_effects_table(res):
    """The effects with both groups' levels before and after, beside each difference."""
    if res.impact is None:
        return _SAID
    tr = _tr(res)
    eff = _finite(res.impact.effects.reset_index())
    eff["outcome"] = eff["outcome"].map(lambda o: tr(f"outcome.{o}"))
    eff["unit"] = eff["unit"].map(lambda u: tr(f"unit.{u.replace(' ', '_')}") if u else
                                  tr("unit.per_customer", currency=res.info.currency))
    return table(eff, percent="relative", digits=2, caption=tr("cap.relative"),
                 columns={"outcome": tr("col.outcome"), "unit": tr("col.unit"),
                          "treated_pre": tr("col.treated_pre"), "treated_post": tr("col.treated_post"),
                          "comparison_pre": tr("col.comparison_pre"),
                          "comparison_post": tr("col.comparison_post"),
                          "estimate": tr("col.difference"), "low": tr("col.low95"),
                          "high": tr("col.high95"), "relative": tr("col.relative")})


def roi_table(res):
    """Return on the programme's cost when ``impact.cost_per_customer`` is given."""
    if not available(res, "case.roi"):
        return _SAID
    tr = _tr(res)
    r = briefing.roi(res)
    cur = res.info.currency
    return definitions({tr("roi.cost", currency=cur): r["cost_per_customer"],
                        tr("roi.uplift", currency=cur): r["uplift"],
                        tr("roi.interval"): f"{i18n.number(r['uplift_low'], digits=1)} – "
                                            f"{i18n.number(r['uplift_high'], digits=1)}",
                        tr("roi.total_cost", currency=cur): r["total_cost"],
                        tr("roi.total_uplift", currency=cur): r["total_uplift"],
                        tr("roi.roi"): i18n.percent(r["roi"], signed=True),
                        tr("roi.roi_interval"): f"{i18n.percent(r['roi_low'], signed=True)} – "
                                                f"{i18n.percent(r['roi_high'], signed=True)}"},
                       term="", meaning="")


def impact_balance(res):
    """Standardised mean differences of pre-programme characteristics."""
    if res.impact is None:
        return _SAID
    tr = _tr(res)
    bal = _finite(res.impact.balance)
    bal = bal.assign(characteristic=bal["characteristic"].map(
        lambda c: tr(f"bal.{c}") if f"bal.{c}" in i18n.keys(_lang(res)) else c),
        balanced=bal["balanced"].map(lambda b: tr("word.yes") if b else tr("word.no")))
    return table(bal, columns={"characteristic": tr("col.characteristic"),
                               "treated_mean": tr("col.treated_mean"),
                               "comparison_mean": tr("col.comparison_mean"), "smd": "SMD",
                               "balanced": tr("col.balanced")})


def assumptions(res):
    """The method's assumptions in plain words, and the caveats that apply to this run."""
    if res.impact is None:
        return _SAID
    items = briefing.assumptions(res, language=_lang(res))
    caveats = briefing.caveats(res, language=_lang(res))
    text = "\n".join(f"- {s}" for s in items)
    return Markdown(text + ("\n\n" + str(pages.caveat(caveats, language=_lang(res))) if caveats else ""))


def impact_method(res):
    """The design and the analysis windows."""
    if res.impact is None:
        return _SAID
    tr = _tr(res)
    w = res.impact.windows
    rows = {tr("method.design"): tr("method.did") if "difference" in res.impact.design
            else res.impact.design,
            tr("method.start"): w.get("start"), tr("method.pre_start"): w.get("pre_start"),
            tr("method.post_end"): w.get("post_end"), tr("method.window_days"): w.get("post_days"),
            tr("method.n_boot"): w.get("n_boot")}
    return definitions({k: v for k, v in rows.items() if v is not None}, term="", meaning="")


def model_name(key: str) -> str:
    """A model's report name (``bgnbd`` or ``BetaGeo`` -> "BG/NBD")."""
    return MODEL_NAMES.get(key, key)
