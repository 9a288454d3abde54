"""BG/BB: beta-geometric dropout and beta-Bernoulli purchasing over discrete opportunities.

At each of ``n`` opportunities an alive customer transacts with probability p ~ Beta(alpha,
beta) and, after it, dies with probability theta ~ Beta(gamma, delta). A customer's history is
summarised by ``frequency`` x (transactions in the n opportunities), ``recency`` t_x (the
opportunity of the last one, 0 if none) and ``n_periods`` n. Everything is a sum of beta
functions, so it is evaluated as ``betaln`` differences and ``logaddexp`` sums.

References
----------
Fader, Hardie and Shang (2010), "Customer-base analysis in a discrete-time noncontractual
setting", Marketing Science 29(6): the likelihood, P(X(n)=x), P(alive) and the conditional
expectation used here.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import betaln, digamma, gammaln

from clvkit.errors import DataError, ModelError
from clvkit.models._base import Model

PARAM_NAMES = ("alpha", "beta", "gamma", "delta")


def _dbetaln(a, b):
    """Partial derivatives of betaln(a, b) in a and in b."""
    ab = digamma(a + b)
    return digamma(a) - ab, digamma(b) - ab


def _opportunity_grid(first, last):
    """Integer grid i = 0..max(last-first) with a mask i <= last - first (rows on axis 0)."""
    span = np.asarray(last - first)
    width = int(span.max()) + 1 if span.size and span.max() >= 0 else 0
    i = np.arange(width, dtype=float)
    return i, i <= span[..., None]


def loglik(params, x, t_x, n, *, grad=False):
    """Per-customer BG/BB log-likelihood (FHS 2010), optionally with d ll / d log(theta).

    L = B(a+x, b+n-x)/B(a,b) B(g, d+n)/B(g,d)
        + sum_{i=0}^{n-t_x-1} B(a+x, b+t_x-x+i)/B(a,b) B(g+1, d+t_x+i)/B(g,d)

    Parameters
    ----------
    params : sequence of 4 floats
        ``(alpha, beta, gamma, delta)``, all > 0 (checked by the caller).
    x, t_x, n : array_like of int
        Frequency, recency and number of opportunities, 0 <= x <= t_x <= n.
    grad : bool
        Also return the gradient with respect to the log-parameters, shape ``(rows, 4)``.
    """
    a, b, g, d = (float(p) for p in params)
    x, t_x, n = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (x, t_x, n)))
    base_p, base_q = betaln(a, b), betaln(g, d)
    alive = betaln(a + x, b + n - x) - base_p + betaln(g, d + n) - base_q
    i, mask = _opportunity_grid(t_x, n - 1.0)
    bi = (b + t_x - x)[..., None] + i                      # beta + t_x - x + i
    di = (d + t_x)[..., None] + i                          # delta + t_x + i
    xi = x[..., None]
    died = np.where(mask, betaln(a + xi, bi) - base_p + betaln(g + 1.0, di) - base_q, -np.inf)
    ll = np.logaddexp(alive, np.logaddexp.reduce(died, axis=-1)) if died.shape[-1] else alive
    if not grad:
        return ll
    w_alive = np.exp(alive - ll)
    w_died = np.exp(died - ll[..., None])                  # zero where masked
    da0, db0 = _dbetaln(a, b)
    dg0, dd0 = _dbetaln(g, d)
    da_alive, db_alive = _dbetaln(a + x, b + n - x)
    dg_alive, dd_alive = _dbetaln(g, d + n)
    da_died, db_died = _dbetaln(a + xi, bi)
    dg_died, dd_died = _dbetaln(g + 1.0, di)
    out = np.empty(x.shape + (4,))
    out[..., 0] = a * (w_alive * da_alive + (w_died * da_died).sum(-1) - da0)
    out[..., 1] = b * (w_alive * db_alive + (w_died * db_died).sum(-1) - db0)
    out[..., 2] = g * (w_alive * dg_alive + (w_died * dg_died).sum(-1) - dg0)
    out[..., 3] = d * (w_alive * dd_alive + (w_died * dd_died).sum(-1) - dd0)
    return ll, out


def probability_alive(params, x, t_x, n, *, future=1):
    """P(alive at opportunity n + future | x, t_x, n) (FHS 2010 for future = 1)."""
    a, b, g, d = (float(p) for p in params)
    x, t_x, n, future = np.broadcast_arrays(*(np.asarray(v, dtype=float)
                                              for v in (x, t_x, n, future)))
    log_num = betaln(a + x, b + n - x) - betaln(a, b) + betaln(g, d + n + future) - betaln(g, d)
    return np.exp(log_num - loglik(params, x, t_x, n))


def _log_survival_sum(g, d, start, horizon):
    """log sum_{i=1}^{horizon} B(g, d+start+i)/B(g, d): expected alive opportunities ahead."""
    horizon = np.asarray(horizon, dtype=float)
    start, horizon = np.broadcast_arrays(np.asarray(start, dtype=float), horizon)
    i, mask = _opportunity_grid(np.ones_like(horizon), horizon)
    terms = np.where(mask, betaln(g, d + start[..., None] + 1.0 + i) - betaln(g, d), -np.inf)
    with np.errstate(divide="ignore"):
        return np.logaddexp.reduce(terms, axis=-1) if terms.shape[-1] else np.log(0 * horizon)


def expected_purchases(params, horizon, x, t_x, n):
    """E[X(n, n+horizon) | x, t_x, n]: expected transactions in the next ``horizon`` opportunities.

    Written as the sum over future opportunities of E[p 1{alive}] under the posterior
    (equal to FHS 2010's closed form, which divides by gamma - 1: unstable near gamma = 1).
    """
    a, b, g, d = (float(p) for p in params)
    horizon, x, t_x, n = np.broadcast_arrays(*(np.asarray(v, dtype=float)
                                               for v in (horizon, x, t_x, n)))
    log_p = betaln(a + x + 1.0, b + n - x) - betaln(a, b) - loglik(params, x, t_x, n)
    return np.exp(log_p + _log_survival_sum(g, d, n, horizon))


def expected_purchases_new_customer(params, n):
    """E[X(n)]: expected transactions of a new customer in its first ``n`` opportunities."""
    a, b, g, d = (float(p) for p in params)
    n = np.asarray(n, dtype=float)
    return a / (a + b) * np.exp(_log_survival_sum(g, d, np.zeros_like(n), n))


def probability_of_purchases(params, k, n):
    """P(X(n) = k): probability that a new customer makes exactly k transactions in n."""
    a, b, g, d = (float(p) for p in params)
    k, n = np.broadcast_arrays(np.asarray(k, dtype=float), np.asarray(n, dtype=float))
    def log_choose(m, j):
        return gammaln(m + 1.0) - gammaln(j + 1.0) - gammaln(m - j + 1.0)
    with np.errstate(invalid="ignore"):
        alive = (log_choose(n, k) + betaln(a + k, b + n - k) - betaln(a, b)
                 + betaln(g, d + n) - betaln(g, d))
    i, mask = _opportunity_grid(np.zeros_like(n), n - 1.0)
    ki = k[..., None]
    mask = mask & (i >= ki)
    with np.errstate(invalid="ignore"):
        died = np.where(mask, log_choose(i, ki) + betaln(a + ki, b + i - ki) - betaln(a, b)
                        + betaln(g + 1.0, d + i) - betaln(g, d), -np.inf)
    total = np.logaddexp(np.where(k <= n, alive, -np.inf),
                         np.logaddexp.reduce(died, axis=-1) if died.shape[-1] else -np.inf)
    return np.exp(total)


def discrete_arrays(frequency, recency=None, n_periods=None, *, where="summary"):
    """Validate ``frequency, recency, n_periods`` of a discrete-time summary (frame or arrays).

    A frame may name the opportunities ``periods`` (as lifetimes' donations file does).

    Returns
    -------
    (x, t_x, n, index) : three float ndarrays and the frame's index (``None`` for arrays).

    Raises
    ------
    DataError
        Missing column; missing, negative or non-integer values; recency > n_periods;
        frequency > recency (at most one transaction per opportunity); recency > 0 with
        frequency 0 -- naming the count and the first rows.
    """
    if isinstance(frequency, pd.DataFrame):
        frame = frequency
        n_col = "n_periods" if "n_periods" in frame.columns or "periods" not in frame.columns \
            else "periods"
        missing = [c for c in ("frequency", "recency", n_col) if c not in frame.columns]
        if missing:
            raise DataError(f"missing column(s) {', '.join(missing)}; BG/BB needs frequency, "
                            "recency and n_periods (opportunities) per customer", file=where,
                            column=missing[0], fix="count transactions per discrete opportunity")
        index = frame.index
        cols = [frame[c].to_numpy(dtype=float, na_value=np.nan)
                for c in ("frequency", "recency", n_col)]
    else:
        if recency is None or n_periods is None:
            raise DataError("frequency was given as an array without recency and n_periods",
                            file=where, fix="pass a frame, or all of frequency, recency, n_periods")
        cols = [np.asarray(v, dtype=float) for v in (frequency, recency, n_periods)]
        index = None
    x, t_x, n = np.broadcast_arrays(*cols)
    ids = np.asarray(index) if index is not None else np.arange(x.size)
    names = ("frequency", "recency", "n_periods")
    for name, v in zip(names, (x.ravel(), t_x.ravel(), n.ravel())):
        bad = ~np.isfinite(v) | (v < 0) | (v != np.round(v))
        if bad.any():
            raise DataError(f"{bad.sum()} values that are not whole numbers >= 0 (opportunities "
                            "are counted, no silent truncation)", file=where, column=name,
                            rows=ids[bad.ravel()][:5], fix="use whole counts of opportunities")
    checks = [(t_x > n, "recency", "recency > n_periods", "recency is the opportunity of the last "
               "transaction, at most n_periods"),
              (x > t_x, "frequency", "frequency > recency", "at most one transaction per "
               "opportunity, so frequency <= recency"),
              ((x == 0) & (t_x != 0), "recency", "recency > 0 with frequency 0",
               "a customer without transactions has recency 0")]
    for bad, col, rule, fix in checks:
        if bad.any():
            raise DataError(f"{rule} for {bad.sum()} customers", file=where, column=col,
                            rows=ids[bad.ravel()][:5], fix=fix)
    return x, t_x, n, index


class BetaGeoBetaBinom(Model):
    """BG/BB model of repeat transactions over discrete opportunities (Fader, Hardie, Shang 2010).

    Fit on one row per customer (or per distinct history with ``weights``) with ``frequency``
    (transactions after the first), ``recency`` (opportunity of the last transaction) and
    ``n_periods`` (number of opportunities). Opportunities carry no time unit.

    Examples
    --------
    >>> from clvkit.datasets import load_donations
    >>> BetaGeoBetaBinom().fit(load_donations())
    <BetaGeoBetaBinom fitted on 11,104 customers: alpha=1.204 beta=0.750 gamma=0.657 delta=2.783>
    """

    param_names = PARAM_NAMES
    stat_names = ("frequency", "recency", "n_periods")
    scale_stat = None
    scale_stats = ()
    scale_params = ()
    needs_time_unit = False
    _loglik = staticmethod(loglik)

    def _statistics(self, data):
        x, t_x, n, _ = discrete_arrays(data)
        return np.column_stack([x, t_x, n]), self._weights_of(data, x.size)

    def _check_data(self, stats, weights):
        if not (stats[:, 0] > 0).any():
            raise ModelError(f"{type(self).__name__}: no customer transacted in any opportunity "
                             f"among {weights.sum():,.0f} customers (every frequency is 0); "
                             "the transaction and dropout processes cannot be estimated")

    def _start_points(self, stats, weights):
        return [np.array(p) for p in ([1.0, 1.0, 1.0, 1.0], [0.5, 0.5, 0.5, 2.0],
                                      [2.0, 2.0, 0.2, 5.0])]

    def _inputs(self, frequency, recency, n_periods):
        return discrete_arrays(self._customers(frequency, recency, n_periods), recency, n_periods)

    # ------------------------------------------------------------- predictions
    def probability_alive(self, summary=None, recency=None, n_periods=None, *, future=1):
        """P(alive at opportunity n_periods + ``future`` | history) (FHS 2010).

        ``summary`` is a frame (``frequency, recency, n_periods``) or the frequencies as an
        array with ``recency`` and ``n_periods``; ``None`` means the training customers.
        """
        x, t_x, n, index = self._inputs(summary, recency, n_periods)
        return self._wrap(probability_alive(self._params(), x, t_x, n, future=future), index,
                          "p_alive")

    def expected_purchases(self, summary=None, recency=None, n_periods=None, *, horizon):
        """Expected transactions in the next ``horizon`` opportunities given the history."""
        _check_count(horizon, "horizon")
        x, t_x, n, index = self._inputs(summary, recency, n_periods)
        return self._wrap(expected_purchases(self._params(), horizon, x, t_x, n), index,
                          "expected_purchases")

    def expected_purchases_new_customer(self, *, horizon):
        """E[X(n)]: expected transactions of a new customer in its first ``horizon``
        opportunities."""
        _check_count(horizon, "horizon")
        return self._wrap(expected_purchases_new_customer(self._params(), horizon), None, None)

    def probability_of_purchases(self, k, *, horizon):
        """P(X(n) = k): a new customer makes exactly ``k`` transactions in ``horizon``
        opportunities."""
        _check_count(k, "k")
        _check_count(horizon, "horizon")
        return self._wrap(probability_of_purchases(self._params(), k, horizon), None, None)

    def probability_alive_interval(self, summary=None, recency=None, n_periods=None, *,
                                   level=0.9, n_draws=200, seed=0) -> pd.DataFrame:
        """P(alive) with a per-customer interval from parameter draws (estimate, lower, upper)."""
        x, t_x, n, index = self._inputs(summary, recency, n_periods)
        return self._interval(lambda m, *c: probability_alive(m._params(), *c), (x, t_x, n),
                              index, level=level, n_draws=n_draws, seed=seed, name="p_alive")

    def expected_purchases_interval(self, summary=None, recency=None, n_periods=None, *,
                                    horizon, level=0.9, n_draws=200, seed=0) -> pd.DataFrame:
        """Expected transactions over ``horizon`` opportunities with a per-customer interval."""
        x, t_x, n, index = self._inputs(summary, recency, n_periods)
        return self._interval(lambda m, *c: expected_purchases(m._params(), horizon, *c),
                              (x, t_x, n), index, level=level, n_draws=n_draws, seed=seed,
                              name="expected_purchases")


def _check_count(value, name):
    v = np.asarray(value, dtype=float)
    if np.any(~np.isfinite(v)) or np.any(v < 0) or np.any(v != np.round(v)):
        raise DataError(f"{name} must be a whole number >= 0 of opportunities, got {value!r}",
                        column=name, fix="pass integers")
