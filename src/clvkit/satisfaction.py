"""Satisfaction: CSAT, top-2-box and NPS with intervals, by tier / segment / stage and by month.

Definitions (also returned in :attr:`SatisfactionResult.definitions`):

* **CSAT** is the mean of 1–5 scores; its 95 % interval is Student's t on the sample standard
  deviation (clipped to the 1–5 scale).
* **Top-2-box** is the share of scores 4 or 5, with a Wilson score interval.
* **NPS** is 100 × (share of promoters, 9–10 − share of detractors, 0–6) on 0–10 scores; its
  interval is Wald on the multinomial variance ``(pP + pD − (pP − pD)²) / n`` (clipped to ±100).
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
    "csat": "mean CSAT score (1–5); 95 % CI Student's t, clipped to 1–5",
    "top2box": "share of CSAT scores 4 or 5; 95 % CI Wilson score interval",
    "nps": "100 × (share 9–10 − share 0–6) of NPS scores (0–10); 95 % CI Wald on the "
           "multinomial variance (pP + pD − (pP − pD)²)/n, clipped to ±100",
    "n": "responses with a score; a missing score is a non-response",
    "response_rate": "respondents / invited customers (invites table), else respondents / "
                     "customers in the group",
    "complaint_rate": "complaints per 100 customers in the group",
    "resolution_days": "median days to resolve, resolved complaints only",
    "csat_band": "a customer's mean CSAT: low (< 3), neutral (3 to < 4), high (≥ 4)",
    "repurchase_after_survey": "share of respondents with a purchase after their first response",
}
_Z = stats.norm.ppf(0.975)


def _scores(scores, lo: int, hi: int, name: str) -> np.ndarray:
    """Validate scores on an integer scale; return the non-missing ones as float."""
    s = scores if isinstance(scores, pd.Series) else pd.Series(list(np.ravel(scores)), dtype=object)
    num = pd.to_numeric(s.astype(object), errors="coerce").astype("Float64")
    text = s[num.isna() & s.notna()]
    if len(text):
        raise DataError(f"{len(text)} {name} scores are not numbers", column=name,
                        rows=text.iloc[:5], fix=f"use whole numbers {lo}–{hi} or blank cells")
    vals = num.dropna().to_numpy(dtype=float)
    bad = ~np.isin(vals, np.arange(lo, hi + 1))
    if bad.any():
        raise DataError(f"{bad.sum()} {name} scores outside the whole numbers {lo}–{hi}",
                        column=name, rows=vals[bad][:5],
                        fix=f"map the survey scale to {lo}–{hi} integers before analysis")
    if vals.size == 0:
        raise DataError(f"no {name} responses to summarise (all scores missing or none given)",
                        column=name, fix="check the survey table and the group it was filtered to")
    return vals


def _wilson(k: float, n: int, z: float = _Z) -> tuple[float, float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def csat(scores) -> Estimate:
    """Mean CSAT (1–5) with a Student-t 95 % interval.

    Raises
    ------
    DataError
        When a score is outside 1–5 or not whole, or no score is present.
    """
    v = _scores(scores, 1, 5, "csat")
    n, m = v.size, float(v.mean())
    if n < 2:
        return Estimate(m, 1.0, 5.0, n, "Student t (one response: whole scale)")
    half = stats.t.ppf(0.975, n - 1) * v.std(ddof=1) / np.sqrt(n)
    return Estimate(m, max(1.0, m - half), min(5.0, m + half), n, "Student t")


def top2box(scores) -> Estimate:
    """Share of CSAT scores 4 or 5 with a Wilson 95 % interval."""
    v = _scores(scores, 1, 5, "csat")
    k, n = float((v >= 4).sum()), v.size
    lo, hi = _wilson(k, n)
    return Estimate(k / n, float(lo), float(hi), n, "Wilson")


def nps(scores) -> Estimate:
    """Net promoter score (−100…100) with a Wald interval on the multinomial variance."""
    v = _scores(scores, 0, 10, "nps")
    n = v.size
    pp, pd_ = (v >= 9).mean(), (v <= 6).mean()
    value = 100.0 * (pp - pd_)
    se = 100.0 * np.sqrt(max(pp + pd_ - (pp - pd_) ** 2, 0.0) / n)
    return Estimate(float(value), float(max(-100.0, value - _Z * se)),
                    float(min(100.0, value + _Z * se)), n, "Wald, multinomial variance")


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
        e = fn(frame[col])
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
