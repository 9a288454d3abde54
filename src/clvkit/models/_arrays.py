"""Array helpers shared by the models: input validation, row compression, count tables,
quantiles over parameter draws. No model logic here (that is :mod:`clvkit.models._base`)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from clvkit.errors import DataError


def _first_ids(index, mask, k: int = 5) -> list:
    return list(np.asarray(index)[np.asarray(mask)][:k])


def rfm_arrays(frequency, recency=None, T=None, *, where: str = "summary"):
    """Validate ``frequency, recency, T`` given as a summary frame or as arrays.

    Returns
    -------
    (x, t_x, T, index) : three float ndarrays (broadcast together) and the frame's index
        (``None`` when arrays were given).

    Raises
    ------
    DataError
        Missing column, NaN or infinite values, negative values, non-integer frequency,
        recency > T, or recency > 0 with frequency 0 -- naming the count and the first ids.
    """
    if frequency is None:
        raise DataError("no customers given: a fitted model keeps only compressed statistics, "
                        "not the training customers", file=where,
                        fix="pass the summary frame (or frequency, recency, T arrays)")
    if isinstance(frequency, pd.DataFrame):
        frame = frequency
        missing = [c for c in ("frequency", "recency", "T") if c not in frame.columns]
        if missing:
            raise DataError(f"missing column(s) {', '.join(missing)}; a model needs frequency, "
                            "recency and T per customer", file=where, column=missing[0],
                            fix="build the frame with clvkit.rfm.rfm_summary")
        index = frame.index
        cols = [frame[c].to_numpy(dtype=float, na_value=np.nan) for c in ("frequency", "recency", "T")]
    else:
        if recency is None or T is None:
            raise DataError("frequency was given as an array without recency and T",
                            file=where, fix="pass a summary frame, or all of frequency, recency, T")
        cols = [np.asarray(v, dtype=float) for v in (frequency, recency, T)]
        index = None
    x, t_x, T_ = np.broadcast_arrays(*cols)
    ids = index if index is not None else np.arange(x.size)
    flat = [v.ravel() for v in (x, t_x, T_)]
    for name, v in zip(("frequency", "recency", "T"), flat):
        bad = ~np.isfinite(v)
        if bad.any():
            raise DataError(f"{bad.sum()} missing or infinite values", file=where, column=name,
                            rows=_first_ids(ids, bad), fix="drop or fill these customers first")
        bad = v < 0
        if bad.any():
            raise DataError(f"{bad.sum()} negative values; it must be >= 0", file=where,
                            column=name, rows=_first_ids(ids, bad),
                            fix="check the dates and observation_end")
    fx, ftx, fT = flat
    bad = fx != np.round(fx)
    if bad.any():
        raise DataError(f"{bad.sum()} non-integer values: frequency counts repeat purchase "
                        "periods (no silent truncation)", file=where, column="frequency",
                        rows=_first_ids(ids, bad), fix="use whole repeat-purchase counts")
    bad = ftx > fT * (1 + 1e-9) + 1e-12
    if bad.any():
        raise DataError(f"recency > T for {bad.sum()} customers: recency must be <= T",
                        file=where, column="recency", rows=_first_ids(ids, bad),
                        fix="check observation_end (it must follow every purchase)")
    bad = (fx == 0) & (ftx != 0)
    if bad.any():
        raise DataError(f"recency > 0 with frequency 0 for {bad.sum()} customers: a customer "
                        "without repeat purchases has recency 0", file=where, column="recency",
                        rows=_first_ids(ids, bad), fix="recompute the summary with clvkit.rfm")
    return x, np.minimum(t_x, T_), T_, index


def per_count(f, x):
    """``f(x)`` for a function of purchase counts, evaluated once per count 0..max(x).

    Special functions (gammaln, digamma, betaln) of ``r + x`` dominate a likelihood's cost;
    counts are small integers, so a lookup table makes the cost per row a gather. ``f`` maps
    an array ``k`` to an array of shape ``(..., len(k))``; falls back to ``f(x)`` when ``x`` is
    not integer-valued or its maximum exceeds its size.
    """
    x = np.asarray(x, dtype=float)
    if x.size > 64:
        top = x.max()
        if 0 <= x.min() and top <= x.size:
            xi = x.astype(np.intp)
            if np.array_equal(xi, x):
                return f(np.arange(top + 1.0))[..., xi]
    return f(x)


def column_quantiles(sims: np.ndarray, probs) -> list[np.ndarray]:
    """Quantiles (linear interpolation) of each column of ``sims``, ignoring NaN draws.

    A vectorised ``np.nanquantile(sims, q, axis=0)`` (which loops over columns in Python).
    """
    s = np.sort(sims, axis=0)                       # NaN sort last
    n = (~np.isnan(s)).sum(axis=0)
    out = []
    for q in probs:
        pos = q * np.maximum(n - 1, 0)
        lo = np.floor(pos).astype(np.intp)
        hi = np.minimum(lo + 1, np.maximum(n - 1, 0))
        v_lo = np.take_along_axis(s, lo[None], axis=0)[0]
        v_hi = np.take_along_axis(s, hi[None], axis=0)[0]
        out.append(np.where(n > 0, v_lo + (pos - lo) * (v_hi - v_lo), np.nan))
    return out


def unique_rows(stats: np.ndarray):
    """Distinct rows of a 2-D array (sorted) and the inverse map: ``uniq[inverse] == stats``.

    Hash-based (``pandas.factorize`` per column, then on the combined code), several times faster
    than ``np.unique(axis=0)``, which sorts structured rows.
    """
    stats = np.asarray(stats, dtype=float)
    key = np.zeros(len(stats), dtype=np.int64)
    span = 1
    for col in stats.T:
        codes, levels = pd.factorize(col)
        span *= max(len(levels), 1)
        if span >= 2 ** 62:
            uniq, inverse = np.unique(stats, axis=0, return_inverse=True)
            return uniq, inverse.ravel()
        key = key * len(levels) + codes
    codes, levels = pd.factorize(key)
    first = np.empty(len(levels), dtype=np.intp)
    first[codes[::-1]] = np.arange(len(stats))[::-1]
    uniq = stats[first]
    order = np.lexsort(uniq.T[::-1])
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return uniq[order], rank[codes]


def compress(stats: np.ndarray, weights: np.ndarray):
    """Collapse identical rows of ``stats`` into unique rows with summed weights."""
    uniq, inverse = unique_rows(stats)
    return uniq, np.bincount(inverse, weights=weights, minlength=len(uniq))


def frame_time_unit(data) -> str | None:
    """The ``time_unit`` a summary frame carries in ``attrs`` (``None`` for arrays)."""
    return getattr(data, "attrs", {}).get("time_unit") if isinstance(data, pd.DataFrame) else None
