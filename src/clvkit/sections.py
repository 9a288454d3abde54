"""What each report section shows for a scenario result -- or why it shows nothing.

A scenario may lack a part: no calibration period, no second tier dimension, no previous run,
no surveys, no programme. The report notebooks hold no control flow, so the decision lives here:
each function takes a :class:`clvkit.result.ScenarioResult` and returns something a notebook
displays -- a formatted table (``clvkit.display``), a figure's axes (``clvkit.plots``), or a
Markdown note saying the section is empty and which params key fills it. The first cell of an
empty section gets the note; its other cells return an empty Markdown, so the note is said once.
Formatting and drawing only: every number comes from the result.
"""
from __future__ import annotations

from IPython.display import Markdown

from clvkit import plots
from clvkit.display import table

__all__ = ["calibration_plot", "candidate_models", "header", "holdout_summary", "impact_balance",
           "impact_effects_plot", "impact_effects_table", "impact_method", "impact_summary",
           "migration_heatmap", "migration_table", "model_comparison", "satisfaction_complaints",
           "satisfaction_csat_plot", "satisfaction_link", "satisfaction_nps_plot",
           "satisfaction_response_rates", "satisfaction_table", "tier_grid", "tracking_plot"]

NO_CALIBRATION = ("Not checked: set `summary.calibration_end` in the params file (a date about a "
                  "third of the way back from the observation end) to see these diagnostics.")
NO_GRID = ("No second dimension is configured: set `tiers.second_dimension` in the params "
           "(lifecycle stage, RFM segment or a customer attribute) to cross the tiers with it.")
NO_MIGRATION = ("Not shown: migration compares this run with an earlier one. Set `previous_run:` "
                "in the params file to an earlier run's `tiers.csv` (for example "
                "`reports/<scenario>/latest/tiers.csv`) to see who moved up or down.")
NO_SURVEYS = ("Not available: this scenario has no survey data (`satisfaction.enabled: false`). "
              "Give a surveys table (and a complaints table) in the params file to see this "
              "section.")
NO_COMPLAINTS = "No complaints table in this scenario's data: add `data.complaints` to see it."
NO_PROGRAMME = ("## Not available for this scenario\n\nThere is no tiering programme in this data "
                "(`impact.enabled: false`). Give a programme table (who was eligible, who was "
                "treated) and the programme's start date in the params file to evaluate it.")
_SAID = Markdown("")  # an empty section's later cells: the note was already shown


def header(res) -> Markdown:
    """The line under a report's title: scenario, data source, observation end, run date."""
    i = res.info
    return Markdown(f"**{i.title}** · {i.source} · observation end {i.observation_end:%Y-%m-%d}"
                    f" · run {i.run_date:%Y-%m-%d}")


# ------------------------------------------------------------------------- models
def model_comparison(res):
    """The candidate purchase models on the full data and (with a holdout) their holdout error."""
    comp = res.model_choice.comparison
    columns = {"name": "model", "n_params": "parameters", "log_likelihood": "log-likelihood",
               "aic": "AIC", "holdout_mae": "holdout MAE", "holdout_rmse": "holdout RMSE",
               "chosen": "chosen"}
    return table(comp, digits=3, columns={k: v for k, v in columns.items() if k in comp.columns},
                 caption="Lower is better for AIC and the holdout errors (per customer)")


def holdout_summary(res) -> Markdown:
    """How well the chosen model, fitted on the calibration period, predicted the holdout."""
    cal = res.calibration
    if cal is None:
        return Markdown(NO_CALIBRATION)
    e, i = cal.errors, res.info
    return Markdown(
        f"Fitted on the purchases to {cal.calibration_end:%Y-%m-%d} ({cal.customers:,} "
        f"customers), the {res.model_choice.name} model predicted **{e['predicted_total']:,.0f}** "
        f"repeat purchases in the {cal.holdout_length:.0f} {i.time_unit} to "
        f"{i.observation_end:%Y-%m-%d}; the customers made **{e['actual_total']:,.0f}** "
        f"({e['predicted_total'] / e['actual_total'] - 1:+.1%}). Per customer the prediction is "
        f"off by {e['mae']:.2f} purchases on average (mean absolute error; root mean squared "
        f"error {e['rmse']:.2f}).")


def calibration_plot(res):
    """Mean holdout purchases by calibration frequency, actual against predicted."""
    cal = res.calibration
    if cal is None:
        return _SAID
    e = cal.errors
    return plots.calibration_holdout(
        cal.table, holdout=f"{cal.holdout_length:.0f} {res.info.time_unit}",
        title=f"Holdout purchases by past purchases: predicted {e['predicted_total']:,.0f}, "
              f"actual {e['actual_total']:,.0f}")


def tracking_plot(res, *, cumulative: bool = False):
    """Repeat transactions of the whole base per period (or cumulated), actual vs expected."""
    cal = res.calibration
    if cal is None:
        return _SAID
    track, unit = cal.tracking, res.info.time_unit.rstrip("s")
    title = None
    if cumulative:
        title = (f"Repeat transactions to {track['period_end'].iloc[-1]:%Y-%m-%d}: "
                 f"{track['actual_cumulative'].iloc[-1]:,.0f} actual, "
                 f"{track['expected_cumulative'].iloc[-1]:,.0f} expected")
    return plots.tracking(track, cumulative=cumulative, calibration_end=cal.calibration_end,
                          unit=unit, title=title)


def candidate_models(res):
    """Every candidate model fitted on the calibration period: fit and holdout error."""
    cal = res.calibration
    if cal is None:
        return _SAID
    return table(cal.candidates, digits=2, integer=["predicted_total", "actual_total"],
                 columns={"model": "model", "aic": "AIC", "bic": "BIC", "mae": "MAE",
                          "rmse": "RMSE", "bias": "bias",
                          "predicted_total": "predicted purchases",
                          "actual_total": "actual purchases"})


# -------------------------------------------------------------------------- tiers
def tier_grid(res):
    """Customers by tier and the second dimension, or a note when none is configured."""
    if res.grid is None:
        return Markdown(NO_GRID)
    return table(res.grid.counts, caption=f"Customers by tier and {res.grid.column}")


def migration_table(res):
    """Movements between tiers since the previous run, or a note without one."""
    if res.migration is None:
        return Markdown(NO_MIGRATION)
    return table(res.migration.summary.rename("customers"),
                 columns={"index": "movement", "customers": "customers"})


def migration_heatmap(res):
    """Customers by previous and current tier."""
    if res.migration is None:
        return _SAID
    return plots.heatmap(res.migration.counts, title="Customers by previous and current tier",
                         fmt=",.0f", xlabel="tier now", ylabel="tier in the previous run",
                         colorbar="customers")


# ------------------------------------------------------------------- satisfaction
def satisfaction_csat_plot(res):
    """Mean CSAT by tier with intervals (the section's note when there are no surveys)."""
    sat = res.satisfaction
    if sat is None:
        return Markdown(NO_SURVEYS)
    return plots.intervals(sat.by_group, value="csat", low="csat_low", high="csat_high",
                           label="group", title="Mean satisfaction (CSAT) by tier",
                           xlabel="mean CSAT (1–5), 95% interval")


def satisfaction_nps_plot(res):
    """NPS by tier with intervals."""
    sat = res.satisfaction
    if sat is None:
        return _SAID
    return plots.intervals(sat.by_group, value="nps", low="nps_low", high="nps_high",
                           label="group", reference=0, title="Net promoter score by tier",
                           xlabel="NPS (−100 to 100), 95% interval")


def satisfaction_table(res):
    """CSAT, top-2-box and NPS per tier."""
    sat = res.satisfaction
    if sat is None:
        return _SAID
    by = sat.by_group
    columns = {"group": "tier", "csat_n": "responses", "csat": "mean CSAT", "csat_low": "95% low",
               "csat_high": "95% high", "top2box": "CSAT 4–5", "nps": "NPS",
               "nps_low": "NPS 95% low", "nps_high": "NPS 95% high", "note": "note"}
    return table(by, percent=[c for c in ("top2box",) if c in by.columns],
                 columns={k: v for k, v in columns.items() if k in by.columns})


def satisfaction_response_rates(res):
    """Response rates per tier."""
    sat = res.satisfaction
    if sat is None:
        return Markdown(NO_SURVEYS)
    return table(sat.response_rates, percent="response_rate",
                 columns={"group": "tier", "base": "customers", "respondents": "respondents",
                          "response_rate": "response rate", "basis": "rate of"})


def satisfaction_complaints(res):
    """Complaints per tier."""
    sat = res.satisfaction
    if sat is None:
        return Markdown(NO_SURVEYS)
    if sat.complaints is None:
        return Markdown(NO_COMPLAINTS)
    return table(sat.complaints, percent="share_resolved", digits=1,
                 columns={"group": "tier", "customers": "customers", "complaints": "complaints",
                          "complaint_rate": "complaints per 100 customers",
                          "share_resolved": "resolved",
                          "median_resolution_days": "median days to resolve"})


def satisfaction_link(res):
    """Repurchase by satisfaction band."""
    sat = res.satisfaction
    if sat is None or sat.retention_link is None:
        return Markdown(NO_SURVEYS)
    return table(sat.retention_link, percent=["repurchase_rate", "repurchase_low",
                                              "repurchase_high"],
                 columns={"band": "satisfaction", "respondents": "respondents",
                          "repurchase_rate": "bought again", "repurchase_low": "95% low",
                          "repurchase_high": "95% high", "mean_p_alive": "mean P(alive)"})


# ------------------------------------------------------------------------- impact
def impact_summary(res) -> Markdown:
    """The case study's headlines and caveats, or why there is no case study."""
    imp = res.impact
    if imp is None:
        return Markdown(NO_PROGRAMME)
    caveats = ("**Read with care:** " + " ".join(imp.caveats)) if imp.caveats else "No caveats."
    return Markdown("## Executive summary\n\n- " + "\n- ".join(imp.headlines) + "\n\n" + caveats)


def impact_effects_plot(res):
    """Each effect with its interval, one panel per outcome."""
    if res.impact is None:
        return _SAID
    return plots.effects(res.impact.effects, units={"spend": f"{res.info.currency} per customer"},
                         title="Effect of the programme on the treated (dot: estimate; bar: 95% "
                               "interval)")


def impact_effects_table(res):
    """The effects with both groups' levels before and after."""
    if res.impact is None:
        return _SAID
    eff = res.impact.effects.replace({"unit": {"": f"{res.info.currency} per customer"}})
    return table(eff, percent="relative", digits=2,
                 caption="Relative change = effect / what the treated would have had without the "
                         "programme; undefined (–) when that baseline is 0 or below, as NPS can be",
                 columns={"outcome": "outcome", "unit": "unit", "treated_pre": "treated, before",
                          "treated_post": "treated, after", "comparison_pre": "comparison, before",
                          "comparison_post": "comparison, after", "estimate": "effect",
                          "low": "95% low", "high": "95% high", "relative": "relative change"})


def impact_balance(res):
    """Standardised mean differences of pre-programme characteristics."""
    if res.impact is None:
        return _SAID
    return table(res.impact.balance,
                 columns={"characteristic": "characteristic", "treated_mean": "treated mean",
                          "comparison_mean": "comparison mean", "smd": "SMD",
                          "balanced": "balanced"})


def impact_method(res):
    """The design, the analysis windows and how each number is defined."""
    from clvkit.display import definitions, header as readable

    if res.impact is None:
        return _SAID
    imp = res.impact
    windows = {readable(k): v for k, v in imp.windows.items()}
    return definitions({"design": imp.design, **windows, **imp.definitions},
                       term="setting", meaning="value")
