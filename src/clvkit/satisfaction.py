"""Satisfaction: CSAT, top-2-box and NPS with intervals, by tier / segment / stage and by month.

Definitions (also returned in :attr:`SatisfactionResult.definitions`):

* **CSAT** is the mean of 1–5 scores; its 95 % interval is Bayesian: the score shares get a
  Dirichlet(0.2, …, 0.2) prior, and the interval is the central 95 % of the posterior of the
  mean (a beta on [1, 5] with the posterior's mean and variance). Unlike Student's t it is never
  zero-width (three 5s are not "[5, 5]") and keeps ~90–95 % coverage at n = 5 near the scale's
  ends (bench/RESULTS.md).
* **Top-2-box** is the share of scores 4 or 5, with a Wilson score interval with continuity
  correction (Newcombe 1998, method 4): coverage ≥ 95 % at n = 5, 10, 30 for every true share.
* **NPS** is 100 × (share of promoters, 9–10 − share of detractors, 0–6) on 0–10 scores; its
  interval is an adjusted Wald interval: one pseudo-response of each kind is added (n + 3), the
  multinomial variance ``(pP + pD − (pP − pD)²) / (n + 3)`` is used, and the half-width gets a
  continuity correction 1/(2n) (clipped to ±100). Plain Wald covered a true NPS of 95 in 23 % of
  samples at n = 5; this one in ≥ 93 % across all true (promoter, detractor) shares.
* **Clustering**: when a customer answers several times, responses are not independent. The
  interval then uses an effective sample size n / deff, deff = (cluster-robust variance of the
  mean) / (independent-responses variance), floored at 1 (Kish's design effect).
* A missing score is a non-response: it is not a score and does not count in ``n``.
* **Response rate** is respondents / invited customers when an invites table is given, else
  respondents / customers in the group.

Groups are a Series indexed by ``customer_id`` whose values are the tier (or segment, or stage)
label — e.g. ``tiers.set_index("customer_id")["tier"]``. Responses from customers missing from
it are kept in a group named ``"(unassigned)"``, never dropped.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from clvkit.errors import DataError, StatisticalWarning
from clvkit.estimate import Estimate

UNASSIGNED = "(unassigned)"
DEFINITIONS = {
    "csat": "mean CSAT score (1–5); 95 % interval of its Dirichlet(0.2) posterior (never "
            "zero-width at small n)",
    "top2box": "share of CSAT scores 4 or 5; 95 % CI Wilson score interval with continuity "
               "correction",
    "nps": "100 × (share 9–10 − share 0–6) of NPS scores (0–10); 95 % CI adjusted Wald (one "
           "pseudo-response of each kind, continuity-corrected), clipped to ±100",
    "n": "responses with a score; a missing score is a non-response",
    "clustered": "intervals use the effective number of responses n / deff when customers "
                 "answered several times (deff: cluster-robust / independent variance, ≥ 1)",
    "response_rate": "respondents / invited customers (invites table), else respondents / "
                     "customers in the group",
    "complaint_rate": "complaints per 100 customers in the group",
    "resolution_days": "median days to resolve, resolved complaints only",
    "csat_band": "a customer's mean CSAT: low (< 3), neutral (3 to < 4), high (≥ 4)",
    "repurchase_after_survey": "share of respondents with a purchase after their first response",
}
_Z = stats.norm.ppf(0.975)


def _scores(scores, lo: int, hi: int, name: str, customers=None):
    """Validate scores on an integer scale; return the non-missing ones as float (and, given
    ``customers`` aligned with ``scores``, their customer ids)."""
    s = scores if isinstance(scores, pd.Series) else pd.Series(list(np.ravel(scores)), dtype=object)
    num = pd.to_numeric(s.astype(object), errors="coerce").astype("Float64")
    text = s[num.isna() & s.notna()]
    if len(text):
        raise DataError(f"{len(text)} {name} scores are not numbers", column=name,
                        rows=text.iloc[:5], fix=f"use whole numbers {lo}–{hi} or blank cells")
    keep = num.notna().to_numpy(dtype=bool)
    vals = num.to_numpy(dtype=float, na_value=np.nan)[keep]
    bad = ~np.isin(vals, np.arange(lo, hi + 1))
    if bad.any():
        raise DataError(f"{bad.sum()} {name} scores outside the whole numbers {lo}–{hi}",
                        column=name, rows=vals[bad][:5],
                        fix=f"map the survey scale to {lo}–{hi} integers before analysis")
    if vals.size == 0:
        raise DataError(f"no {name} responses to summarise (all scores missing or none given)",
                        column=name, fix="check the survey table and the group it was filtered to")
    if customers is None:
        return vals, None
    ids = np.asarray(customers, dtype=object)
    if ids.size != keep.size:
        raise DataError(f"{ids.size} customer ids for {keep.size} {name} scores", column=name,
                        fix="pass one customer id per score")
    return vals, ids[keep]


def design_effect(y, customers) -> float:
    """Kish design effect of the mean of ``y`` when responses cluster by customer (≥ 1).

    deff = Σ_c (S_c − ȳ n_c)² / Σ_i (y_i − ȳ)²: the cluster-robust (sandwich) variance of the
    mean, Σ_c (S_c − ȳ n_c)² / n², over the variance it would have were the n responses
    independent, Σ (y_i − ȳ)² / n². It is 1 when every customer answered once; floored at 1 so
    clustering never narrows an interval. With ``customers`` None, 1.
    """
    y = np.asarray(y, dtype=float)
    if customers is None or y.size < 2:
        return 1.0
    codes, _ = pd.factorize(np.asarray(customers, dtype=object))
    if codes.max() + 1 == y.size:
        return 1.0
    dev = y - y.mean()
    iid = float(dev @ dev)
    if iid <= 0:
        return 1.0
    s = np.bincount(codes, weights=dev)
    return max(1.0, float(s @ s) / iid)


def _effective_n(y, customers) -> tuple[float, str]:
    deff = design_effect(y, customers)
    n = y.size
    if deff <= 1.0:
        return float(n), ""
    n_eff = n / deff
    return n_eff, f"; clustered by customer (effective n {n_eff:.1f} of {n})"


def _wilson(k: float, n: int, z: float = _Z) -> tuple[float, float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def wilson_cc(k, n, z: float = _Z) -> tuple[float, float]:
    """Wilson score interval with continuity correction (Newcombe 1998, method 4).

    ``k`` successes of ``n`` (both may be fractional: an effective sample size). 0 and 1 are
    reached exactly at k = 0 and k = n.
    """
    k, n = float(k), float(n)
    p = k / n
    zz = z * z
    lo = (2 * n * p + zz - 1 - z * np.sqrt(max(zz - 2 - 1 / n + 4 * p * (n * (1 - p) + 1), 0.0))
          ) / (2 * (n + zz))
    hi = (2 * n * p + zz + 1 + z * np.sqrt(max(zz + 2 - 1 / n + 4 * p * (n * (1 - p) - 1), 0.0))
          ) / (2 * (n + zz))
    return (0.0 if k <= 0 else max(lo, 0.0)), (1.0 if k >= n else min(hi, 1.0))


def nps_interval(promoters, detractors, n, z: float = _Z) -> tuple[float, float]:
    """Adjusted Wald 95 % interval of the NPS (on −1…1) from counts (fractional allowed).

    One promoter, one passive and one detractor are added (n + 3), the multinomial variance of
    pP − pD is used and the half-width gets a continuity correction 1/(2n); clipped to [−1, 1].
    """
    m = n + 3.0
    a, b = (promoters + 1.0) / m, (detractors + 1.0) / m
    v = a - b
    half = z * np.sqrt(max(a + b - v * v, 0.0) / m) + 0.5 / n
    return max(-1.0, v - half), min(1.0, v + half)


def mean_score_interval(counts, lo: int = 1, level: float = 0.95, prior: float = 0.2
                        ) -> tuple[float, float]:
    """Interval for the mean of scores ``lo, lo + 1, …`` from their counts (fractional allowed).

    The shares get a Dirichlet(``prior``, …) prior; the posterior mean score has mean m and
    variance (Σ k² θ̄_k − m²) / (A + 1), A the posterior total. The interval is the central
    ``level`` of a beta on [lo, hi] with those moments. When every response is at the top (or
    bottom) of the scale that end is included, as Jeffreys' interval does for proportions.
    """
    c = np.asarray(counts, dtype=float)
    k = lo + np.arange(c.size)
    hi = lo + c.size - 1
    alpha = c + prior
    total = alpha.sum()
    theta = alpha / total
    m = float(theta @ k)
    var = float(theta @ (k * k) - m * m) / (total + 1)
    u, vu = (m - lo) / (hi - lo), var / (hi - lo) ** 2
    shape = u * (1 - u) / vu - 1
    q = stats.beta.ppf([(1 - level) / 2, (1 + level) / 2], u * shape, (1 - u) * shape)
    low, high = lo + (hi - lo) * q
    n = c.sum()
    if c[-1] >= n:
        high = float(hi)
    if c[0] >= n:
        low = float(lo)
    return float(low), float(high)


def csat(scores, customers=None) -> Estimate:
    """Mean CSAT (1–5) with a Bayesian (Dirichlet) 95 % interval (module doc).

    ``customers`` (aligned with ``scores``) makes the interval account for customers who
    answered several times.

    Raises
    ------
    DataError
        When a score is outside 1–5 or not whole, or no score is present.
    """
    v, ids = _scores(scores, 1, 5, "csat", customers)
    n, m = v.size, float(v.mean())
    n_eff, note = _effective_n(v, ids)
    counts = np.bincount(v.astype(int) - 1, minlength=5) * (n_eff / n)
    low, high = mean_score_interval(counts, 1)
    return Estimate(m, min(low, m), max(high, m), n, "Dirichlet(0.2) posterior" + note)


def top2box(scores, customers=None) -> Estimate:
    """Share of CSAT scores 4 or 5 with a continuity-corrected Wilson 95 % interval."""
    v, ids = _scores(scores, 1, 5, "csat", customers)
    y = (v >= 4).astype(float)
    k, n = float(y.sum()), v.size
    n_eff, note = _effective_n(y, ids)
    lo, hi = wilson_cc(k * n_eff / n, n_eff)
    return Estimate(k / n, float(lo), float(hi), n, "Wilson with continuity correction" + note)


def nps(scores, customers=None) -> Estimate:
    """Net promoter score (−100…100) with an adjusted Wald 95 % interval (module doc)."""
    v, ids = _scores(scores, 0, 10, "nps", customers)
    n = v.size
    y = (v >= 9).astype(float) - (v <= 6)
    n_eff, note = _effective_n(y, ids)
    pp, pd_ = (v >= 9).mean(), (v <= 6).mean()
    lo, hi = nps_interval(pp * n_eff, pd_ * n_eff, n_eff)
    value = 100.0 * (pp - pd_)
    return Estimate(float(value), float(min(100.0 * lo, value)), float(max(100.0 * hi, value)),
                    n, "adjusted Wald (+1 of each kind, continuity-corrected)" + note)


def check_surveys(surveys: pd.DataFrame, source: object = "surveys") -> pd.DataFrame:
    """Validate a survey table (customer_id, date, csat and/or nps) and return it unchanged."""
    missing = [c for c in ("customer_id", "date") if c not in surveys.columns]
    if missing or not ({"csat", "nps"} & set(surveys.columns)):
        raise DataError(f"survey table needs customer_id, date and csat and/or nps; has "
                        f"{', '.join(map(str, surveys.columns)) or 'no columns'}", file=source,
                        column=(missing or ["csat"])[0], fix="rename the columns in the params file")
    for col, lo, hi in (("csat", 1, 5), ("nps", 0, 10)):
        if col in surveys.columns:
            v = pd.to_numeric(surveys[col], errors="coerce")
            bad = surveys.index[(v.isna() & surveys[col].notna()) | (v < lo) | (v > hi)
                                | (v.notna() & (v % 1 != 0))]
            if len(bad):
                raise DataError(f"{len(bad)} {col} values outside the whole numbers {lo}–{hi}",
                                file=source, column=col, rows=bad,
                                fix=f"map the scale to {lo}–{hi} or blank the bad cells")
    return surveys


def _labels(customer_ids: pd.Series, groups: pd.Series | None) -> pd.Series:
    if groups is None:
        return pd.Series("all", index=customer_ids.index)
    lab = customer_ids.map(groups)
    return lab.astype(object).where(lab.notna(), UNASSIGNED)


def _estimates_row(frame: pd.DataFrame) -> dict:
    row: dict = {}
    for col, fn, name in (("csat", csat, "csat"), ("csat", top2box, "top2box"), ("nps", nps, "nps")):
        if col not in frame.columns or frame[col].notna().sum() == 0:
            row.update({f"{name}_n": 0, name: np.nan, f"{name}_low": np.nan, f"{name}_high": np.nan})
            continue
        e = fn(frame[col], frame["customer_id"] if "customer_id" in frame.columns else None)
        row.update({f"{name}_n": e.n, name: e.value, f"{name}_low": e.low, f"{name}_high": e.high})
    return row


def _note(row: dict) -> str:
    if row.get("csat_n", 0) == 0 and row.get("nps_n", 0) == 0:
        return "no survey responses"
    if min(row.get("csat_n", 0) or np.inf, row.get("nps_n", 0) or np.inf) < 30:
        return "fewer than 30 responses: wide interval"
    return ""


def by_group(surveys: pd.DataFrame, groups: pd.Series | None = None, *,
             all_groups: bool = True) -> pd.DataFrame:
    """CSAT, top-2-box and NPS with 95 % intervals per group (tier, segment or stage).

    A group with no responses gets a row with n = 0, NaN scores, a ``note`` saying so and a
    :class:`StatisticalWarning` naming it (so a missing number is never silent).
    """
    check_surveys(surveys)
    lab = _labels(surveys["customer_id"], groups)
    names = list(pd.unique(lab))
    if groups is not None and all_groups:
        names = list(pd.unique(groups.dropna())) + [x for x in names if x not in set(groups)]
    rows = []
    for g in names:
        row = {"group": g, **_estimates_row(surveys[lab == g])}
        row["note"] = _note(row)
        rows.append(row)
    out = pd.DataFrame(rows)
    empty = out.loc[out["note"] == "no survey responses", "group"].tolist()
    if empty:
        warnings.warn(f"no survey responses in group(s) {', '.join(map(str, empty))}: their "
                      "scores are NaN, not zero", StatisticalWarning, stacklevel=2)
    return out


def by_month(surveys: pd.DataFrame, groups: pd.Series | None = None) -> pd.DataFrame:
    """CSAT, top-2-box and NPS with intervals per calendar month (and group, when given)."""
    check_surveys(surveys)
    month = pd.to_datetime(surveys["date"]).dt.to_period("M")
    lab = _labels(surveys["customer_id"], groups)
    rows = []
    for (m, g), part in surveys.groupby([month, lab], sort=True):
        row = {"month": m, "group": g, **_estimates_row(part)}
        row["note"] = _note(row)
        rows.append(row)
    return pd.DataFrame(rows)


def response_rates(surveys: pd.DataFrame, groups: pd.Series, invites: pd.DataFrame | None = None,
                   *, max_ratio: float = 1.5) -> pd.DataFrame:
    """Response rate per group, warning when rates differ enough to bias a comparison.

    The warning fires when the highest rate is more than ``max_ratio`` times the lowest (and the
    difference is beyond chance, chi-square p < 0.05): satisfied or engaged customers answer
    more often, so groups with very different response rates are not comparable as they stand.
    """
    check_surveys(surveys)
    resp = surveys.dropna(subset=[c for c in ("csat", "nps") if c in surveys.columns], how="all")
    respondents = resp.groupby(_labels(resp["customer_id"], groups))["customer_id"].nunique()
    if invites is not None:
        base = invites.groupby(_labels(invites["customer_id"], groups))["customer_id"].nunique()
        basis = "invited customers"
    else:
        base = groups.value_counts()
        basis = "customers in the group"
    out = pd.DataFrame({"base": base, "respondents": respondents}).fillna(0).astype("int64")
    out.index.name = "group"
    out = out.reset_index()
    out["response_rate"] = np.where(out["base"] > 0, out["respondents"] / out["base"].clip(lower=1),
                                    np.nan)
    out["basis"] = basis
    ok = out[out["base"] > 0]
    if len(ok) >= 2:
        r = ok["response_rate"]
        table = np.c_[ok["respondents"], (ok["base"] - ok["respondents"]).clip(lower=0)]
        p = stats.chi2_contingency(table)[1] if (table.sum(axis=0) > 0).all() else 1.0
        if (r.min() == 0 or r.max() / r.min() > max_ratio) and p < 0.05:
            lo, hi = (f"{x:.0%}".replace("%", " %") for x in (r.min(), r.max()))
            warnings.warn(f"response rates differ across groups ({lo} to {hi}): "
                          "satisfaction comparisons between groups may be biased by who answers",
                          StatisticalWarning, stacklevel=2)
    return out


def complaints_by_group(complaints: pd.DataFrame, groups: pd.Series) -> pd.DataFrame:
    """Complaints per 100 customers, share resolved and resolution days per group."""
    need = ["customer_id", "date", "category", "resolved", "resolution_days"]
    missing = [c for c in need if c not in complaints.columns]
    if missing:
        raise DataError(f"complaints table lacks {', '.join(missing)}", file="complaints",
                        column=missing[0], fix="provide " + ", ".join(need))
    lab = _labels(complaints["customer_id"], groups)
    g = complaints.groupby(lab)
    out = pd.DataFrame({
        "customers": groups.value_counts(),
        "complaints": g.size(),
        "share_resolved": g["resolved"].mean(),
        "median_resolution_days": g["resolution_days"].median(),
        "mean_resolution_days": g["resolution_days"].mean(),
    })
    out[["customers", "complaints"]] = out[["customers", "complaints"]].fillna(0).astype("int64")
    out["complaint_rate"] = 100.0 * out["complaints"] / out["customers"].where(out["customers"] > 0)
    out.index.name = "group"
    return out.reset_index()


def csat_band(mean_csat: pd.Series) -> pd.Series:
    """Band a customer's mean CSAT: low (< 3), neutral (3 to < 4), high (≥ 4)."""
    return pd.cut(mean_csat, [-np.inf, 3, 4, np.inf], right=False,
                  labels=["low", "neutral", "high"])


def link_to_retention(surveys: pd.DataFrame, transactions: pd.DataFrame,
                      p_alive: pd.Series | None = None) -> pd.DataFrame:
    """Repurchase after the survey and mean P(alive) by CSAT band.

    Each respondent's band comes from their mean CSAT; repurchase is a purchase dated after their
    first response. ``p_alive`` (indexed by customer_id, e.g. the scored table) is optional.
    """
    check_surveys(surveys)
    s = surveys.dropna(subset=["csat"])
    if s.empty:
        raise DataError("no CSAT responses to link to retention", file="surveys", column="csat",
                        fix="provide surveys with CSAT scores")
    per = s.groupby("customer_id").agg(mean_csat=("csat", "mean"), first=("date", "min"))
    per["band"] = csat_band(per["mean_csat"].astype(float))
    last_buy = transactions.groupby("customer_id")["date"].max()
    per["repurchased"] = (per.index.map(last_buy) > per["first"]).astype(float)
    if p_alive is not None:
        per["p_alive"] = per.index.map(p_alive).astype(float)
    agg = {"respondents": ("repurchased", "size"), "repurchase_rate": ("repurchased", "mean")}
    if p_alive is not None:
        agg["mean_p_alive"] = ("p_alive", "mean")
    out = per.groupby("band", observed=False).agg(**agg).reset_index()
    lo_hi = [_wilson(r * n, n) if n else (np.nan, np.nan)
             for r, n in zip(out["repurchase_rate"], out["respondents"])]
    out["repurchase_low"], out["repurchase_high"] = zip(*lo_hi) if lo_hi else ([], [])
    return out


@dataclass(frozen=True)
class SatisfactionResult:
    """Tidy satisfaction analysis: frames plus the definitions used."""

    by_group: pd.DataFrame
    by_month: pd.DataFrame
    response_rates: pd.DataFrame
    complaints: pd.DataFrame | None
    retention_link: pd.DataFrame | None
    definitions: dict = field(default_factory=lambda: dict(DEFINITIONS))


def analyse(surveys: pd.DataFrame, groups: pd.Series, *, complaints: pd.DataFrame | None = None,
            invites: pd.DataFrame | None = None, transactions: pd.DataFrame | None = None,
            p_alive: pd.Series | None = None, max_ratio: float = 1.5) -> SatisfactionResult:
    """Run every satisfaction table for one grouping (tier, segment or stage)."""
    return SatisfactionResult(
        by_group=by_group(surveys, groups),
        by_month=by_month(surveys, groups),
        response_rates=response_rates(surveys, groups, invites, max_ratio=max_ratio),
        complaints=None if complaints is None else complaints_by_group(complaints, groups),
        retention_link=(None if transactions is None
                        else link_to_retention(surveys, transactions, p_alive)),
    )
