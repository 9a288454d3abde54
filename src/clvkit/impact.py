"""Programme impact: difference-in-differences with a cluster bootstrap, balance and caveats.

The tiering programme is evaluated on its *eligible* customers: the treated ones against the
eligible ones who did not get it (the comparison group), in a pre window ``[start − pre_days,
start)`` and a post window ``[start, start + post_days)``. For each outcome every group and window
gets a ratio-of-sums mean ``Σ numerator / Σ denominator`` over its customers, and

    uplift = (treated post − treated pre) − (comparison post − comparison pre),

its relative change is uplift / (treated pre + comparison post − comparison pre), the treated
group's expected post level without the programme. Intervals resample customers (a cluster
bootstrap: all of a customer's purchases and responses move together), separately within each
group (stratified), vectorised, seeded, percentile 95 %. Outcomes (see ``DEFINITIONS``) are on
the scale of ``clvkit.datasets.programme``'s true effects so simulated recovery can be checked.

Without a comparison group :func:`before_after` gives treated post − pre, labelled not causal.

**When is it an effect?** The difference-in-differences is unbiased when treatment was assigned
at random (coverage 93–98 % in bench/RESULTS.md). When the programme picked customers by a rule
(e.g. the most valuable), their pre-period outcomes were high partly by luck and fall back
afterwards (regression to the mean): a zero effect shows as a large negative "uplift". So

* the params say how treatment was assigned (``impact.assignment: random | rule`` and the rule);
* a **placebo** (:func:`placebo_check`) runs the same comparison on earlier windows, before the
  programme existed, where the true effect is zero;
* an **adjusted estimator** (:func:`adjusted_effects`, ANCOVA) regresses each customer's
  post-window outcome on treatment, their pre-window outcome and pre-start behaviour
  (purchases, spend, tenure, recency), which removes most of the regression to the mean
  that selection on those produced (bench/RESULTS.md: zero-effect simulations with selection on
  value);
* the headline says "effect of" only when assignment was random, the groups were balanced
  before the start (|SMD| ≤ 0.1) and the placebo shows no effect; otherwise "associated with",
  with the reasons (:func:`headline`), and leads with the adjusted estimate when assignment was
  by rule or unbalanced.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from clvkit.errors import ConfigError, DataError, StatisticalWarning
from clvkit.estimate import Estimate

OUTCOMES = ("csat", "nps", "repurchase", "conversion", "churn", "spend")
LABELS = {"csat": "Satisfaction (CSAT)", "nps": "Net promoter score", "repurchase":
          "Repurchase rate", "conversion": "Conversion of one-time buyers", "churn": "Churn",
          "spend": "Spend per customer"}
UNITS = {"csat": "points", "nps": "NPS points", "repurchase": "percentage points",
         "conversion": "percentage points", "churn": "percentage points", "spend": ""}
DEFINITIONS = {
    "csat": "mean CSAT (1–5) over the group's survey responses dated in the window",
    "nps": "NPS (−100…100) over the group's responses in the window",
    "repurchase": "% of customers who bought before the window and buy in it",
    "conversion": "% of one-time buyers (exactly one purchase day before the window) who buy "
                  "in it",
    "churn": "% of customers who bought before the window with no purchase in its last "
             "churn_window_days",
    "spend": "spend per customer in the window",
    "uplift": "(treated post − treated pre) − (comparison post − comparison pre)",
    "relative": "uplift / (treated pre + comparison post − comparison pre)",
    "interval": "95 % percentile interval of a stratified cluster bootstrap (customers resampled "
                "within each group)",
    "balance": "standardised mean difference (treated − comparison) / √((var_t + var_c)/2) of "
               "pre-start characteristics; |SMD| > 0.1 counts as unbalanced",
    "adjusted": "ANCOVA: per customer, post-window outcome regressed on treatment, the "
                "pre-window outcome and pre-start behaviour (purchases, spend, tenure, recency); "
                "the treatment coefficient with a heteroskedasticity-robust "
                "(HC3) 95 % interval",
    "placebo": "the same difference-in-differences on earlier windows ending at the programme "
               "start (no programme yet, true effect zero); an interval excluding zero means the "
               "groups were already drifting apart",
}
SMD_LIMIT = 0.1
_Z = 1.959963984540054
ASSIGNMENTS = ("random", "rule")


@dataclass(frozen=True)
class ImpactResult:
    """A tidy programme evaluation: per-outcome effects, balance, windows, words.

    ``effects`` has one row per outcome: ``estimate, low, high`` (absolute), ``relative,
    rel_low, rel_high``, the four group-window levels, group sizes, ``unit``, ``sentence`` and
    ``note`` (why an outcome could not be estimated, if so).
    """

    design: str
    effects: pd.DataFrame
    balance: pd.DataFrame
    windows: dict
    headlines: list
    caveats: list
    definitions: dict = field(default_factory=lambda: dict(DEFINITIONS))
    assignment: str = "random"
    rule: str | None = None
    adjusted: pd.DataFrame | None = None
    placebo: pd.DataFrame | None = None
    wording: pd.DataFrame | None = None

    def estimate(self, outcome: str) -> Estimate:
        """The absolute uplift of ``outcome`` as an :class:`Estimate`."""
        if outcome not in self.effects.index:
            raise DataError(f"outcome {outcome!r} was not evaluated; evaluated: "
                            f"{', '.join(self.effects.index)}", fix="add it to impact.outcomes")
        r = self.effects.loc[outcome]
        return Estimate(float(r["estimate"]), float(r["low"]), float(r["high"]),
                        int(r["n_treated"] + r["n_comparison"]), DEFINITIONS["interval"])


def _check_programme(programme: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in ("customer_id", "eligible", "treated") if c not in programme.columns]
    if missing:
        raise DataError(f"programme table lacks {', '.join(missing)}; has "
                        f"{', '.join(map(str, programme.columns))}", file="programme",
                        column=missing[0], fix="give customer_id, eligible (bool), treated (bool)")
    for c in ("eligible", "treated"):
        bad = programme.index[~programme[c].isin([True, False])]
        if len(bad):
            raise DataError(f"{len(bad)} non-boolean values", file="programme", column=c,
                            rows=programme.loc[bad[:5], "customer_id"], fix="use true/false")
    bad = programme[programme["treated"].astype(bool) & ~programme["eligible"].astype(bool)]
    if len(bad):
        raise DataError(f"{len(bad)} customers are treated but not eligible", file="programme",
                        column="treated", rows=bad["customer_id"],
                        fix="mark every treated customer eligible")
    dup = programme["customer_id"].duplicated()
    if dup.any():
        raise DataError(f"{dup.sum()} duplicated customer ids", file="programme",
                        column="customer_id", rows=programme.loc[dup, "customer_id"],
                        fix="one row per customer")
    if not programme["treated"].astype(bool).any():
        raise DataError("the programme has no treated customers: there is no effect to estimate",
                        file="programme", column="treated",
                        fix="check the treated flags or the programme table you loaded")
    return programme


def _windows(transactions, start, pre_days, post_days, observation_end) -> dict:
    start = pd.Timestamp(start).normalize()
    obs_end = pd.Timestamp(observation_end if observation_end is not None
                           else transactions["date"].max()).normalize()
    if start > obs_end:
        raise DataError(f"programme start {start.date()} is after the last data "
                        f"({obs_end.date()})", column="date", fix="check impact.programme_start")
    post_end = (obs_end + pd.Timedelta(days=1) if post_days is None
                else start + pd.Timedelta(days=int(post_days)))
    if post_end > obs_end + pd.Timedelta(days=1):
        raise DataError(f"post window ends {post_end.date()}, after the data end "
                        f"{obs_end.date()}", column="date",
                        fix=f"use post_days ≤ {(obs_end - start).days + 1} or newer data")
    length = (post_end - start).days if pre_days is None else int(pre_days)
    return {"start": start, "pre_start": start - pd.Timedelta(days=length),
            "post_end": post_end, "pre_days": length, "post_days": (post_end - start).days}


def outcome_panel(transactions: pd.DataFrame, programme: pd.DataFrame, *, start,
                  surveys: pd.DataFrame | None = None, pre_days=None, post_days=None,
                  observation_end=None, churn_window_days: int = 180) -> tuple[pd.DataFrame, dict]:
    """Per eligible customer, numerator and denominator of each outcome in each window.

    Columns ``<outcome>_<num|den>_<pre|post>``, plus ``treated`` and pre-start covariates for
    the balance check. Returns the panel and the windows used.
    """
    _check_programme(programme)
    w = _windows(transactions, start, pre_days, post_days, observation_end)
    prog = programme[programme["eligible"].astype(bool)]
    ids = pd.Index(prog["customer_id"])
    n = ids.size
    tx = transactions[transactions["customer_id"].isin(ids)]
    ci = ids.get_indexer(tx["customer_id"])
    day = tx["date"].dt.normalize()
    has_amt = "amount" in tx.columns  # data without amounts: no spend outcome or covariate
    amt = tx["amount"].to_numpy(dtype=float) if has_amt else np.zeros(len(tx))
    cols: dict[str, np.ndarray] = {}
    for name, lo, hi in (("pre", w["pre_start"], w["start"]), ("post", w["start"], w["post_end"])):
        before = (day < lo).to_numpy()
        inside = ((day >= lo) & (day < hi)).to_numpy()
        late = ((day >= hi - pd.Timedelta(days=churn_window_days)) & (day < hi)).to_numpy()
        existing = np.bincount(ci[before], minlength=n) > 0
        days_before = np.bincount(ids.get_indexer(
            tx.loc[before, ["customer_id"]].assign(d=day[before]).drop_duplicates()["customer_id"]),
            minlength=n)
        buys = np.bincount(ci[inside], minlength=n) > 0
        lapsed = np.bincount(ci[late], minlength=n) == 0
        one = days_before == 1
        cols |= {f"repurchase_num_{name}": 100.0 * (buys & existing),
                 f"repurchase_den_{name}": existing.astype(float),
                 f"conversion_num_{name}": 100.0 * (buys & one), f"conversion_den_{name}": one * 1.0,
                 f"churn_num_{name}": 100.0 * (lapsed & existing),
                 f"churn_den_{name}": existing.astype(float)}
        if has_amt:
            cols |= {f"spend_num_{name}": np.bincount(ci[inside], weights=amt[inside], minlength=n),
                     f"spend_den_{name}": np.ones(n)}
        if surveys is not None:
            s = surveys[surveys["customer_id"].isin(ids)]
            sd = pd.to_datetime(s["date"]).dt.normalize()
            s = s[((sd >= lo) & (sd < hi)).to_numpy()]
            si = ids.get_indexer(s["customer_id"])
            for o, score in (("csat", s.get("csat")),
                             ("nps", None if "nps" not in s else
                              100.0 * ((s["nps"] >= 9).astype(float) - (s["nps"] <= 6)))):
                if score is None:
                    continue
                v = pd.to_numeric(score, errors="coerce").astype("Float64").to_numpy(
                    dtype=float, na_value=np.nan)
                ok = ~np.isnan(v)
                cols[f"{o}_num_{name}"] = np.bincount(si[ok], weights=v[ok], minlength=n)
                cols[f"{o}_den_{name}"] = np.bincount(si[ok], minlength=n).astype(float)
    before_start = (day < w["start"]).to_numpy()
    first = pd.Series(tx["date"].to_numpy()[before_start]).groupby(ci[before_start]).min()
    last = pd.Series(tx["date"].to_numpy()[before_start]).groupby(ci[before_start]).max()
    cov = {"purchases before start": np.bincount(ci[before_start], minlength=n) * 1.0,
           **({"spend before start": np.bincount(ci[before_start], weights=amt[before_start],
                                                 minlength=n)} if has_amt else {}),
           "tenure days at start": (w["start"] - first.reindex(range(n))).dt.days.to_numpy(float),
           "days since last purchase at start":
               (w["start"] - last.reindex(range(n))).dt.days.to_numpy(float)}
    panel = pd.DataFrame({"customer_id": ids, "treated": prog["treated"].astype(bool).to_numpy(),
                          **cols, **{f"cov: {k}": v for k, v in cov.items()}})
    return panel, w


def _means(sums: np.ndarray) -> np.ndarray:
    """(..., 2 windows × 2 parts) sums → (..., 2) ratio means; 0/0 → NaN."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums[..., 0::2] / sums[..., 1::2]


def _boot_sums(x: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Column sums of ``x`` (customers × columns) over ``n_boot`` resamples of its rows."""
    n = x.shape[0]
    if n == 0:
        return np.zeros((n_boot, x.shape[1]))
    chunk = max(1, min(n_boot, 4_000_000 // n))
    out = []
    for b0 in range(0, n_boot, chunk):
        b = min(chunk, n_boot - b0)
        idx = rng.integers(0, n, size=(b, n)) + (np.arange(b) * n)[:, None]
        counts = np.bincount(idx.ravel(), minlength=b * n).reshape(b, n)
        out.append(counts @ x)
    return np.vstack(out)


def _num(x: float, signed: bool = False) -> str:
    """A number in plain words: 2 decimals below 10, 1 below 100, none above; '−' for minus."""
    d = 0 if abs(x) >= 100 else (1 if abs(x) >= 10 else 2)
    s = f"{abs(x):,.{d}f}"
    return ("−" if x < 0 else ("+" if signed else "")) + s


def _pct(x: float) -> str:
    return ("−" if x < 0 else "+") + f"{abs(x):.0%}".replace("%", " %")


def _sentence(o: str, r, design: str) -> str:
    if r["note"]:
        return f"{LABELS[o]}: not estimated — {r['note']}."
    u = f" {UNITS[o]}" if UNITS[o] else ""
    s = (f"{LABELS[o]} {_num(r['estimate'], True)}{u} "
         f"(95 % CI {_num(r['low'])} to {_num(r['high'])})")
    if np.isfinite(r["relative"]):
        ci = (f" (95 % CI {_pct(r['rel_low'])} to {_pct(r['rel_high'])})"
              if np.isfinite(r["rel_low"]) else "")
        s += (f", {_pct(r['relative'])}{ci} relative to {_num(r['counterfactual'])} expected "
              "without the programme")
    if design != "difference-in-differences":
        s += ", before vs after — not a causal estimate"
    if r["low"] <= 0 <= r["high"]:
        s += "; the interval includes zero, so the data cannot rule out no effect"
    return s + "."


def _estimate(panel: pd.DataFrame, outcomes, n_boot: int, seed: int, design: str) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    groups = [panel["treated"].to_numpy()]
    if design == "difference-in-differences":
        groups.append(~panel["treated"].to_numpy())
    rows = []
    present = [o for o in outcomes if f"{o}_num_pre" in panel.columns]
    cols = [f"{o}_{p}_{w}" for o in present for w in ("pre", "post") for p in ("num", "den")]
    sums = [panel.loc[g, cols].to_numpy(float).sum(axis=0) for g in groups]
    boots = [_boot_sums(panel.loc[g, cols].to_numpy(float), n_boot, rng) for g in groups]
    for k, o in enumerate(outcomes):
        row = {"outcome": o, "n_treated": int(groups[0].sum()),
               "n_comparison": int(groups[1].sum()) if len(groups) > 1 else 0, "unit": UNITS[o],
               "note": ""}
        if o not in present:
            row |= dict.fromkeys(["estimate", "low", "high", "relative", "rel_low", "rel_high",
                                  "treated_pre", "treated_post", "comparison_pre",
                                  "comparison_post", "counterfactual"], np.nan)
            row["note"] = "no survey table was given" if o in ("csat", "nps") else "no data"
            rows.append(row)
            continue
        j = present.index(o)
        sl = slice(4 * j, 4 * j + 4)
        lv = [_means(s[sl]) for s in sums]
        bv = [_means(b[:, sl]) for b in boots]
        t_pre, t_post = lv[0]
        c_pre, c_post = lv[1] if len(lv) > 1 else (0.0, 0.0)
        est = (t_post - t_pre) - (c_post - c_pre)
        cf = t_pre + (c_post - c_pre)
        b_est = (bv[0][:, 1] - bv[0][:, 0]) - ((bv[1][:, 1] - bv[1][:, 0]) if len(bv) > 1 else 0)
        b_cf = bv[0][:, 0] + ((bv[1][:, 1] - bv[1][:, 0]) if len(bv) > 1 else 0)
        row |= {"treated_pre": t_pre, "treated_post": t_post,
                "comparison_pre": c_pre if len(lv) > 1 else np.nan,
                "comparison_post": c_post if len(lv) > 1 else np.nan,
                "estimate": est, "counterfactual": cf}
        empty = [f"{g} {w}" for g, v in zip(("treated", "comparison"), lv)
                 for w, x in zip(("pre", "post"), v) if not np.isfinite(x)]
        if empty:
            what = "survey responses" if o in ("csat", "nps") else "customers in the outcome's base"
            row["note"] = f"no {what} in the {', '.join(empty)} window(s)"
            row |= dict.fromkeys(["estimate", "low", "high", "relative", "rel_low", "rel_high"],
                                 np.nan)
            rows.append(row)
            continue
        ok = np.isfinite(b_est)
        lo, hi = np.percentile(b_est[ok], [2.5, 97.5]) if ok.sum() >= 20 else (np.nan, np.nan)
        row |= {"low": lo, "high": hi}
        # Relative change: not for NPS (a difference of shares, its level can be ~0 or < 0);
        # its interval only when (almost) every resample keeps the counterfactual's sign.
        row |= {"relative": est / cf if o != "nps" and abs(cf) > 1e-9 else np.nan,
                "rel_low": np.nan, "rel_high": np.nan}
        same = ok & (b_cf * cf > 0)
        if np.isfinite(row["relative"]) and same.sum() >= 0.99 * ok.sum() and ok.sum() >= 20:
            rel = b_est[same] / b_cf[same]
            row |= {"rel_low": np.percentile(rel, 2.5), "rel_high": np.percentile(rel, 97.5)}
        if ok.sum() < 20:
            row["note"] = "too few resamples with responses in every group and window"
        rows.append(row)
    out = pd.DataFrame(rows).set_index("outcome")
    out["sentence"] = [_sentence(o, r, design) for o, r in out.iterrows()]
    return out


def _balance(panel: pd.DataFrame, surveys_given: bool) -> pd.DataFrame:
    t = panel["treated"].to_numpy()
    rows = []
    cov = {c.removeprefix("cov: "): panel[c].to_numpy(float)
           for c in panel.columns if c.startswith("cov: ")}
    if surveys_given and "csat_num_pre" in panel:
        with np.errstate(invalid="ignore", divide="ignore"):
            cov["mean CSAT in pre window (respondents)"] = (panel["csat_num_pre"]
                                                            / panel["csat_den_pre"]).to_numpy()
    for name, x in cov.items():
        a, b = x[t & np.isfinite(x)], x[~t & np.isfinite(x)]
        if a.size < 2 or b.size < 2:
            continue
        pooled = math.sqrt((a.var(ddof=1) + b.var(ddof=1)) / 2)
        smd = (a.mean() - b.mean()) / pooled if pooled > 0 else 0.0
        rows.append({"characteristic": name, "treated_mean": a.mean(), "comparison_mean": b.mean(),
                     "smd": smd, "balanced": abs(smd) <= SMD_LIMIT})
    return pd.DataFrame(rows, columns=["characteristic", "treated_mean", "comparison_mean", "smd",
                                       "balanced"])


def check_outcomes(outcomes, key: str = "impact.outcomes") -> tuple[str, ...]:
    """Validate the outcomes to estimate (params ``impact.outcomes``; config loading calls it
    too): at least one, none twice, each one of ``OUTCOMES``."""
    outcomes = tuple(outcomes)
    if not outcomes:
        raise ConfigError("no outcome listed", key=key, fix=f"list some of {', '.join(OUTCOMES)}")
    for i, outcome in enumerate(outcomes):
        if outcome not in OUTCOMES:
            raise ConfigError(f"{outcome!r} is not one of {', '.join(OUTCOMES)}",
                              key=f"{key}[{i}]")
        if outcome in outcomes[:i]:
            raise ConfigError(f"{outcome!r} is listed twice", key=f"{key}[{i}]")
    return outcomes


def check_assignment(assignment, rule=None, key: str = "impact") -> tuple[str, str | None]:
    """Validate how treatment was assigned (params ``impact.assignment`` / ``impact.rule``;
    config loading calls it too): ``random``, or ``rule`` with the rule said in words."""
    if assignment not in ASSIGNMENTS:
        raise ConfigError(f"unknown assignment {assignment!r}", key=f"{key}.assignment",
                          fix="say how treatment was assigned: random or rule (and give the rule)")
    if assignment == "rule" and not (rule and str(rule).strip()):
        raise ConfigError("assignment by rule needs the rule", key=f"{key}.rule",
                          fix="say who was picked, e.g. 'top 20 % by spend in 2023'")
    return assignment, rule


def _result(panel, w, outcomes, n_boot, seed, design, surveys_given, churn_window_days,
            assignment="random", rule=None, placebo=None):
    outcomes = check_outcomes(outcomes)
    if assignment not in ASSIGNMENTS:
        raise ConfigError(f"unknown assignment {assignment!r}", key="impact.assignment",
                          fix="say how treatment was assigned: random or rule (and give the rule)")
    effects = _estimate(panel, list(outcomes), n_boot, seed, design)
    balance = (_balance(panel, surveys_given) if design == "difference-in-differences"
               else pd.DataFrame(columns=["characteristic", "treated_mean", "comparison_mean",
                                          "smd", "balanced"]))
    caveats = []
    if design != "difference-in-differences":
        caveats.append("There is no comparison group: the before/after change mixes the "
                       "programme with everything else that changed over time. It is not causal.")
    off = balance[~balance["balanced"].astype(bool)] if len(balance) else balance
    if len(off):
        caveats.append("Treated and comparison customers differed before the programme on "
                       + "; ".join(f"{r.characteristic} (SMD {r.smd:+.2f})"
                                   for r in off.itertuples())
                       + ": the uplift may partly reflect who was chosen, not the programme.")
    for o, r in effects.iterrows():
        if r["note"]:
            caveats.append(f"{LABELS[o]} could not be estimated: {r['note']}.")
            warnings.warn(f"impact: {LABELS[o]} not estimated — {r['note']}", StatisticalWarning,
                          stacklevel=3)
        elif r["low"] <= 0 <= r["high"]:
            caveats.append(f"{LABELS[o]}: the 95 % interval includes zero; the programme's effect "
                           "on it is not distinguishable from none.")
    adjusted = (adjusted_effects(panel, list(outcomes)) if design == "difference-in-differences"
                else None)
    wording = pd.DataFrame([dict(zip(("causal", "reason"), causal_wording(
        assignment, balance, placebo, o, rule=rule, design=design)), outcome=o)
        for o in effects.index]).set_index("outcome")
    if placebo is not None and "note" in placebo.attrs:
        caveats.append(placebo.attrs["note"] + ".")
    windows = {**w, "churn_window_days": churn_window_days, "n_boot": n_boot, "seed": seed}
    res = ImpactResult(design, effects, balance, windows, [], caveats, assignment=assignment,
                       rule=rule, adjusted=adjusted, placebo=placebo, wording=wording)
    effects["sentence"] = [headline(res, o)[0] for o in effects.index]
    res.headlines.extend(r["sentence"] for _, r in effects.iterrows() if not r["note"])
    return res


def _ols_robust(y: np.ndarray, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """OLS coefficients and HC3 (heteroskedasticity- and leverage-robust) standard errors.

    HC3 (MacKinnon & White 1985) divides each squared residual by (1 − h_i)², h_i the leverage:
    spend is heavy-tailed (a few bulk buyers), where HC0/HC1 understate the variance.
    """
    xtx_inv = np.linalg.pinv(X.T @ X)
    beta = xtx_inv @ (X.T @ y)
    e = y - X @ beta
    h = np.einsum("ij,jk,ik->i", X, xtx_inv, X)
    w = (e / np.maximum(1.0 - h, 1e-12)) ** 2
    cov = xtx_inv @ ((X * w[:, None]).T @ X) @ xtx_inv
    return beta, np.sqrt(np.maximum(np.diag(cov), 0.0))


def adjusted_effects(panel: pd.DataFrame, outcomes=OUTCOMES, *, min_per_group: int = 20
                     ) -> pd.DataFrame:
    """ANCOVA estimate of each outcome's effect, adjusting for pre-period behaviour.

    Per customer in the outcome's post-window base, ``y_post`` is regressed (OLS) on a
    constant, ``treated``, ``y_pre`` (0 with an indicator where the customer was not in the
    pre-window base, e.g. a one-time buyer for conversion) and the pre-start covariates of the
    panel (purchases, spend, tenure, days since the last purchase); the ``treated`` coefficient
    is the estimate,
    with an HC3 robust 95 % interval. One row per customer, so the robust interval is clustered
    by customer. (Richer forms — average order, spend rate, a log-link model — were tried on the
    zero-effect simulations of bench/bench_impact_coverage.py and covered no better.)

    Returns
    -------
    DataFrame
        Index ``outcome``; ``estimate, low, high, n_treated, n_comparison, note``.
    """
    t_all = panel["treated"].to_numpy(bool)
    cov = {c.removeprefix("cov: "): panel[c].to_numpy(float)
           for c in panel.columns if c.startswith("cov: ")}
    rows = []
    for o in outcomes:
        row = {"outcome": o, "estimate": np.nan, "low": np.nan, "high": np.nan,
               "n_treated": 0, "n_comparison": 0, "note": ""}
        if f"{o}_num_pre" not in panel.columns:
            row["note"] = "no survey table was given" if o in ("csat", "nps") else "no data"
            rows.append(row)
            continue
        den_pre, den_post = (panel[f"{o}_den_{w}"].to_numpy(float) for w in ("pre", "post"))
        ok = den_post > 0
        with np.errstate(invalid="ignore", divide="ignore"):
            y = panel[f"{o}_num_post"].to_numpy(float) / den_post
            y_pre = np.where(den_pre > 0, panel[f"{o}_num_pre"].to_numpy(float) / den_pre,
                             np.nan)
        t = t_all[ok]
        row |= {"n_treated": int(t.sum()), "n_comparison": int((~t).sum())}
        if t.sum() < min_per_group or (~t).sum() < min_per_group:
            row["note"] = (f"fewer than {min_per_group} customers per group with the outcome "
                           "in the post window")
            rows.append(row)
            continue
        X = np.column_stack([t.astype(float), y_pre[ok], *(x[ok] for x in cov.values())])
        missing = ~np.isfinite(X)
        if missing.any():   # no pre-window outcome / purchase before start: 0 and a flag
            flags = [missing[:, j].astype(float) for j in range(X.shape[1]) if missing[:, j].any()]
            X = np.column_stack([np.where(missing, 0.0, X), *flags])
        X = np.column_stack([np.ones(X.shape[0]), X])
        beta, se = _ols_robust(y[ok], X)
        row |= {"estimate": beta[1], "low": beta[1] - _Z * se[1], "high": beta[1] + _Z * se[1]}
        rows.append(row)
    return pd.DataFrame(rows).set_index("outcome")


def placebo_check(transactions: pd.DataFrame, programme: pd.DataFrame, *, start,
                  surveys: pd.DataFrame | None = None, outcomes=OUTCOMES, post_days=None,
                  observation_end=None, churn_window_days: int = 180, n_boot: int = 500,
                  seed: int = 0, min_days: int = 30) -> pd.DataFrame:
    """Difference-in-differences on earlier windows, where the programme cannot have acted.

    The placebo windows are the L days up to the real start (placebo post) and the L days
    before them (placebo pre), L = the post window's length or a third of the data before the
    start, whichever is shorter (the earliest third tells who was already a customer). Only data
    before the real start are used. A true effect of zero is
    expected: an interval that excludes zero says the treated and comparison groups were
    already moving apart (the parallel-trends assumption fails) or were chosen on a transient.

    Returns
    -------
    DataFrame
        Index ``outcome``: ``estimate, low, high, shows_effect`` and the placebo windows in
        ``attrs["windows"]``; empty with ``attrs["note"]`` when there is too little earlier data.
    """
    w = _windows(transactions, start, None, post_days, observation_end)
    first = pd.Timestamp(transactions["date"].min()).normalize()
    # three segments before the start: history (who was a customer), placebo pre, placebo post
    length = min(w["post_days"], (w["start"] - first).days // 3)
    fake = w["start"] - pd.Timedelta(days=length)
    pre = length
    empty = pd.DataFrame(columns=["estimate", "low", "high", "shows_effect"])
    if length < min_days:
        empty.attrs["note"] = (f"no placebo: the data begin {first.date()}, too close to the "
                               f"programme start for earlier windows of {min_days}+ days")
        return empty
    before = transactions[transactions["date"] < w["start"]]
    srv = None if surveys is None else surveys[pd.to_datetime(surveys["date"]) < w["start"]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StatisticalWarning)
        res = difference_in_differences(
            before, programme, start=fake, surveys=srv, outcomes=outcomes, pre_days=pre,
            post_days=length, observation_end=w["start"] - pd.Timedelta(days=1),
            churn_window_days=churn_window_days, n_boot=n_boot, seed=seed,
            _placebo=False)
    out = res.effects[["estimate", "low", "high"]].copy()
    out["shows_effect"] = ~((out["low"] <= 0) & (0 <= out["high"])) & out["low"].notna()
    out.attrs["windows"] = {"pre_start": res.windows["pre_start"], "start": fake,
                            "post_end": w["start"]}
    return out


def causal_wording(assignment: str, balance: pd.DataFrame, placebo: pd.DataFrame | None,
                   outcome: str, *, rule: str | None = None,
                   design: str = "difference-in-differences") -> tuple[bool, str]:
    """Whether ``outcome``'s headline may say "effect of", and why not when it may not.

    "Effect of" needs all of: a comparison group, random assignment, balance before the start
    (every |SMD| ≤ 0.1) and a placebo on earlier windows whose interval includes zero. Returns
    ``(causal, reason)``; ``reason`` lists every failed condition in plain words ("" if none).
    """
    reasons = []
    if design != "difference-in-differences":
        reasons.append("there is no comparison group")
    if assignment == "rule":
        reasons.append("treatment was assigned by rule" + (f" ({rule})" if rule else "")
                       + ", not at random")
    if len(balance) and not balance["balanced"].astype(bool).all():
        off = balance[~balance["balanced"].astype(bool)]
        reasons.append("treated and comparison customers differed before the start ("
                       + ", ".join(f"{r.characteristic} SMD {r.smd:+.2f}"
                                   for r in off.itertuples()) + ")")
    if placebo is not None and outcome in placebo.index and bool(placebo.loc[outcome,
                                                                              "shows_effect"]):
        r = placebo.loc[outcome]
        reasons.append(f"a placebo on earlier windows, before the programme, already shows a "
                       f"difference ({_num(r['estimate'], True)}, 95 % CI {_num(r['low'])} to "
                       f"{_num(r['high'])})")
    return not reasons, "; ".join(reasons)


def headline(result: "ImpactResult", outcome: str) -> tuple[str, str]:
    """The headline sentence of ``outcome`` and the reason for its wording.

    "Effect of the programme on …" when :func:`causal_wording` allows it, else "… associated
    with the programme (not shown to be its effect: <reasons>)". Each sentence gives both
    groups' levels before and after next to the difference, and, when assignment was by rule or
    the groups were unbalanced, leads with the estimate adjusted for pre-period behaviour.
    """
    r = result.effects.loc[outcome]
    if r["note"]:
        return f"{LABELS[outcome]}: not estimated — {r['note']}.", r["note"]
    w = result.wording.loc[outcome] if result.wording is not None else None
    causal, reason = (bool(w["causal"]), str(w["reason"])) if w is not None else (True, "")
    u = f" {UNITS[outcome]}" if UNITS[outcome] else ""
    adj = (result.adjusted.loc[outcome] if result.adjusted is not None
           and outcome in result.adjusted.index else None)
    lead_adjusted = (not causal and adj is not None and np.isfinite(adj["estimate"])
                     and result.design == "difference-in-differences")
    est = adj if lead_adjusted else r
    number = (f"{_num(est['estimate'], True)}{u} (95 % CI {_num(est['low'])} to "
              f"{_num(est['high'])})")
    if lead_adjusted:
        number += (f" adjusted for pre-programme behaviour (unadjusted difference-in-differences "
                   f"{_num(r['estimate'], True)}, 95 % CI {_num(r['low'])} to {_num(r['high'])})")
    elif np.isfinite(r["relative"]) and result.design == "difference-in-differences":
        number += (f", {_pct(r['relative'])} relative to {_num(r['counterfactual'])} expected "
                   "without the programme")
    levels = f"treated {_num(r['treated_pre'])} → {_num(r['treated_post'])}"
    if np.isfinite(r["comparison_pre"]):
        levels += f", comparison {_num(r['comparison_pre'])} → {_num(r['comparison_post'])}"
    levels += " (before → after)"
    if result.design != "difference-in-differences":
        text = (f"{LABELS[outcome]}: {number}, before vs after — not a causal estimate "
                f"({reason}); {levels}")
    elif causal:
        text = f"Effect of the programme on {LABELS[outcome].lower()}: {number}; {levels}"
    else:
        text = (f"{LABELS[outcome]}: {number} in treated vs comparison customers, associated "
                f"with the programme — not shown to be its effect, because {reason}; {levels}")
    if est["low"] <= 0 <= est["high"]:
        text += "; the interval includes zero, so the data cannot rule out no effect"
    return text + ".", reason


def levels_table(result: "ImpactResult") -> pd.DataFrame:
    """Both groups' levels before and after next to each difference (one row per outcome).

    Columns: outcome, label, unit, treated_before, treated_after, comparison_before,
    comparison_after, difference (difference-in-differences) with low / high, adjusted
    estimate with adjusted_low / adjusted_high, placebo estimate with placebo_low /
    placebo_high, wording ("effect of" / "associated with") and reason.
    """
    e = result.effects
    out = pd.DataFrame({
        "outcome": e.index, "label": [LABELS[o] for o in e.index], "unit": e["unit"].to_numpy(),
        "treated_before": e["treated_pre"].to_numpy(), "treated_after": e["treated_post"].to_numpy(),
        "comparison_before": e["comparison_pre"].to_numpy(),
        "comparison_after": e["comparison_post"].to_numpy(),
        "difference": e["estimate"].to_numpy(), "low": e["low"].to_numpy(),
        "high": e["high"].to_numpy()})
    for name, frame in (("adjusted", result.adjusted), ("placebo", result.placebo)):
        f = (frame if frame is not None else pd.DataFrame()).reindex(e.index)
        out[name] = f.get("estimate", pd.Series(np.nan, index=e.index)).to_numpy(dtype=float)
        out[f"{name}_low"] = f.get("low", pd.Series(np.nan, index=e.index)).to_numpy(dtype=float)
        out[f"{name}_high"] = f.get("high", pd.Series(np.nan, index=e.index)).to_numpy(
            dtype=float)
    wd = result.wording.reindex(e.index) if result.wording is not None else None
    out["wording"] = (["effect of" if c else "associated with" for c in wd["causal"]]
                      if wd is not None else "effect of")
    out["reason"] = wd["reason"].fillna("").to_numpy() if wd is not None else ""
    return out


def difference_in_differences(transactions: pd.DataFrame, programme: pd.DataFrame, *, start,
                              surveys: pd.DataFrame | None = None, outcomes=OUTCOMES,
                              pre_days: int | None = None, post_days: int | None = None,
                              observation_end=None, churn_window_days: int = 180,
                              n_boot: int = 1000, seed: int = 0, assignment: str = "random",
                              rule: str | None = None, _placebo: bool = True) -> ImpactResult:
    """Difference-in-differences uplift of the programme, treated vs eligible comparison.

    Parameters
    ----------
    transactions, programme, surveys : DataFrame
        Tables of docs/DATA.md; only eligible customers are analysed.
    start : date-like
        Programme start. The post window runs ``post_days`` from it (default: to the data end),
        the pre window ``pre_days`` before it (default: as long as the post window).
    outcomes : sequence of str
        Any of ``OUTCOMES``; CSAT / NPS need ``surveys``.
    churn_window_days : int
        The churn outcome's window (no purchase in the window's last that many days).
    n_boot, seed : int
        Bootstrap resamples and their seed.
    assignment : {"random", "rule"}
        How treatment was assigned (``impact.assignment`` in the params); ``rule`` says how.

    Returns
    -------
    ImpactResult
        ``effects`` per outcome with 95 % intervals and sentences, ``balance``, the ``adjusted``
        (ANCOVA) estimates, the ``placebo`` check, the ``wording`` of each headline, caveats.

    Raises
    ------
    DataError
        Bad programme table, no treated customers, no comparison customers, windows past the data.
    """
    panel, w = outcome_panel(transactions, programme, start=start, surveys=surveys,
                             pre_days=pre_days, post_days=post_days,
                             observation_end=observation_end, churn_window_days=churn_window_days)
    if panel["treated"].all():
        raise DataError("no comparison group: every eligible customer was treated",
                        file="programme", column="eligible",
                        fix="use before_after() for a (non-causal) before/after estimate")
    placebo = (placebo_check(transactions, programme, start=start, surveys=surveys,
                             outcomes=outcomes, post_days=post_days,
                             observation_end=observation_end,
                             churn_window_days=churn_window_days, n_boot=min(n_boot, 500),
                             seed=seed) if _placebo else None)
    return _result(panel, w, outcomes, n_boot, seed, "difference-in-differences",
                   surveys is not None, churn_window_days, assignment, rule, placebo)


def before_after(transactions: pd.DataFrame, programme: pd.DataFrame, *, start,
                 surveys: pd.DataFrame | None = None, outcomes=OUTCOMES, pre_days=None,
                 post_days=None, observation_end=None, churn_window_days: int = 180,
                 n_boot: int = 1000, seed: int = 0, assignment: str = "random",
                 rule: str | None = None) -> ImpactResult:
    """Treated customers' post − pre change, labelled as not causal (no comparison group)."""
    panel, w = outcome_panel(transactions, programme, start=start, surveys=surveys,
                             pre_days=pre_days, post_days=post_days,
                             observation_end=observation_end, churn_window_days=churn_window_days)
    panel = panel[panel["treated"]]
    return _result(panel, w, outcomes, n_boot, seed, "before/after (not causal)",
                   surveys is not None, churn_window_days, assignment, rule)


def evaluate_programme(transactions: pd.DataFrame, programme: pd.DataFrame, *, start,
                       surveys: pd.DataFrame | None = None, outcomes=OUTCOMES, pre_days=None,
                       post_days=None, observation_end=None, churn_window_days: int = 180,
                       n_boot: int = 1000, seed: int = 0, assignment: str = "random",
                       rule: str | None = None) -> ImpactResult:
    """The case study: difference-in-differences when a comparison group exists, else before/after.

    Returns an :class:`ImpactResult` whose ``headlines`` are ready to print at the top of the
    case-study report and whose ``caveats`` say what limits them.
    """
    kw = dict(start=start, surveys=surveys, outcomes=outcomes, pre_days=pre_days,
              post_days=post_days, observation_end=observation_end,
              churn_window_days=churn_window_days, n_boot=n_boot, seed=seed,
              assignment=assignment, rule=rule)
    prog = _check_programme(programme)
    has_comparison = (prog["eligible"].astype(bool) & ~prog["treated"].astype(bool)).any()
    return (difference_in_differences if has_comparison else before_after)(
        transactions, programme, **kw)
