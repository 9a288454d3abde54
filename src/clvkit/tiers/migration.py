"""Tier migration between the previous run's assignments and this run's.

The matrices have one row per previous tier plus ``(new)`` (customers only in this run) and one
column per current tier plus ``(vanished)`` (customers only in the previous run), so the counts
sum to the customers in either run and the inner block to the customers in both. CLV is this
run's CLV, except in the ``(vanished)`` column, which holds the previous run's. A move is an
upgrade when the new tier comes earlier in ``order`` (best tier first).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from clvkit.errors import DataError
from clvkit.tiers._util import require_columns

NEW, VANISHED = "(new)", "(vanished)"


@dataclass(frozen=True)
class MigrationResult:
    """Migration matrices, per-customer moves and a summary.

    ``counts`` and ``clv``: from-tier × to-tier; ``moves``: one row per customer in either run
    (``customer_id, from_tier, to_tier, movement, clv``) where ``movement`` is one of stayed,
    upgraded, downgraded, new, vanished; ``summary``: customers per movement.
    """

    counts: pd.DataFrame
    clv: pd.DataFrame
    moves: pd.DataFrame
    summary: pd.Series


def _frame(table: pd.DataFrame, name: str) -> pd.DataFrame:
    if "customer_id" in table.columns:
        table = table.set_index("customer_id")
    require_columns(table, ("tier", "clv"), what=f"{name} assignments",
                    fix="pass a tiers table as written by clvkit score")
    dup = table.index[table.index.duplicated()]
    if len(dup):
        raise DataError(f"{name} assignments list {len(dup)} customers twice", column="customer_id",
                        rows=dup.unique(), fix="use one row per customer")
    return table


def tier_migration(previous: pd.DataFrame, current: pd.DataFrame, *,
                   order: Sequence[str] | None = None) -> MigrationResult:
    """Compare two runs' tier assignments.

    Parameters
    ----------
    previous, current : DataFrame
        Assignment tables with ``customer_id`` (column or index), ``tier`` and ``clv``.
    order : sequence of str, optional
        Tier labels, best first. Defaults to ``current["tier"]``'s categories when it is an ordered
        categorical, else the labels in order of first appearance in ``current`` then ``previous``.
        Labels found in the data but not in ``order`` are appended (lowest).
    """
    prev, cur = _frame(previous, "previous"), _frame(current, "current")
    if order is None:
        tier = cur["tier"]
        order = (list(tier.cat.categories) if isinstance(tier.dtype, pd.CategoricalDtype)
                 else list(dict.fromkeys(tier.astype(str))))
    order = [str(t) for t in order]
    seen = list(dict.fromkeys([*cur["tier"].astype(str), *prev["tier"].astype(str)]))
    order += [t for t in seen if t not in order]
    rank = {t: i for i, t in enumerate(order)}
    ids = cur.index.append(prev.index.difference(cur.index))
    from_t = prev["tier"].astype(str).reindex(ids).fillna(NEW)
    to_t = cur["tier"].astype(str).reindex(ids).fillna(VANISHED)
    clv = cur["clv"].astype("float64").reindex(ids)
    clv = clv.where(to_t != VANISHED, prev["clv"].astype("float64").reindex(ids))
    fr = from_t.map(rank).to_numpy(dtype="float64")
    tr = to_t.map(rank).to_numpy(dtype="float64")
    movement = np.select([from_t.to_numpy() == NEW, to_t.to_numpy() == VANISHED, tr < fr, tr > fr],
                         ["new", "vanished", "upgraded", "downgraded"], "stayed")
    moves = pd.DataFrame({"customer_id": ids.to_numpy(), "from_tier": from_t.to_numpy(),
                          "to_tier": to_t.to_numpy(), "movement": movement,
                          "clv": clv.to_numpy()})
    rows = pd.Categorical(moves["from_tier"], categories=[*order, NEW])
    cols = pd.Categorical(moves["to_tier"], categories=[*order, VANISHED])
    counts = pd.crosstab(rows, cols, dropna=False).rename_axis(index="from_tier", columns="to_tier")
    values = pd.crosstab(rows, cols, values=moves["clv"].fillna(0.0), aggfunc="sum",
                         dropna=False).fillna(0.0)
    values = values.rename_axis(index="from_tier", columns="to_tier")
    summary = (pd.Series(movement).value_counts()
               .reindex(["stayed", "upgraded", "downgraded", "new", "vanished"], fill_value=0)
               .rename("customers"))
    return MigrationResult(counts=counts, clv=values, moves=moves, summary=summary)
