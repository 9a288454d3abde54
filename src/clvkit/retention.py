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
  last purchase is right-censored at the observation end. Kaplan–Meier with Greenwood standard
  errors computed from the weighted counts (:func:`kaplan_meier`), log(−log) pointwise 95 %
  intervals, and the median's Brookmeyer–Crowley interval.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from clvkit.errors import ConfigError, DataError

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
    """Cohort × periods-since retention: ``share`` (0–1), ``active`` counts, cohort ``size``.

    ``partial`` (same shape, bool) marks cells whose calendar period is cut by the observation
    end (e.g. a month observed up to its 10th): their share is not comparable with full periods.
    """

    share: pd.DataFrame
    active: pd.DataFrame
    size: pd.Series
    period: str
    definitions: dict = field(default_factory=dict)
    partial: pd.DataFrame | None = None


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
        Last observed day (default: the last transaction). Purchases after it are not counted,
        later periods are NaN, and a last period that ends after it is marked in ``partial``.
    """
    _check_tx(transactions)
    if period not in PERIODS:
        raise DataError(f"unknown cohort period {period!r}", column="period",
                        fix=f"use one of {', '.join(PERIODS)}")
    if observation_end is not None:
        last_day = pd.Timestamp(observation_end).normalize() + pd.Timedelta(days=1)
        transactions = transactions[transactions["date"] < last_day]
        _check_tx(transactions)
    per = transactions["date"].dt.to_period(period)
    code = per.array.asi8 if hasattr(per.array, "asi8") else per.map(lambda p: p.ordinal)
    code = pd.Series(np.asarray(code), index=transactions.index)
    first = code.groupby(transactions["customer_id"]).transform("min")
    since = code - first
    cells = pd.DataFrame({"cohort": first, "since": since,
                          "customer_id": transactions["customer_id"]}).drop_duplicates()
    active = cells.groupby(["cohort", "since"]).size().unstack("since", fill_value=0)
    end_day = pd.Timestamp(observation_end if observation_end is not None
                           else transactions["date"].max()).normalize()
    return cohort_from_counts(active, period, end_day)


def cohort_from_counts(active: pd.DataFrame, period: str, end_day) -> CohortMatrix:
    """The :class:`CohortMatrix` of :func:`cohort_matrix` from its counts: ``active`` holds the
    customers of each cohort (index: period ordinal of the first purchase) who bought in each
    period since (columns: 0, 1, ...); ``end_day`` is the last observed day. (The Spark engine
    counts the cells where the transactions live and builds the matrix here.)"""
    active = active.sort_index().sort_index(axis=1)
    size = active[0]
    end_day = pd.Timestamp(end_day).normalize()
    end = end_day.to_period(period).ordinal
    end_is_partial = end_day < end_day.to_period(period).end_time.normalize()
    cols = np.arange(end - active.index.min() + 1)
    active = active.reindex(columns=cols, fill_value=0)
    observed = active.index.to_numpy()[:, None] + cols[None, :] <= end
    active = active.where(observed).astype("Float64").astype(float)
    share = active.div(size, axis=0)
    partial = pd.DataFrame(end_is_partial & (active.index.to_numpy()[:, None] + cols[None, :]
                                             == end), index=active.index, columns=cols)
    index = pd.PeriodIndex.from_ordinals(active.index, freq=period) if hasattr(
        pd.PeriodIndex, "from_ordinals") else pd.PeriodIndex(
        [pd.Period(ordinal=o, freq=period) for o in active.index])
    for f in (active, share, partial):
        f.index, f.columns = index.rename("cohort"), pd.Index(cols, name="periods_since")
    size.index = index.rename("cohort")
    defs = {"share": "customers of the cohort with a purchase in the period / cohort size",
            "cohort": f"calendar period ({period}) of the first purchase",
            "not observed": "NaN: the period is after the observation end",
            "partial": f"the period containing {end_day.date()} is observed only up to that day "
                       "(purchases after it are not counted): its share is not final"}
    return CohortMatrix(share, active, size.rename("customers").astype("int64"), period, defs,
                        partial)


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


def kaplan_meier(time, event, weights=None) -> pd.DataFrame:
    """Kaplan–Meier estimate with Greenwood standard errors from (optionally weighted) counts.

    Each row is one observation (or ``weights`` identical ones: a compressed table). At each
    distinct event time t_j with d_j events among n_j at risk (everyone whose time is ≥ t_j),

        S(t_j) = Π_{i ≤ j} (1 − d_i / n_i),   Var S(t_j) = S(t_j)² Σ_{i ≤ j} d_i / (n_i (n_i − d_i))

    (Greenwood 1926). The weights are counts of identical rows, so n_j and d_j are sums of
    weights: this is the estimate and standard error of the expanded (one row per gap) data —
    unlike statsmodels' ``SurvfuncRight(freq_weights=...)``, whose standard errors are not
    Greenwood's on the expanded data.

    Returns
    -------
    DataFrame
        ``time`` (event times), ``at_risk``, ``events``, ``survival``, ``se``.
    """
    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=bool)
    w = np.ones(time.size) if weights is None else np.asarray(weights, dtype=float)
    times, inv = np.unique(time, return_inverse=True)
    total = np.bincount(inv, weights=w, minlength=times.size)
    d = np.bincount(inv, weights=w * event, minlength=times.size)
    at_risk = total[::-1].cumsum()[::-1]
    keep = d > 0
    times, d, at_risk = times[keep], d[keep], at_risk[keep]
    with np.errstate(divide="ignore", invalid="ignore"):
        surv = np.cumprod(1.0 - d / at_risk)
        term = np.where(at_risk > d, d / (at_risk * (at_risk - d)), np.inf)
        se = np.where(surv > 0, surv * np.sqrt(np.cumsum(term)), 0.0)
    return pd.DataFrame({"time": times, "at_risk": at_risk, "events": d, "survival": surv,
                         "se": se})


def km_quantile(km: pd.DataFrame, p: float = 0.5) -> tuple[float, float, float]:
    """The ``p`` quantile of the time (S(t) ≤ 1 − p first) and its 95 % interval.

    The interval is Brookmeyer–Crowley's test inversion on the log(−log) scale: the event times
    where |g(S(t)) − g(1 − p)| ≤ z · |g'(S(t))| · se(t), g(x) = log(−log x); its upper end is the
    next event time after the last such time (∞ when there is none) — the rule of statsmodels'
    ``SurvfuncRight.quantile_ci(method="cloglog")``.
    """
    s, se, t = (km[c].to_numpy(float) for c in ("survival", "se", "time"))
    below = np.flatnonzero(s <= 1 - p)
    q = float(t[below[0]]) if below.size else np.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        g = np.log(-np.log(s)) - np.log(-np.log(1 - p))
        r = g / (-1.0 / (s * np.log(s)) * se)
    inside = np.flatnonzero(np.abs(r) <= _Z)
    if not inside.size:
        return q, np.nan, np.nan
    hi = np.inf if inside[-1] == t.size - 1 else float(t[inside[-1] + 1])
    return q, float(t[inside[0]]), hi


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
        km = kaplan_meier(w["gap"], w["event"].astype(bool), w["n"])
        lo, hi = _km_ci(km["survival"].to_numpy(), km["se"].to_numpy())
        curves.append(pd.DataFrame({"group": g, "days": km["time"], "survival": km["survival"],
                                    "low": lo, "high": hi, "at_risk": km["at_risk"]}))
        med, mlo, mhi = km_quantile(km, 0.5)
        if not np.isfinite(med):
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


#: The churn definitions a scenario may choose as primary (``retention.churn_definition``).
CHURN_DEFINITIONS = {
    "stage_lost": "lifecycle stage 'lost'",
    "rfm_lost": "RFM segment 'lost'",
    "p_alive": "model P(alive) below {threshold:g}",
    "no_purchase": "no purchase in the {window_days} days up to {end}",
}


def check_churn_definition(name, key: str = "retention.churn_definition") -> str:
    """Validate a churn definition name (config loading calls it too)."""
    if name not in CHURN_DEFINITIONS:
        raise ConfigError(f"{name!r} is not a churn definition", key=key,
                          fix=f"use one of {', '.join(CHURN_DEFINITIONS)}")
    return name


def churn_reconciliation(primary: str, *, stages: pd.Series | None = None,
                         segments: pd.Series | None = None, p_alive: pd.Series | None = None,
                         transactions: pd.DataFrame | None = None, observation_end=None,
                         window_days: int = 180, threshold: float = 0.5) -> pd.DataFrame:
    """One primary churn count for every headline, the others footnoted with their numbers.

    Reports otherwise show several "lost / churned" counts that disagree (a lifecycle stage, an
    RFM segment, P(alive) below a threshold, no purchase in a window) without saying why. This
    table puts them side by side: the scenario's ``primary`` definition (params
    ``retention.churn_definition``) is the one headlines use; the others are footnotes.

    Parameters
    ----------
    primary : {"stage_lost", "rfm_lost", "p_alive", "no_purchase"}
    stages, segments, p_alive : Series indexed by customer_id, optional
        Lifecycle stage, RFM segment and P(alive) of each scored customer.
    transactions : DataFrame, optional
        ``customer_id``, ``date`` for the no-purchase window (up to ``observation_end``).

    Returns
    -------
    DataFrame
        ``definition`` (key), ``label`` (plain words), ``churned``, ``base`` (customers it
        applies to), ``share``, ``primary`` (bool) and ``note`` — the footnote text for the
        non-primary rows ("also: 1,675 by P(alive) below 0.5 — a model probability, not an
        observed lapse"), in that order with the primary first. A definition whose inputs were
        not given is left out.
    """
    check_churn_definition(primary)
    end = None
    rows = []
    why = {"stage_lost": "the lifecycle rule (P(alive) below the stage's lost floor)",
           "rfm_lost": "lowest recency and frequency scores (relative to this customer base)",
           "p_alive": "a model probability, not an observed lapse",
           "no_purchase": "observed inactivity, whatever the customer's usual pace"}
    if stages is not None:
        s = stages.dropna().astype(str)
        rows.append(("stage_lost", int((s == "lost").sum()), len(s)))
    if segments is not None:
        s = segments.dropna().astype(str)
        rows.append(("rfm_lost", int((s == "lost").sum()), len(s)))
    if p_alive is not None:
        p = p_alive.dropna().astype(float)
        rows.append(("p_alive", int((p < threshold).sum()), len(p)))
    if transactions is not None:
        _check_tx(transactions)
        end = pd.Timestamp(observation_end if observation_end is not None
                           else transactions["date"].max()).normalize()
        last = transactions.loc[transactions["date"] < end + pd.Timedelta(days=1)].groupby(
            "customer_id")["date"].max()
        lapsed = last < end + pd.Timedelta(days=1) - pd.Timedelta(days=window_days)
        rows.append(("no_purchase", int(lapsed.sum()), len(last)))
    if primary not in [r[0] for r in rows]:
        raise DataError(f"the primary churn definition {primary!r} has no data to count",
                        column=primary, fix="pass the table it needs (stages, segments, p_alive "
                                            "or transactions) or choose another definition")
    fmt = {"threshold": threshold, "window_days": window_days,
           "end": end.date() if end is not None else "the observation end"}
    out = pd.DataFrame(rows, columns=["definition", "churned", "base"])
    out["label"] = [CHURN_DEFINITIONS[d].format(**fmt) for d in out["definition"]]
    out["share"] = out["churned"] / out["base"].where(out["base"] > 0)
    out["primary"] = out["definition"] == primary
    out["note"] = [("" if p else f"also: {c:,} customers ({s:.0%}) by {lab} — "
                    f"{why[d]}".replace("%", " %"))
                   for d, c, s, lab, p in zip(out["definition"], out["churned"], out["share"],
                                               out["label"], out["primary"])]
    out = pd.concat([out[out["primary"]], out[~out["primary"]]], ignore_index=True)
    return out[["definition", "label", "churned", "base", "share", "primary", "note"]]


def churn_headline(reconciliation: pd.DataFrame) -> tuple[str, list[str]]:
    """The churn headline (primary definition) and the footnotes (the others, with numbers)."""
    p = reconciliation[reconciliation["primary"]].iloc[0]
    text = (f"{p['churned']:,} of {p['base']:,} customers ({p['share']:.0%}) have churned: "
            f"{p['label']}.").replace("%", " %")
    return text, [n for n in reconciliation["note"] if n]
