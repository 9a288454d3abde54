"""What a leader reads first: KPIs with intervals and changes, what changed, one decision per tier,
and each report's key points and actions -- computed from a scenario result, in words.

Every number here comes from :class:`clvkit.result.ScenarioResult` (or, for changes, from the
previous good run's ``summary.json``); every sentence from the catalogues (``clvkit.i18n``), so
the same function serves English and Chinese reports. The index page (``clvkit.pages``) and the
notebooks only lay these out. Intervals are 95 %:

* active customers -- the expected number still active, Σ P(alive), with the normal interval
  of a sum of independent Bernoulli variables (variance Σ p (1 − p));
* 12-month value and the top tier's share of it -- parameter draws of both models
  (:func:`clvkit.value.clv_total_draws`), which move every customer together;
* CSAT / NPS by tier, the programme's effect -- the intervals their modules computed.

Data without amounts (``amount: null``) have no value in money: the tiles, decisions and key
points speak of expected purchases instead -- purchases over the horizon (interval from
parameter draws of the purchase model, :func:`purchase_draws`), the top tier's share of them,
and the purchases at risk (the watchlist's ``purchases_at_risk``, summed).
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from clvkit import i18n

__all__ = ["Kpi", "actions", "decisions", "key_points", "kpis", "load_summary", "save_summary",
           "tier_order", "what_changed"]

#: File in each run folder holding the KPI values, read by the next run for its changes.
SUMMARY_FILE = "summary.json"
Z95 = 1.959963984540054


@dataclass(frozen=True)
class Kpi:
    """One KPI tile: value, 95 % interval, the previous run's value, and per-tier parts."""

    key: str
    label: str
    value: float
    kind: str                      # count | money | share | score | nps
    low: float | None = None
    high: float | None = None
    previous: float | None = None
    parts: tuple = field(default=())   # ((tier, value, low, high), ...)
    note: str = ""

    @property
    def change(self) -> float | None:
        """Value minus the previous run's (None without a previous run)."""
        if self.previous is None or not _finite(self.previous) or not _finite(self.value):
            return None
        return self.value - self.previous


def _finite(x) -> bool:
    try:
        return x is not None and math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def tier_order(res) -> list[str]:
    """Tier labels in the params order (top tier first), then the prospect label."""
    labels = list(res.config.tiers.labels)
    seen = [str(x) for x in pd.unique(res.tiers.tier.astype("string").dropna())]
    return labels + [s for s in seen if s not in labels]


def horizon(res, language: str = "en") -> str:
    """The value horizon in words (``12 months``, ``12个月``)."""
    v = res.config.value
    return i18n.t(f"unit.{v.horizon_unit}_n", language=language, n=f"{v.horizon:g}")


def time_unit(res, language: str = "en", *, singular: bool = False) -> str:
    """The model's time unit in words (``weeks``, ``周``)."""
    key = f"unit.{res.config.summary.time_unit}_{'one' if singular else 'many'}"
    return i18n.t(key, language=language)


def _lake(res):
    """The exact aggregates of a lake-scale result (``clvkit.result.LakeAggregates``), whose
    per-customer frames are a sample; None for a single-machine result."""
    return getattr(res, "lake", None)


def _buyer_tiers(res) -> pd.Series:
    return res.tiers.tier.reindex(res.scored.index).astype("string")


def value_draws(res, *, n_draws: int = 100, seed: int = 0) -> pd.DataFrame | None:
    """Total CLV per tier under parameter draws (None without a spend model)."""
    from clvkit.value import clv_total_draws

    if res.spend_model is None or "clv" not in res.scored:
        return None
    v = res.config.value
    draws = clv_total_draws(res.transaction_model, res.spend_model, res.scored,
                            _buyer_tiers(res), horizon=v.horizon, horizon_unit=v.horizon_unit,
                            discount_rate=v.discount_rate, discount_unit=v.discount_unit,
                            n_draws=n_draws, seed=seed)
    return draws * (getattr(v, "margin", None) or 1.0)  # as the scored CLV: margin if given


def counts_only(res) -> bool:
    """Whether the scenario's transactions have no amounts (purchase counts only)."""
    return not res.config.has_amounts


def purchase_draws(res, *, n_draws: int = 100, seed: int = 0) -> pd.DataFrame | None:
    """Total expected purchases over the horizon per tier under parameter draws of the purchase
    model (one row per draw, one column per tier and ``total``), as :func:`value_draws` does
    for CLV: one draw moves every customer together. None when the model gives no draws (a
    singular covariance, covariates)."""
    from clvkit.errors import ModelError
    from clvkit.models._base import rfm_arrays
    from clvkit.units import convert

    tm, v = res.transaction_model, res.config.value
    try:
        draws = tm.sample_params(n_draws, seed).to_numpy()
    except ModelError:
        return None
    horizon = float(convert(float(v.horizon), v.horizon_unit, tm.time_unit_))
    x, t_x, T, _ = rfm_arrays(res.scored)
    tiers = _buyer_tiers(res).fillna("–")
    names = list(dict.fromkeys(tiers.tolist()))
    onehot = (tiers.to_numpy()[:, None] == np.array(names, dtype=object)[None, :]).astype(float)
    out = np.full((n_draws, len(names)), np.nan)
    for i in range(n_draws):
        try:
            e = np.ravel(tm.with_params(draws[i]).expected_purchases(x, t_x, T, horizon=horizon))
        except ModelError:
            continue
        out[i] = e @ onehot
    frame = pd.DataFrame(out, columns=names)
    frame["total"] = frame.sum(axis=1, min_count=1)
    return frame


def purchase_profile(res) -> pd.DataFrame:
    """Per tier (params order), for data without amounts: customers and their share, expected
    purchases over the horizon (total and share) and mean P(alive) and expected purchases
    (the tier profile without money)."""
    prof = res.profiles.summary.set_index("tier")
    order = [t for t in tier_order(res) if t in prof.index]
    purchases = res.scored["expected_purchases"].groupby(_buyer_tiers(res)).sum()
    total = float(res.scored["expected_purchases"].sum())
    out = pd.DataFrame({"tier": order,
                        "customers": prof.loc[order, "customers"].to_numpy(),
                        "customer_share": prof.loc[order, "customer_share"].to_numpy(),
                        "purchases_total": purchases.reindex(order).fillna(0.0).to_numpy()})
    out["purchases_share"] = out["purchases_total"] / total if total else math.nan
    out["p_alive_mean"] = prof.loc[order, "p_alive_mean"].to_numpy()
    out["expected_purchases_mean"] = prof.loc[order, "expected_purchases_mean"].to_numpy()
    return out


def _q(values, lo=0.025, hi=0.975):
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if len(x) < 10:
        return None, None
    return float(np.quantile(x, lo)), float(np.quantile(x, hi))


def kpis(res, previous: dict | None = None, *, language: str = "en",
         draws: pd.DataFrame | None = None) -> list[Kpi]:
    """The executive summary's KPIs, in reading order; sections without data are left out.

    Parameters
    ----------
    res : ScenarioResult
    previous : dict, optional
        The previous good run's KPI values (:func:`load_summary`), for the changes.
    draws : DataFrame, optional
        :func:`value_draws` (computed here when not given).
    """
    tr = i18n.translator(language)
    prev = previous or {}
    out = []
    lake = _lake(res)
    p = res.scored["p_alive"].to_numpy(dtype=float)
    active, var, buyers = float(p.sum()), float((p * (1 - p)).sum()), len(p)
    if lake is not None:  # every buyer, summed in Spark
        active, var, buyers = (lake.totals["p_alive"], lake.totals["p_alive_variance"],
                               lake.totals["buyers"])
    half = Z95 * math.sqrt(var)
    out.append(Kpi("active_customers", tr("kpi.active_customers"), active, "count",
                   max(active - half, 0.0), active + half, prev.get("active_customers"),
                   note=tr("kpi.active_note", buyers=i18n.number(buyers))))
    if counts_only(res):
        out += _purchase_kpis(res, prev, language)
    if "clv" in res.scored and res.spend_model is not None:
        d = value_draws(res) if draws is None else draws
        total = float(res.scored["clv"].sum())
        if lake is not None and d is not None:  # the sample's draws, scaled to every buyer
            d = d * (lake.totals["clv"] / total if total else math.nan)
        total = lake.totals["clv"] if lake is not None else total
        lo, hi = _q(d["total"]) if d is not None else (None, None)
        out.append(Kpi("value_12m", tr("kpi.value", horizon=horizon(res, language)), total, "money",
                       lo, hi, prev.get("value_12m")))
        order = [t for t in tier_order(res) if (_buyer_tiers(res) == t).any()]
        if order:
            top = order[0]
            share = float(res.scored["clv"][_buyer_tiers(res) == top].sum() / total) if total else math.nan
            buyers_share = float((_buyer_tiers(res) == top).mean())
            if lake is not None:
                row = lake.by_tier.set_index("tier").loc[top]
                share = float(row["clv_total"] / total) if total else math.nan
                buyers_share = float(row["customers"] / lake.totals["buyers"])
            lo, hi = (_q(d[top] / d["total"]) if d is not None and top in d else (None, None))
            out.append(Kpi("top_share", tr("kpi.top_share", tier=top), share, "share", lo, hi,
                           prev.get("top_share"),
                           note=tr("kpi.top_share_note", tier=top,
                                   share=i18n.percent(buyers_share))))
        if "clv_at_risk" in res.scored:
            risk = float(res.scored["clv_at_risk"].sum() if lake is None
                         else lake.totals["clv_at_risk"])
            out.append(Kpi("value_at_risk", tr("kpi.value_at_risk"), risk, "money", None, None,
                           prev.get("value_at_risk"),
                           note=tr("kpi.value_at_risk_note",
                                   share=i18n.percent(risk / (total + risk) if total + risk else math.nan))))
    sat = res.satisfaction
    if sat is not None:
        by = sat.by_group.set_index("group")
        order = [t for t in tier_order(res) if t in by.index and _finite(by.loc[t, "csat"])]
        for metric in ("csat", "nps"):
            if metric not in by.columns or not order:
                continue
            parts = tuple((t, float(by.loc[t, metric]), _opt(by.loc[t, f"{metric}_low"]),
                           _opt(by.loc[t, f"{metric}_high"])) for t in order)
            top = parts[0]
            out.append(Kpi(f"{metric}_top", tr(f"kpi.{metric}_by_tier"), top[1], metric,
                           top[2], top[3], prev.get(f"{metric}_top"), parts=parts))
    imp = res.impact
    if imp is not None and len(imp.effects):
        eff = imp.effects
        estimated = [o for o in eff.index if _finite(eff.loc[o, "estimate"])]
        key = ("spend" if "spend" in eff.index else  # without amounts: the first estimated one
               estimated[0] if estimated else eff.index[0])
        row = eff.loc[key]
        out.append(Kpi("programme_effect", tr("kpi.programme_effect"), float(row["estimate"]),
                       "effect", _opt(row["low"]), _opt(row["high"]),
                       prev.get("programme_effect"),
                       note=tr("kpi.programme_note", outcome=tr(f"outcome.{key}"),
                               unit=_unit(row, res, language))))
    return out


def _purchase_kpis(res, prev: dict, language: str) -> list[Kpi]:
    """The value tiles' counterparts for data without amounts: expected purchases over the
    horizon, the top tier's share of them, and the purchases at risk."""
    tr = i18n.translator(language)
    s, tiers = res.scored, _buyer_tiers(res)
    d = purchase_draws(res)
    total = float(s["expected_purchases"].sum())
    lo, hi = _q(d["total"]) if d is not None else (None, None)
    out = [Kpi("purchases_horizon", tr("kpi.purchases", horizon=horizon(res, language)), total,
               "count", lo, hi, prev.get("purchases_horizon"))]
    order = [t for t in tier_order(res) if (tiers == t).any()]
    if order:
        top = order[0]
        share = float(s["expected_purchases"][tiers == top].sum() / total) if total else math.nan
        lo, hi = (_q(d[top] / d["total"]) if d is not None and top in d else (None, None))
        out.append(Kpi("top_share_purchases", tr("kpi.top_share_purchases", tier=top), share,
                       "share", lo, hi, prev.get("top_share_purchases"),
                       note=tr("kpi.top_share_note", tier=top,
                               share=i18n.percent(float((tiers == top).mean())))))
    from clvkit.value import value_at_risk

    _, at_risk = value_at_risk(s["expected_purchases"].to_numpy(dtype=float),
                               s["p_alive"].to_numpy(dtype=float))
    risk = float(at_risk.sum())
    out.append(Kpi("purchases_at_risk", tr("kpi.purchases_at_risk"), risk, "count", None, None,
                   prev.get("purchases_at_risk"),
                   note=tr("kpi.purchases_at_risk_note",
                           share=i18n.percent(risk / (total + risk) if total + risk else math.nan))))
    return out


def _opt(x):
    return float(x) if _finite(x) else None


def _unit(row, res, language) -> str:
    unit = str(row.get("unit", "") or "")
    return unit or res.info.currency


def summary_values(items: list[Kpi]) -> dict:
    """KPI values by key, as stored in ``summary.json`` for the next run's changes."""
    return {k.key: (k.value if _finite(k.value) else None) for k in items}


def save_summary(folder: Path, items: list[Kpi], res) -> Path:
    """Write ``summary.json`` (KPI values, run date) into a run folder."""
    doc = {"run_date": f"{res.info.run_date:%Y-%m-%d}", "kpis": summary_values(items),
           "kpi_detail": [_plain(asdict(k)) for k in items]}
    path = Path(folder) / SUMMARY_FILE
    path.write_text(json.dumps(doc, indent=1, ensure_ascii=False), encoding="utf-8")
    return path


def _plain(d):
    if isinstance(d, dict):
        return {k: _plain(v) for k, v in d.items()}
    if isinstance(d, (list, tuple)):
        return [_plain(v) for v in d]
    if isinstance(d, float) and not math.isfinite(d):
        return None
    return d


def load_summary(folder: Path | None) -> dict | None:
    """The KPI values of a run folder's ``summary.json`` (None when absent or unreadable)."""
    if folder is None:
        return None
    try:
        return json.loads((Path(folder) / SUMMARY_FILE).read_text(encoding="utf-8"))["kpis"]
    except (OSError, ValueError, KeyError):
        return None


# ----------------------------------------------------------------------------- what changed
def _month(ts, language) -> str:
    ts = pd.Timestamp(ts)
    return f"{ts.year}年{ts.month}月" if language == "zh" else f"{ts:%B %Y}"


def what_changed(res, *, language: str = "en") -> list[str]:
    """Sentences on volume trend, acquisition, churn and tier movement, from the data."""
    tr = i18n.translator(language)
    out = []
    monthly = res.monthly["lines"] if "lines" in res.monthly else None
    end = res.info.observation_end
    if monthly is not None and len(monthly) >= 6:
        full = monthly[monthly.index + pd.offsets.MonthEnd(0) <= end.normalize() + pd.Timedelta(days=1)]
        last12 = full.iloc[-12:] if len(full) >= 12 else full
        early, late = last12.iloc[:3], last12.iloc[-3:]
        a, b = float(early.mean()), float(late.mean())
        if a > 0:
            rel = b / a - 1
            key = "changed.volume_flat" if abs(rel) < 0.1 else (
                "changed.volume_up" if rel > 0 else "changed.volume_down")
            out.append(tr(key, before=i18n.number(a), after=i18n.number(b),
                          start=_month(early.index[0], language), end=_month(late.index[-1], language),
                          change=i18n.percent(rel, signed=True)))
    first = res.transactions.groupby("customer_id")["date"].min()
    lake = _lake(res)
    if len(first):
        last_new = first.max()
        recent = int((first > end - pd.DateOffset(months=6)).sum())
        before = int(((first > end - pd.DateOffset(months=12))
                      & (first <= end - pd.DateOffset(months=6))).sum())
        n_first = len(first)
        if lake is not None:  # first purchases of every customer, counted in Spark
            a = lake.acquisition
            last_new, recent, before, n_first = (a["last_new"], a["recent"], a["before"],
                                                 a["customers"])
        if last_new < end - pd.DateOffset(months=3):
            out.append(tr("changed.no_acquisition", month=_month(last_new, language),
                          n=i18n.number(n_first)))
        else:
            out.append(tr("changed.acquisition", recent=i18n.number(recent),
                          before=i18n.number(before)))
    p = res.scored["p_alive"]
    threshold = res.config.retention.p_alive_threshold
    lost, buyers = int((p < threshold).sum()), len(p)
    if lake is not None:
        lost, buyers = lake.totals["lost"], lake.totals["buyers"]
    out.append(tr("changed.churn", n=i18n.number(lost), share=i18n.percent(lost / max(buyers, 1)),
                  threshold=i18n.percent(threshold)))
    mig = res.migration
    if mig is not None:
        s = mig.summary
        up, down = int(s.get("upgraded", 0)), int(s.get("downgraded", 0))
        out.append(tr("changed.migration", up=i18n.number(up), down=i18n.number(down)))
    return out


# ------------------------------------------------------------------------------ decisions
def decisions(res, *, language: str = "en") -> pd.DataFrame:
    """One decision per tier (params order): customers, value at stake, at risk, action, cost.

    ``cost`` is ``impact.cost_per_customer`` × customers when the params give a cost, else NaN.
    Without amounts ``value`` and ``at_risk`` are expected purchases over the horizon and the
    purchases at risk (``purchases_if_alive × (1 − p_alive)``), not money.
    """
    tier = res.tiers.tier.astype("string")
    scored = res.scored.reindex(tier.index)
    actions = dict(zip(res.playbook.table.query("applies_to == 'tier'")["key"],
                       res.playbook.table.query("applies_to == 'tier'")["action"]))
    cost = getattr(res.config.impact, "cost_per_customer", None)
    rows = []
    if _lake(res) is not None:  # every customer, by tier, summed in Spark
        exact = _lake(res).by_tier.set_index("tier")
        for t in [t for t in tier_order(res) if t in exact.index]:
            n = int(exact.loc[t, "customers"])
            rows.append({"tier": t, "customers": n, "value": float(exact.loc[t, "clv_total"]),
                         "at_risk": float(exact.loc[t, "clv_at_risk"]),
                         "action": actions.get(t, i18n.t("decision.no_action", language=language)),
                         "cost": float(cost) * n if cost is not None else math.nan})
        return pd.DataFrame(rows, columns=["tier", "customers", "value", "at_risk", "action",
                                           "cost"])
    for t in tier_order(res):
        mask = (tier == t).to_numpy()
        n = int(mask.sum())
        if not n:
            continue
        clv = scored["clv"][mask].sum() if "clv" in scored else math.nan
        risk = scored["clv_at_risk"][mask].sum() if "clv_at_risk" in scored else math.nan
        if counts_only(res):
            from clvkit.value import value_at_risk

            e = scored["expected_purchases"][mask].to_numpy(dtype=float)
            clv = np.nansum(e)
            risk = np.nansum(value_at_risk(e, scored["p_alive"][mask].to_numpy(dtype=float))[1])
        rows.append({"tier": t, "customers": n, "value": float(clv), "at_risk": float(risk),
                     "action": actions.get(t, i18n.t("decision.no_action", language=language)),
                     "cost": float(cost) * n if cost is not None else math.nan})
    return pd.DataFrame(rows, columns=["tier", "customers", "value", "at_risk", "action", "cost"])


# ------------------------------------------------------------------- key points and actions
REPORTS = ("data_quality", "customer_value", "tiers", "satisfaction_retention", "case_study")


def key_points(res, report: str, *, language: str = "en") -> list[str]:
    """3–5 sentences with numbers for the top of a report (``report`` in :data:`REPORTS`)."""
    tr = i18n.translator(language)
    n, c = i18n.number, res.info.currency
    if report == "data_quality":
        led, cov = res.ledger, res.coverage
        out = [tr("kp.dq.rows", rows_in=n(led.rows_in), kept=n(led.rows_out),
                  dropped=n(led.rows_dropped), share=i18n.percent(led.rows_dropped / max(led.rows_in, 1), digits=1)),
               tr("kp.dq.span", first=f"{cov['first purchase']:%Y-%m-%d}",
                  last=f"{cov['last purchase']:%Y-%m-%d}",
                  customers=n(cov["customers who bought"]), lines=n(cov["purchase lines"]))]
        one = float((res.summary["frequency"] == 0).mean())
        if _lake(res) is not None:
            one = _lake(res).totals["one_time"] / max(_lake(res).totals["buyers"], 1)
        out.append(tr("kp.dq.one_time", share=i18n.percent(one)))
        out += what_changed(res, language=language)[:1]
        return out
    if report == "customer_value" and counts_only(res):
        s = res.scored
        out = [tr("kp.value.total_counts", horizon=horizon(res, language),
                  total=n(s["expected_purchases"].sum()), buyers=n(len(s))),
               tr("kp.value.model", model=res.model_choice.name)]
        top10 = s["expected_purchases"].sort_values(ascending=False)
        k = max(int(len(top10) * 0.1), 1)
        out.append(tr("kp.value.concentration_counts",
                      share=i18n.percent(top10.iloc[:k].sum() / max(top10.sum(), 1e-12))))
        if res.calibration is not None:
            e = res.calibration.errors
            out.append(tr("kp.value.holdout", predicted=n(e["predicted_total"]), actual=n(e["actual_total"])))
        return out
    if report == "customer_value":
        s = res.scored
        top10 = s["clv"].sort_values(ascending=False)
        k = max(int(len(top10) * 0.1), 1)
        total, buyers, top = float(s["clv"].sum()), len(s), float(top10.iloc[:k].sum())
        if _lake(res) is not None:
            t = _lake(res).totals
            total, buyers, top = t["clv"], t["buyers"], t["top10_clv"]
        out = [tr("kp.value.total", horizon=horizon(res, language), total=i18n.compact(total, language=language),
                  currency=c, buyers=n(buyers)),
               tr("kp.value.model", model=res.model_choice.name)]
        out.append(tr("kp.value.concentration", share=i18n.percent(top / max(total, 1e-12))))
        if res.calibration is not None:
            e = res.calibration.errors
            out.append(tr("kp.value.holdout", predicted=n(e["predicted_total"]), actual=n(e["actual_total"])))
        return out
    if report == "tiers":
        d = decisions(res, language=language)
        total = d["value"].sum()
        out = []
        if len(d):
            top = d.iloc[0]
            out.append(tr("kp.tiers.top_counts" if counts_only(res) else "kp.tiers.top",
                          tier=top["tier"], customers=n(top["customers"]),
                          share=i18n.percent(top["value"] / total if total else math.nan)))
        stage = res.stages.stage.value_counts()
        if _lake(res) is not None:  # exact counts (the per-customer stages are a sample)
            stage = res.stages.definitions.set_index("stage")["customers"].sort_values(
                ascending=False, kind="mergesort")
        if len(stage):
            big = stage.idxmax()
            out.append(tr("kp.tiers.stage", stage=tr(f"stage.{big}"), n=n(stage.max()),
                          share=i18n.percent(stage.max() / stage.sum())))
        wl = res.warning.watchlist
        if "purchases_at_risk" in wl:  # data without amounts: purchases, not money, at risk
            out.append(tr("kp.tiers.watchlist_counts", n=n(len(wl)),
                          risk=n(wl["purchases_at_risk"].sum())))
            return out
        out.append(tr("kp.tiers.watchlist", n=n(len(wl)),
                      risk=i18n.compact(wl["clv_at_risk"].sum() if "clv_at_risk" in wl else math.nan,
                                        language=language), currency=c))
        return out
    if report == "satisfaction_retention":
        out = []
        sat = res.satisfaction
        if sat is not None:
            by = sat.by_group.set_index("group")
            order = [t for t in tier_order(res) if t in by.index and _finite(by.loc[t, "csat"])]
            if order:
                hi, lo = order[0], order[-1]
                out.append(tr("kp.sat.csat", top=hi, top_csat=n(by.loc[hi, "csat"], digits=2),
                              low=lo, low_csat=n(by.loc[lo, "csat"], digits=2)))
                out.append(tr("kp.sat.nps", top=hi, nps=n(by.loc[hi, "nps"]), low=lo,
                              low_nps=n(by.loc[lo, "nps"])))
        ch = res.churn.set_index("group")
        order = [t for t in tier_order(res) if t in ch.index]
        if order and "churn_p_alive" in ch:
            out.append(tr("kp.ret.churn", top=order[0], top_churn=i18n.percent(ch.loc[order[0], "churn_p_alive"]),
                          low=order[-1], low_churn=i18n.percent(ch.loc[order[-1], "churn_p_alive"])))
        share = res.cohorts.share
        if share.shape[1] > 1:
            out.append(tr("kp.ret.month1", share=i18n.percent(float(share.iloc[:, 1].mean()))))
        med = res.time_to_next.medians.set_index("group")
        order = [t for t in tier_order(res) if t in med.index and _finite(med.loc[t, "median_days"])]
        if order:
            out.append(tr("kp.ret.next", tier=order[0],
                          days=i18n.number(med.loc[order[0], "median_days"])))
        return out
    if report == "case_study":
        imp = res.impact
        if imp is None:
            return []
        g = group_sizes(res)
        out = [tr("kp.case.groups", treated=n(g["treated"]), comparison=n(g["comparison"]),
                  eligible=n(g["eligible"]))]
        out += effect_sentences(res, language=language)[:3]
        return out
    raise ValueError(f"unknown report {report!r}; use one of {', '.join(REPORTS)}")


def actions(res, report: str, *, language: str = "en") -> list[str]:
    """What to do after reading a report (the box at its end)."""
    tr = i18n.translator(language)
    n, c = i18n.number, res.info.currency
    if report == "data_quality":
        led = res.ledger
        out = [tr("todo.dq.review", dropped=n(led.rows_dropped))] if led.rows_dropped else []
        return out + [tr("todo.dq.refresh")]
    if report == "customer_value":
        return [tr("todo.value.use_counts" if counts_only(res) else "todo.value.use"),
                tr("todo.value.recheck")]
    if report == "tiers":
        d = decisions(res, language=language)
        out = [tr("todo.tiers.action", tier=r["tier"], customers=n(r["customers"]), action=r["action"])
               for _, r in d.head(3).iterrows()]
        wl = res.warning.watchlist
        return out + [tr("todo.tiers.watchlist_counts" if "purchases_at_risk" in wl
                         else "todo.tiers.watchlist", n=n(len(wl)))]
    if report == "satisfaction_retention":
        heard = res.satisfaction is not None or res.complaints is not None
        return [tr("todo.sat.listen" if heard else "todo.sat.collect"),
                tr("todo.sat.winback_counts" if counts_only(res) else "todo.sat.winback")]
    if report == "case_study":
        return [tr("todo.case.decide")]
    raise ValueError(f"unknown report {report!r}; use one of {', '.join(REPORTS)}")


def response_caveat(res, *, language: str = "en", max_ratio: float = 2.0) -> str | None:
    """A caveat when survey response rates differ a lot between the tiers that were surveyed
    (the highest more than ``max_ratio`` times the lowest): who answers then drives the
    comparison as much as satisfaction does. None when they are comparable or absent."""
    sat = res.satisfaction
    if sat is None or "response_rate" not in sat.response_rates:
        return None
    rr = sat.response_rates.set_index("group")["response_rate"]
    rr = rr[[t for t in tier_order(res) if t in rr.index]]
    rr = rr[rr > 0]
    if len(rr) < 2 or rr.max() <= max_ratio * rr.min():
        return None
    return i18n.t("caveat.response", language=language, high=str(rr.idxmax()),
                  high_rate=i18n.percent(rr.max()), low=str(rr.idxmin()),
                  low_rate=i18n.percent(rr.min()))


# ------------------------------------------------------------------------------ case study
#: Outcomes where a lower value is better (the others: higher is better).
LOWER_IS_BETTER = {"churn"}


def group_sizes(res) -> dict:
    """Customers on file in the programme table, eligible, treated, and the comparison group."""
    p = res.programme
    eligible = p["eligible"].astype(bool)
    treated = p["treated"].astype(bool) & eligible
    return {"customers": int(len(p)), "eligible": int(eligible.sum()),
            "treated": int(treated.sum()), "comparison": int((eligible & ~treated).sum())}


def group_trends(res, freq: str = "MS") -> pd.DataFrame:
    """Spend per customer and share of customers buying, per month, for the treated and the
    comparison group (eligible customers only), over the whole data, so parallel trends before
    the start can be seen. Columns ``month, group, customers, spend, buying``."""
    p = res.programme
    eligible = p[p["eligible"].astype(bool)]
    group = pd.Series(np.where(eligible["treated"].astype(bool), "treated", "comparison"),
                      index=eligible["customer_id"].to_numpy())
    sizes = group.value_counts()
    tx = res.transactions[res.transactions["customer_id"].isin(group.index)]
    tx = tx.assign(group=group.reindex(tx["customer_id"].to_numpy()).to_numpy(),
                   month=tx["date"].dt.to_period("M").dt.start_time)
    no_amounts = "amount" not in tx.columns  # no spend then (NaN, not 0)
    if no_amounts:
        tx = tx.assign(amount=np.nan)
    agg = tx.groupby(["month", "group"]).agg(spend=("amount", "sum"),
                                             buyers=("customer_id", "nunique")).reset_index()
    months = pd.date_range(tx["month"].min(), tx["month"].max(), freq=freq) if len(tx) else []
    full = pd.MultiIndex.from_product([months, ["treated", "comparison"]], names=["month", "group"])
    agg = agg.set_index(["month", "group"]).reindex(full, fill_value=0).reset_index()
    agg["customers"] = agg["group"].map(sizes).fillna(0).astype(int)
    agg["spend"] = np.nan if no_amounts else agg["spend"] / agg["customers"].where(agg["customers"] > 0)
    agg["buying"] = agg["buyers"] / agg["customers"].where(agg["customers"] > 0)
    return agg[["month", "group", "customers", "spend", "buying"]]


def _causal(res) -> bool:
    """Whether the design supports "effect of": random assignment and balanced groups."""
    assignment = getattr(res.config.impact, "assignment", "random")
    bal = res.impact.balance
    balanced = bool(bal["balanced"].all()) if "balanced" in bal else True
    return assignment == "random" and balanced and "difference" in res.impact.design


def _significant(row) -> int:
    """+1 when the interval is above zero, −1 below, 0 when it includes zero."""
    lo, hi = row.get("low"), row.get("high")
    if not (_finite(lo) and _finite(hi)):
        return 0
    return 1 if lo > 0 else (-1 if hi < 0 else 0)


def verdict(res, *, language: str = "en") -> list[str]:
    """The case study's verdict and recommendation, first thing on the page (2 sentences)."""
    tr = i18n.translator(language)
    eff = res.impact.effects
    better = worse = 0
    for outcome, row in eff.iterrows():
        sign = _significant(row)
        if outcome in LOWER_IS_BETTER:
            sign = -sign
        better += sign > 0
        worse += sign < 0
    verb = tr("case.verb_causal" if _causal(res) else "case.verb_association")
    m = len(eff)
    if better and not worse:
        key = "positive"
    elif worse and not better:
        key = "negative"
    elif better and worse:
        key = "mixed"
    else:
        key = "none"
    out = [tr(f"case.verdict_{key}", verb=verb, better=better, worse=worse, m=m),
           tr(f"case.recommend_{key}")]
    if not _causal(res):
        out.append(tr("case.not_causal"))
    return out


def _level(x, outcome: str) -> str:
    if not _finite(x):
        return "–"
    return i18n.number(x, digits=2 if outcome == "csat" else 1)


def effect_sentences(res, *, language: str = "en") -> list[str]:
    """One sentence per outcome: both groups' levels before and after, and the difference."""
    tr = i18n.translator(language)
    out = []
    for outcome, r in res.impact.effects.iterrows():
        if not _finite(r.get("estimate")):
            out.append(tr("case.not_estimated", outcome=tr(f"outcome.{outcome}")))
            continue
        out.append(tr("case.effect", outcome=tr(f"outcome.{outcome}"),
                      tpre=_level(r["treated_pre"], outcome), tpost=_level(r["treated_post"], outcome),
                      cpre=_level(r["comparison_pre"], outcome),
                      cpost=_level(r["comparison_post"], outcome),
                      est=("+" if r["estimate"] > 0 else "") + _level(r["estimate"], outcome),
                      low=_level(r["low"], outcome), high=_level(r["high"], outcome)))
    return out


def roi(res) -> dict | None:
    """Return on the programme's cost: spend uplift per treated customer against the cost per
    customer (``impact.cost_per_customer``), times ``value.margin`` when given; None without a
    cost or a spend effect. ``roi = uplift / cost − 1`` with the uplift's interval."""
    cost = getattr(res.config.impact, "cost_per_customer", None)
    if cost is None or res.impact is None or "spend" not in res.impact.effects.index:
        return None
    r = res.impact.effects.loc["spend"]
    margin = getattr(res.config.value, "margin", None) or 1.0
    up, lo, hi = (float(r[k]) * margin for k in ("estimate", "low", "high"))
    n = group_sizes(res)["treated"]
    ratio = (lambda u: u / cost - 1) if cost > 0 else (lambda u: math.nan)
    return {"cost_per_customer": float(cost), "uplift": up, "uplift_low": lo, "uplift_high": hi,
            "total_cost": float(cost) * n, "total_uplift": up * n, "roi": ratio(up),
            "roi_low": ratio(lo), "roi_high": ratio(hi), "margin": margin, "treated": n}


def assumptions(res, *, language: str = "en") -> list[str]:
    """What the difference-in-differences assumes, in plain words."""
    tr = i18n.translator(language)
    assignment = getattr(res.config.impact, "assignment", None)
    how = tr("case.assign_random" if assignment == "random" else
             "case.assign_rule" if assignment == "rule" else "case.assign_unknown")
    return [tr("case.assume_parallel"), how, tr("case.assume_nothing_else"),
            tr("case.assume_intervals")]


def caveats(res, *, language: str = "en") -> list[str]:
    """Caveats that apply to this run: characteristics on which the groups differed before."""
    tr = i18n.translator(language)
    bal = res.impact.balance
    out = []
    if "balanced" in bal and not bal["balanced"].all():
        names = [i18n.keys(language).get(f"bal.{c}", c)
                 for c in bal.loc[~bal["balanced"].astype(bool), "characteristic"]]
        out.append(tr("case.unbalanced", what="; ".join(names)))
    return out
