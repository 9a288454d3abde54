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


def _column_key(stats):
    """Per column the sorted distinct values and each row's rank among them, and one int64 key
    per row whose order is the rows' lexicographic order (``None`` when it would overflow)."""
    levels, key, span = [], np.zeros(len(stats), dtype=np.int64), 1
    for col in stats.T:
        c, lev = pd.factorize(col, sort=True, use_na_sentinel=False)
        span *= max(len(lev), 1)
        if span >= 2 ** 62:
            return levels, None
        key = key * len(lev) + c
        levels.append(np.asarray(lev, dtype=float))
    return levels, key


def _decode(levels, ukey):
    """Distinct rows and their per-column codes from sorted distinct keys of :func:`_column_key`."""
    ucodes = []
    for lev in reversed(levels):
        ukey, c = np.divmod(ukey, max(len(lev), 1))
        ucodes.append(c)
    ucodes.reverse()
    uniq = np.column_stack([lev[c] for lev, c in zip(levels, ucodes)])
    return uniq, (tuple(levels), tuple(ucodes))


def _factor_columns(uniq):
    facs = [np.unique(col, return_inverse=True) for col in uniq.T]
    return tuple(f[0] for f in facs), tuple(f[1].ravel() for f in facs)


def unique_rows(stats: np.ndarray, *, columns: bool = False):
    """Distinct rows of a 2-D array (sorted) and the inverse map: ``uniq[inverse] == stats``.

    Hash-based: each column is factorised into ranks of its sorted distinct values
    (``pandas.factorize(sort=True)``), the ranks are packed into one int64 key whose order is the
    rows' lexicographic order, and the key is factorised once more: several times faster than
    ``np.unique(axis=0)``, which sorts structured rows. With ``columns=True`` also returns
    ``(levels, codes)``: per column the sorted distinct values and, per distinct row, the
    position of its value (``levels[j][codes[j]] == uniq[:, j]``), so a likelihood can evaluate
    functions of one statistic once per value and gather.
    """
    stats = _as_2d(stats)
    uniq, inverse, cols = _unique(stats, *_column_key(stats))
    return (uniq, inverse, cols) if columns else (uniq, inverse)


def _unique(stats, levels, key):
    """Distinct rows, inverse map and per-column ``(levels, codes)`` of 2-D ``stats``, given its
    :func:`_column_key`."""
    if key is None:                          # too many combinations for one int64 key
        uniq, inverse = np.unique(stats, axis=0, return_inverse=True)
        return uniq, inverse.ravel(), _factor_columns(uniq)
    inverse, ukey = pd.factorize(key, sort=True)
    uniq, cols = _decode(levels, ukey)
    return uniq, inverse, cols


def compress(stats: np.ndarray, weights: np.ndarray, *, columns: bool = False):
    """Collapse identical rows of ``stats`` into unique rows (sorted) with summed weights;
    with ``columns=True`` also the per-column ``(levels, codes)`` of :func:`unique_rows`.

    With unit weights (one row per customer) the distinct keys are counted by sorting, which
    needs no inverse map and is faster still.
    """
    stats = _as_2d(stats)
    weights = np.asarray(weights, dtype=float)
    levels, key = _column_key(stats)
    if key is not None and np.all(weights == 1.0):
        ukey, counts = np.unique(key, return_counts=True)
        uniq, cols = _decode(levels, ukey)
        w = counts.astype(float)
    else:
        uniq, inverse, cols = _unique(stats, levels, key)
        w = np.bincount(inverse, weights=weights, minlength=len(uniq))
    return (uniq, w, cols) if columns else (uniq, w)


class Rows:
    """Distinct rows of statistics with their weights, factorised by column (from
    :func:`compress` with ``columns=True``).

    A likelihood given ``Rows`` evaluates each function of a single statistic once per distinct
    value (``levels[j]``: a few hundred times on a daily grid) and gathers it by ``codes[j]``,
    instead of once per row. Rows are sorted lexicographically, so equal first statistics are
    contiguous. :meth:`memo` caches what depends on the data alone (weight sums per value,
    row slices), so each is computed once per fit, not once per evaluation.
    """

    def __init__(self, stats, weights, levels, codes):
        self.stats, self.weights = stats, weights
        self.levels, self.codes = tuple(levels), tuple(codes)
        self._memo = {}

    def __len__(self):
        return len(self.stats)

    def scaled(self, divisors: dict) -> Rows:
        """A copy with column ``j`` divided by ``divisors[j]`` (identical to dividing the rows)."""
        stats, levels = self.stats.copy(), list(self.levels)
        for j, d in divisors.items():
            stats[:, j] /= d
            if levels:
                levels[j] = levels[j] / d
        return Rows(stats, self.weights, levels, self.codes)

    def every(self, k: int) -> Rows:
        """Every ``k``-th row (a deterministic subsample, still sorted), weights unchanged."""
        return Rows(self.stats[::k], self.weights[::k], self.levels,
                    tuple(c[::k] for c in self.codes))

    def memo(self, name: str, fn):
        """``fn()`` computed on first request and kept: for quantities of the data alone."""
        if name not in self._memo:
            self._memo[name] = fn()
        return self._memo[name]


def _as_2d(stats):
    stats = np.asarray(stats, dtype=float)
    if stats.ndim != 2 or stats.shape[1] == 0:
        raise ValueError(f"need a 2-D array with at least one column, got shape {stats.shape}")
    return stats


def frame_time_unit(data) -> str | None:
    """The ``time_unit`` a summary frame carries in ``attrs`` (``None`` for arrays)."""
    return getattr(data, "attrs", {}).get("time_unit") if isinstance(data, pd.DataFrame) else None
