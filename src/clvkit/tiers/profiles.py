"""Tier profiles: size, revenue share, value and the mix of customer attributes per tier.

Means of CLV, P(alive) and expected purchases are over the tier's scored buyers (prospects have
no score, so the prospect tier shows NaN there); revenue is historical revenue, 0 for prospects.
Missing attribute values are counted as ``"(missing)"``, never dropped.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from clvkit.tiers.value import MISSING_LABEL

ATTRIBUTES = ("region", "city_tier", "age_band", "gender", "income_band", "channel")


@dataclass(frozen=True)
class ProfileResult:
    """``summary``: one row per tier; ``mix``: tier × attribute × value with counts and shares."""

    summary: pd.DataFrame
    mix: pd.DataFrame


def tier_profiles(tier: pd.Series, scored: pd.DataFrame, *, revenue: pd.Series | None = None,
                  customers: pd.DataFrame | None = None,
                  attributes: Sequence[str] = ATTRIBUTES) -> ProfileResult:
    """Describe each tier.

    Parameters
    ----------
    tier : Series
        Tier per customer (all customers, prospects included).
    scored : DataFrame
        Scored buyers (``clv``, ``p_alive``, optional ``expected_purchases``).
    revenue : Series, optional
        Historical revenue per customer; customers missing from it count 0.
    customers : DataFrame, optional
        Customer table indexed by (or with a column) ``customer_id``; the ``attributes`` present in
        it give the mix.
    attributes : sequence of str
        Attribute columns to profile.

    Returns
    -------
    ProfileResult
        ``summary`` columns: ``tier, customers, customer_share, revenue, revenue_share, clv_total,
        clv_share, clv_mean, p_alive_mean, expected_purchases_mean``.
    """
    labels = (list(tier.cat.categories) if isinstance(tier.dtype, pd.CategoricalDtype)
              else list(dict.fromkeys(tier.astype(str))))
    frame = pd.DataFrame({"tier": tier.astype(str)}, index=tier.index)
    for col in ("clv", "p_alive", "expected_purchases"):
        if col in scored.columns:
            frame[col] = scored[col].astype("float64").reindex(tier.index)
        else:
            frame[col] = np.nan
    frame["revenue"] = (0.0 if revenue is None
                        else revenue.astype("float64").reindex(tier.index).fillna(0.0))
    g = frame.groupby("tier", sort=False)
    summary = pd.DataFrame({
        "customers": g.size(), "revenue": g["revenue"].sum(), "clv_total": g["clv"].sum(),
        "clv_mean": g["clv"].mean(), "p_alive_mean": g["p_alive"].mean(),
        "expected_purchases_mean": g["expected_purchases"].mean()}).reindex(labels)
    summary["customers"] = summary["customers"].fillna(0).astype("int64")
    summary.insert(1, "customer_share", summary["customers"] / max(len(frame), 1))
    total_rev = frame["revenue"].sum()
    summary.insert(3, "revenue_share", summary["revenue"] / total_rev if total_rev else np.nan)
    total_clv = frame["clv"].sum()
    summary.insert(5, "clv_share", summary["clv_total"] / total_clv if total_clv else np.nan)
    if revenue is None:
        summary[["revenue", "revenue_share"]] = np.nan
    summary = summary.rename_axis("tier").reset_index()
    return ProfileResult(summary=summary, mix=_mix(frame["tier"], labels, customers, attributes))


def _mix(tier: pd.Series, labels, customers, attributes) -> pd.DataFrame:
    columns = ["tier", "attribute", "value", "customers", "share"]
    if customers is None:
        return pd.DataFrame(columns=columns)
    if "customer_id" in customers.columns:
        customers = customers.set_index("customer_id")
    parts = []
    for attr in (a for a in attributes if a in customers.columns):
        values = customers[attr].reindex(tier.index).astype("string").fillna(MISSING_LABEL)
        counts = pd.crosstab(pd.Categorical(tier, categories=labels), values, dropna=False)
        long = counts.stack().rename("customers").reset_index()
        long.columns = ["tier", "value", "customers"]
        long["share"] = long["customers"] / long.groupby("tier")["customers"].transform("sum")
        long.insert(1, "attribute", attr)
        parts.append(long[long["customers"] > 0])
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)
