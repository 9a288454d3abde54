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
    seen = pd.unique(np.concatenate([_labels(cur["tier"]), _labels(prev["tier"])]))
    order += [str(t) for t in seen if str(t) not in order]
    both = pd.merge(prev[["tier", "clv"]], cur[["tier", "clv"]], how="outer", left_index=True,
                    right_index=True, suffixes=("_prev", "_cur"), sort=False)
    both = both.loc[cur.index.append(prev.index.difference(cur.index))]
    k = len(order)
    fr = pd.Categorical(both["tier_prev"].astype("string"), categories=order).codes.astype(np.int64)
    tr = pd.Categorical(both["tier_cur"].astype("string"), categories=order).codes.astype(np.int64)
    fr[fr < 0], tr[tr < 0] = k, k  # (new) / (vanished)
    to_vanished = tr == k
    clv = np.where(to_vanished, both["clv_prev"].to_numpy(dtype="float64"),
                   both["clv_cur"].to_numpy(dtype="float64"))
    movement = np.select([fr == k, to_vanished, tr < fr, tr > fr],
                         ["new", "vanished", "upgraded", "downgraded"], "stayed")
    rows, cols = [*order, NEW], [*order, VANISHED]
    moves = pd.DataFrame({"customer_id": both.index.to_numpy(),
                          "from_tier": pd.Categorical.from_codes(fr, categories=rows),
                          "to_tier": pd.Categorical.from_codes(tr, categories=cols),
                          "movement": movement, "clv": clv})
    cell = fr * (k + 1) + tr
    shape = (k + 1, k + 1)
    counts = pd.DataFrame(np.bincount(cell, minlength=shape[0] * shape[1]).reshape(shape),
                          index=pd.Index(rows, name="from_tier"),
                          columns=pd.Index(cols, name="to_tier"))
    values = pd.DataFrame(np.bincount(cell, weights=np.nan_to_num(clv),
                                      minlength=shape[0] * shape[1]).reshape(shape),
                          index=counts.index, columns=counts.columns)
    summary = (pd.Series(movement).value_counts()
               .reindex(["stayed", "upgraded", "downgraded", "new", "vanished"], fill_value=0)
               .rename("customers"))
    return MigrationResult(counts=counts, clv=values, moves=moves, summary=summary)


def _labels(tier: pd.Series) -> np.ndarray:
    """Distinct labels of a tier column, as strings."""
    return pd.unique(tier.dropna().astype(str).to_numpy())
