"""Small helpers shared by the tiers modules: reading params entries and checking frames."""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from clvkit.errors import ConfigError, DataError


def field(entry: object, name: str, default: object = None) -> object:
    """Read ``name`` from a params entry that is either a mapping or a (config) dataclass."""
    if isinstance(entry, Mapping):
        return entry.get(name, default)
    return getattr(entry, name, default)


def require_columns(frame: pd.DataFrame, columns, *, what: str, fix: str) -> None:
    """Raise one ``DataError`` naming the first missing column of ``frame``."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"{what} lacks column(s) {', '.join(map(repr, missing))}",
                        column=missing[0], fix=fix)


def check_no_nan(values: pd.Series, *, column: str, what: str) -> None:
    """Raise a ``DataError`` naming the customers whose ``column`` is missing."""
    bad = values.index[values.isna().to_numpy()]
    if len(bad):
        raise DataError(f"{what}: {len(bad)} customers have no value", column=column, rows=bad,
                        fix="score every customer first, or pass them as prospects")


def check_fraction(value: object, *, key: str) -> float:
    """Return ``value`` as a float in [0, 1] or raise a ``ConfigError`` naming ``key``."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"expected a number between 0 and 1, got {value!r}", key=key) from None
    if not 0.0 <= out <= 1.0:
        raise ConfigError(f"expected a number between 0 and 1, got {out:g}", key=key)
    return out


def rank_positions(score: pd.Series) -> np.ndarray:
    """Each customer's position (0 = best) ranking by score, high first, ties by customer_id.

    Deterministic: the same data in any row order give the same positions.
    """
    ids = score.index.to_numpy()
    id_rank = np.empty(len(ids), dtype=np.int64)
    id_rank[np.argsort(ids, kind="stable")] = np.arange(len(ids))
    order = np.lexsort((id_rank, -score.to_numpy(dtype="float64")))
    position = np.empty(len(ids), dtype=np.int64)
    position[order] = np.arange(len(ids))
    return position
