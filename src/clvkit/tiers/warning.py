"""Churn early warning: who is slipping away, ranked by the value at stake.

A buyer is flagged when ``p_alive < p_alive_below``, or — given the previous run's P(alive) —
when it fell by more than ``drop_more_than`` (``previous - current > drop_more_than``). The list
is ranked by CLV at risk — the value forgone if the customer has in fact left, ``clv_if_alive ×
(1 − p_alive)`` with ``clv_if_alive = clv / p_alive`` (:func:`clvkit.value.value_at_risk`; not
``clv × (1 − p_alive)``, which counts P(alive) twice) — highest first, ties by ``customer_id``;
``top_n`` keeps the first N. Prospects have no P(alive) and are never on the list.

Data without amounts have no CLV: ``value="expected_purchases"`` ranks the same way by the
purchases at risk, ``purchases_if_alive × (1 − p_alive)`` (:data:`WATCHLIST_COLUMNS_COUNTS`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from clvkit.errors import ConfigError
from clvkit.tiers._util import check_fraction, check_no_nan, require_columns
from clvkit.value import value_at_risk

WATCHLIST_COLUMNS = ("rank", "customer_id", "p_alive", "p_alive_previous", "p_alive_change",
                     "clv", "clv_if_alive", "clv_at_risk", "reason")
#: The watchlist's columns with ``value="expected_purchases"`` (data without amounts).
WATCHLIST_COLUMNS_COUNTS = ("rank", "customer_id", "p_alive", "p_alive_previous",
                            "p_alive_change", "expected_purchases", "purchases_if_alive",
                            "purchases_at_risk", "reason")
#: What the list is ranked by, per ``value``: (value column, if-alive column, at-risk column).
_RANKED = {"clv": ("clv", "clv_if_alive", "clv_at_risk"),
           "expected_purchases": ("expected_purchases", "purchases_if_alive", "purchases_at_risk")}


@dataclass(frozen=True)
class WarningResult:
    """The ranked watchlist (``WATCHLIST_COLUMNS`` plus any ``extra`` columns) and its criteria.

    ``flagged`` counts every customer meeting a criterion, before ``top_n``.
    """

    watchlist: pd.DataFrame
    criteria: pd.DataFrame
    flagged: int


def churn_warning(scored: pd.DataFrame, *, p_alive_below: float = 0.3,
                  drop_more_than: float | None = None, previous: pd.Series | None = None,
                  top_n: int | None = None, extra: pd.DataFrame | None = None,
                  value: str = "clv") -> WarningResult:
    """Rank customers at risk of churning by CLV at risk (or expected purchases at risk).

    Parameters
    ----------
    scored : DataFrame
        Scored customers with ``p_alive`` and ``clv``; CLV at risk is computed from them (one
        definition, whatever a ``clv_at_risk`` column of an older run says).
    p_alive_below : float
        Flag customers whose P(alive) is below this.
    drop_more_than : float, optional
        Flag customers whose P(alive) fell by more than this since ``previous``.
    previous : Series, optional
        P(alive) per customer from the previous run (customers missing there are not compared).
    top_n : int, optional
        Keep the first N of the ranked list.
    extra : DataFrame, optional
        Columns to carry along (e.g. tier, stage, action), joined on ``customer_id``.
    value : {"clv", "expected_purchases"}
        What is at risk: CLV (the default), or for data without amounts the expected purchases
        (columns ``expected_purchases, purchases_if_alive, purchases_at_risk``).
    """
    p_alive_below = check_fraction(p_alive_below, key="churn_warning.p_alive_below")
    if drop_more_than is not None:
        drop_more_than = check_fraction(drop_more_than, key="churn_warning.drop_more_than")
    if top_n is not None and (int(top_n) != top_n or top_n < 1):
        raise ConfigError(f"must be a whole number >= 1, got {top_n!r}", key="churn_warning.top_n")
    if value not in _RANKED:
        raise ConfigError(f"unknown value {value!r}", key="churn_warning.value",
                          fix=f"use one of {', '.join(_RANKED)}")
    col, col_if_alive, col_at_risk = _RANKED[value]
    require_columns(scored, ("p_alive", col), what="scored customers",
                    fix="pass the output of clvkit.value.score_customers")
    check_no_nan(scored["p_alive"], column="p_alive", what="churn warning")
    p = scored["p_alive"].astype("float64")
    prev = (pd.Series(np.nan, index=scored.index) if previous is None
            else previous.astype("float64").reindex(scored.index))
    change = p - prev
    low = p < p_alive_below
    fell = (-change > drop_more_than if drop_more_than is not None
            else pd.Series(False, index=p.index))
    fell = fell.fillna(False).astype(bool)
    reason = np.where(low & fell, f"P(alive) < {p_alive_below:g} and fell by more than "
                                  f"{drop_more_than or 0:g}",
                      np.where(low, f"P(alive) < {p_alive_below:g}",
                               f"P(alive) fell by more than {drop_more_than or 0:g}"))
    worth = scored[col].to_numpy(dtype="float64")
    if_alive, at_risk = value_at_risk(worth, p.to_numpy())
    table = pd.DataFrame({"customer_id": scored.index.to_numpy(), "p_alive": p.to_numpy(),
                          "p_alive_previous": prev.to_numpy(), "p_alive_change": change.to_numpy(),
                          col: worth, col_if_alive: if_alive, col_at_risk: at_risk,
                          "reason": reason})
    table = table[(low | fell).to_numpy()]
    flagged = len(table)
    table = table.sort_values([col_at_risk, "customer_id"], ascending=[False, True],
                              kind="mergesort")
    if top_n is not None:
        table = table.head(int(top_n))
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    if extra is not None:
        table = table.join(extra, on="customer_id")
    criteria = pd.DataFrame({
        "criterion": ["p_alive_below", "drop_more_than", "top_n", "ranked_by"],
        "value": [f"{p_alive_below:g}", "-" if drop_more_than is None else f"{drop_more_than:g}",
                  "all" if top_n is None else str(int(top_n)),
                  f"{col_at_risk} = {col_if_alive} × (1 − p_alive), "
                  f"{col_if_alive} = {col} / p_alive"]})
    return WarningResult(watchlist=table.reset_index(drop=True), criteria=criteria, flagged=flagged)
