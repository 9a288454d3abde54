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
}
SMD_LIMIT = 0.1


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
    amt = tx["amount"].to_numpy(dtype=float)
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
                 f"churn_den_{name}": existing.astype(float),
                 f"spend_num_{name}": np.bincount(ci[inside], weights=amt[inside], minlength=n),
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
           "spend before start": np.bincount(ci[before_start], weights=amt[before_start],
                                             minlength=n),
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


def _result(panel, w, outcomes, n_boot, seed, design, surveys_given, churn_window_days):
    outcomes = check_outcomes(outcomes)
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
    headlines = [r["sentence"] for _, r in effects.iterrows() if not r["note"]]
    windows = {**w, "churn_window_days": churn_window_days, "n_boot": n_boot, "seed": seed}
    return ImpactResult(design, effects, balance, windows, headlines, caveats)


def difference_in_differences(transactions: pd.DataFrame, programme: pd.DataFrame, *, start,
                              surveys: pd.DataFrame | None = None, outcomes=OUTCOMES,
                              pre_days: int | None = None, post_days: int | None = None,
                              observation_end=None, churn_window_days: int = 180,
                              n_boot: int = 1000, seed: int = 0) -> ImpactResult:
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

    Returns
    -------
    ImpactResult
        ``effects`` per outcome with 95 % intervals and sentences, ``balance``, caveats.

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
    return _result(panel, w, outcomes, n_boot, seed, "difference-in-differences",
                   surveys is not None, churn_window_days)


def before_after(transactions: pd.DataFrame, programme: pd.DataFrame, *, start,
                 surveys: pd.DataFrame | None = None, outcomes=OUTCOMES, pre_days=None,
                 post_days=None, observation_end=None, churn_window_days: int = 180,
                 n_boot: int = 1000, seed: int = 0) -> ImpactResult:
    """Treated customers' post − pre change, labelled as not causal (no comparison group)."""
    panel, w = outcome_panel(transactions, programme, start=start, surveys=surveys,
                             pre_days=pre_days, post_days=post_days,
                             observation_end=observation_end, churn_window_days=churn_window_days)
    panel = panel[panel["treated"]]
    return _result(panel, w, outcomes, n_boot, seed, "before/after (not causal)",
                   surveys is not None, churn_window_days)


def evaluate_programme(transactions: pd.DataFrame, programme: pd.DataFrame, *, start,
                       surveys: pd.DataFrame | None = None, outcomes=OUTCOMES, pre_days=None,
                       post_days=None, observation_end=None, churn_window_days: int = 180,
                       n_boot: int = 1000, seed: int = 0) -> ImpactResult:
    """The case study: difference-in-differences when a comparison group exists, else before/after.

    Returns an :class:`ImpactResult` whose ``headlines`` are ready to print at the top of the
    case-study report and whose ``caveats`` say what limits them.
    """
    kw = dict(start=start, surveys=surveys, outcomes=outcomes, pre_days=pre_days,
              post_days=post_days, observation_end=observation_end,
              churn_window_days=churn_window_days, n_boot=n_boot, seed=seed)
    prog = _check_programme(programme)
    has_comparison = (prog["eligible"].astype(bool) & ~prog["treated"].astype(bool)).any()
    return (difference_in_differences if has_comparison else before_after)(
        transactions, programme, **kw)
