"""Retention: cohort matrices, repeat purchase, churn by tier, time to next purchase, contracts.

Definitions (also in each result's ``definitions``):

* **Cohort** is the calendar period (``period="M"`` month, ``"W"`` week, ``"Q"`` quarter) of a
  customer's first purchase; **periods since** counts calendar periods after it (0 = the
  acquisition period). A cell is the share of the cohort with a purchase in that period; periods
  after the observation end are NaN (not observed), never 0.
* **Repeat-purchase rate** is the share of buyers with purchases on at least two distinct days
  (Wilson 95 % interval).
* **Churn, definition A (no purchase in a window)**: no purchase in the ``window_days`` before
  the observation end. **Definition B (P(alive))**: model P(alive) below ``threshold``.
* **Time to next purchase** is the gap in days between consecutive purchase days; a customer's
  last purchase is right-censored at the observation end. Kaplan–Meier (statsmodels
  ``SurvfuncRight``) with Greenwood standard errors and log(−log) pointwise 95 % intervals.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from clvkit.errors import DataError

_Z = stats.norm.ppf(0.975)
PERIODS = ("W", "M", "Q")
UNASSIGNED = "(unassigned)"


def _check_tx(transactions: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in ("customer_id", "date") if c not in transactions.columns]
    if missing:
        raise DataError(f"transactions lack {', '.join(missing)}; have "
                        f"{', '.join(map(str, transactions.columns))}", file="transactions",
                        column=missing[0], fix="map the columns in the params file")
    if transactions.empty:
        raise DataError("no transactions to analyse", file="transactions",
                        fix="check the data source and the cleaning ledger")
    return transactions


def _labels(ids, groups: pd.Series | None) -> pd.Series:
    ids = pd.Series(ids)
    if groups is None:
        return pd.Series("all", index=ids.index)
    lab = ids.map(groups)
    return lab.astype(object).where(lab.notna(), UNASSIGNED)


@dataclass(frozen=True)
class CohortMatrix:
    """Cohort × periods-since retention: ``share`` (0–1), ``active`` counts, cohort ``size``."""

    share: pd.DataFrame
    active: pd.DataFrame
    size: pd.Series
    period: str
    definitions: dict = field(default_factory=dict)


def cohort_matrix(transactions: pd.DataFrame, period: str = "M", *,
                  observation_end=None) -> CohortMatrix:
    """Acquisition cohort × periods since acquisition: share of the cohort that purchased.

    Parameters
    ----------
    transactions : DataFrame
        ``customer_id``, ``date``.
    period : {"W", "M", "Q"}
        Calendar period for cohorts and columns.
    observation_end : date-like, optional
        Last observed day (default: the last transaction); later periods are NaN.
    """
    _check_tx(transactions)
    if period not in PERIODS:
        raise DataError(f"unknown cohort period {period!r}", column="period",
                        fix=f"use one of {', '.join(PERIODS)}")
    per = transactions["date"].dt.to_period(period)
    code = per.array.asi8 if hasattr(per.array, "asi8") else per.map(lambda p: p.ordinal)
    code = pd.Series(np.asarray(code), index=transactions.index)
    first = code.groupby(transactions["customer_id"]).transform("min")
    since = code - first
    cells = pd.DataFrame({"cohort": first, "since": since,
                          "customer_id": transactions["customer_id"]}).drop_duplicates()
    active = cells.groupby(["cohort", "since"]).size().unstack("since", fill_value=0)
    size = active[0]
    end = pd.Timestamp(observation_end if observation_end is not None
                       else transactions["date"].max()).to_period(period).ordinal
    cols = np.arange(end - active.index.min() + 1)
    active = active.reindex(columns=cols, fill_value=0)
    observed = active.index.to_numpy()[:, None] + cols[None, :] <= end
    active = active.where(observed).astype("Float64").astype(float)
    share = active.div(size, axis=0)
    index = pd.PeriodIndex.from_ordinals(active.index, freq=period) if hasattr(
        pd.PeriodIndex, "from_ordinals") else pd.PeriodIndex(
        [pd.Period(ordinal=o, freq=period) for o in active.index])
    for f in (active, share):
        f.index, f.columns = index.rename("cohort"), pd.Index(cols, name="periods_since")
    size.index = index.rename("cohort")
    defs = {"share": "customers of the cohort with a purchase in the period / cohort size",
            "cohort": f"calendar period ({period}) of the first purchase",
            "not observed": "NaN: the period is after the observation end"}
    return CohortMatrix(share, active, size.rename("customers").astype("int64"), period, defs)


def _wilson(k, n):
    k, n = np.asarray(k, float), np.asarray(n, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        c = (p + _Z ** 2 / (2 * n)) / (1 + _Z ** 2 / n)
        h = _Z * np.sqrt(p * (1 - p) / n + _Z ** 2 / (4 * n * n)) / (1 + _Z ** 2 / n)
    return c - h, c + h


def repeat_purchase_rate(transactions: pd.DataFrame, groups: pd.Series | None = None
                         ) -> pd.DataFrame:
    """Share of buyers with purchases on at least two distinct days, per group (Wilson CI)."""
    _check_tx(transactions)
    days = transactions.assign(_d=transactions["date"].dt.normalize()).drop_duplicates(
        ["customer_id", "_d"]).groupby("customer_id").size()
    lab = _labels(days.index.to_series(), groups)
    out = pd.DataFrame({"group": lab.to_numpy(), "repeat": (days.to_numpy() >= 2)})
    out = out.groupby("group").agg(buyers=("repeat", "size"), repeat_buyers=("repeat", "sum"))
    out["repeat_rate"] = out["repeat_buyers"] / out["buyers"]
    out["low"], out["high"] = _wilson(out["repeat_buyers"], out["buyers"])
    return out.reset_index()


def churn_by_tier(transactions: pd.DataFrame, groups: pd.Series, *, observation_end=None,
                  window_days: int = 180, p_alive: pd.Series | None = None,
                  threshold: float = 0.5) -> pd.DataFrame:
    """Churn per tier under two labelled definitions (see the module docstring).

    ``churn_no_purchase`` counts buyers with no purchase in the ``window_days`` up to the
    observation end; ``churn_p_alive`` (when ``p_alive`` is given, indexed by customer_id)
    counts customers whose P(alive) is below ``threshold``. Both with Wilson 95 % intervals.
    """
    _check_tx(transactions)
    end = pd.Timestamp(observation_end if observation_end is not None
                       else transactions["date"].max()).normalize()
    last = transactions.groupby("customer_id")["date"].max()
    lapsed = last < end + pd.Timedelta(days=1) - pd.Timedelta(days=window_days)
    lab = _labels(last.index.to_series(), groups)
    out = pd.DataFrame({"group": lab.to_numpy(), "lapsed": lapsed.to_numpy()}).groupby("group").agg(
        buyers=("lapsed", "size"), lapsed=("lapsed", "sum"))
    out["churn_no_purchase"] = out["lapsed"] / out["buyers"]
    out["no_purchase_low"], out["no_purchase_high"] = _wilson(out["lapsed"], out["buyers"])
    if p_alive is not None:
        pa = p_alive.dropna()
        dead = pd.DataFrame({"group": _labels(pa.index.to_series(), groups).to_numpy(),
                             "dead": (pa < threshold).to_numpy()}).groupby("group").agg(
            scored=("dead", "size"), below=("dead", "sum"))
        out = out.join(dead, how="outer").fillna({"buyers": 0, "lapsed": 0})
        out["churn_p_alive"] = out["below"] / out["scored"]
        out["p_alive_low"], out["p_alive_high"] = _wilson(out["below"], out["scored"])
    out.attrs["definitions"] = {
        "churn_no_purchase": f"no purchase in the {window_days} days up to {end.date()}",
        "churn_p_alive": f"model P(alive) below {threshold}"}
    return out.reset_index()


def _km_ci(s, se):
    with np.errstate(divide="ignore", invalid="ignore"):
        se_ll = se / (s * np.abs(np.log(s)))
        lo, hi = s ** np.exp(_Z * se_ll), s ** np.exp(-_Z * se_ll)
    ok = (s > 0) & (s < 1) & np.isfinite(se_ll)
    return np.where(ok, lo, s), np.where(ok, hi, s)


@dataclass(frozen=True)
class SurvivalResult:
    """Kaplan–Meier curves of days to next purchase: ``curves`` and per-group ``medians``."""

    curves: pd.DataFrame
    medians: pd.DataFrame
    definitions: dict = field(default_factory=dict)


def time_to_next_purchase(transactions: pd.DataFrame, groups: pd.Series | None = None, *,
                          observation_end=None) -> SurvivalResult:
    """Kaplan–Meier survival of days to the next purchase, per group, censored at the end.

    Returns ``curves`` (group, days, survival, low, high, at_risk) and ``medians`` (group,
    gaps, events, median_days with its 95 % interval; NaN median = survival never fell to 0.5,
    said in ``note``).
    """
    from statsmodels.duration.survfunc import SurvfuncRight

    _check_tx(transactions)
    end = pd.Timestamp(observation_end if observation_end is not None
                       else transactions["date"].max()).normalize()
    d = transactions[["customer_id"]].assign(day=transactions["date"].dt.normalize())
    d = d.drop_duplicates().sort_values(["customer_id", "day"], kind="stable")
    nxt = d.groupby("customer_id")["day"].shift(-1)
    event = nxt.notna()
    gap = ((nxt.where(event, end) - d["day"]) / pd.Timedelta(days=1)).to_numpy(float)
    frame = pd.DataFrame({"group": _labels(d["customer_id"], groups).to_numpy(), "gap": gap,
                          "event": event.to_numpy().astype(int)})
    frame = frame[(frame["gap"] > 0) | (frame["event"] == 1)]  # bought on the last day: no time
    curves, medians = [], []
    for g, part in frame.groupby("group", sort=True):
        w = part.groupby(["gap", "event"]).size().reset_index(name="n")
        if not w["event"].any():
            medians.append({"group": g, "gaps": int(w["n"].sum()), "events": 0,
                            "median_days": np.nan, "median_low": np.nan, "median_high": np.nan,
                            "note": "no second purchases in this group"})
            continue
        sf = SurvfuncRight(w["gap"].to_numpy(float), w["event"].to_numpy(),
                           freq_weights=w["n"].to_numpy(float))
        lo, hi = _km_ci(sf.surv_prob, sf.surv_prob_se)
        curves.append(pd.DataFrame({"group": g, "days": sf.surv_times, "survival": sf.surv_prob,
                                    "low": lo, "high": hi, "at_risk": sf.n_risk}))
        med = sf.quantile(0.5) if sf.surv_prob.min() <= 0.5 else np.nan
        try:
            with np.errstate(divide="ignore", invalid="ignore"):
                mlo, mhi = sf.quantile_ci(0.5) if np.isfinite(med) else (np.nan, np.nan)
        except (ValueError, IndexError):
            mlo, mhi = np.nan, np.nan
        medians.append({"group": g, "gaps": int(w["n"].sum()),
                        "events": int(w.loc[w["event"] == 1, "n"].sum()), "median_days": med,
                        "median_low": mlo, "median_high": mhi,
                        "note": "" if np.isfinite(med) else
                        "fewer than half bought again within the observed time"})
    defs = {"gap": "days between consecutive purchase days; the last purchase is censored at "
                   f"{end.date()}",
            "interval": "Greenwood standard error, log(−log) pointwise 95 % interval"}
    curves = (pd.concat(curves, ignore_index=True) if curves else
              pd.DataFrame(columns=["group", "days", "survival", "low", "high", "at_risk"]))
    return SurvivalResult(curves, pd.DataFrame(medians), defs)


@dataclass(frozen=True)
class ContractProjection:
    """Shifted-beta-geometric projection of contract retention."""

    params: pd.Series
    table: pd.DataFrame
    definitions: dict = field(default_factory=dict)


def contract_retention(active: pd.DataFrame, *, horizon: int = 12) -> ContractProjection:
    """Fit the sBG on active counts per cohort and period, and project retention.

    Parameters
    ----------
    active : DataFrame
        ``cohort``, ``period`` (0 = acquisition), ``active`` (customers still under contract).
    horizon : int
        Periods to project.

    Returns
    -------
    ContractProjection
        ``table``: period, survival S(t), retention rate r(t), and the observed pooled survival
        where known.
    """
    need = [c for c in ("cohort", "period", "active") if c not in active.columns]
    if need:
        raise DataError(f"contract table lacks {', '.join(need)}", file="contracts",
                        column=need[0], fix="give cohort, period, active")
    from clvkit.models.sbg import ShiftedBetaGeo

    model = ShiftedBetaGeo().fit(active)
    params = pd.Series(model.params_, dtype=float)
    t = np.arange(horizon + 1)
    wide = active.pivot_table(index="period", columns="cohort", values="active")
    pooled = wide.div(wide.loc[0], axis=1).mean(axis=1)
    table = pd.DataFrame({"period": t, "survival": np.asarray(model.survival(t), dtype=float),
                          "retention_rate": np.r_[np.nan, np.asarray(
                              model.retention_rate(t[1:]), dtype=float)],
                          "observed_survival": pooled.reindex(t).to_numpy()})
    defs = {"survival": "S(t) = B(alpha, beta + t) / B(alpha, beta) (Fader & Hardie 2007)",
            "retention_rate": "r(t) = S(t) / S(t − 1)",
            "observed_survival": "mean over cohorts of active(t) / active(0)"}
    return ContractProjection(params, table, defs)
