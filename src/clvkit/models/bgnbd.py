"""BG/NBD: Poisson purchasing while alive, a coin flip after each purchase decides dropout.

Parameters ``r, alpha`` (gamma heterogeneity of the purchase rate; ``alpha`` is in units of
time) and ``a, b`` (beta heterogeneity of the dropout probability p).

The log-likelihood is evaluated in the form of Hardie's note on the "#NUM!" error:

    ll = A + B + log( (alpha+T)^-(r+x) + [x>0] a/(b+x-1) (alpha+t_x)^-(r+x) )

with A = log Gamma(r+x) - log Gamma(r) + r log alpha and B = log B(a, b+x) - log B(a, b), the
sum taken with ``logaddexp`` so that no power of (alpha+T) is formed.

Conditional expectations use Euler's transformation of the hypergeometric term,

    ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; z)
        = (1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z),        z = t / (alpha+T+t),

whose parameters do not grow with x: no overflow for heavy buyers (the left side overflows and
underflows into NaN at large x).

References
----------
Fader, Hardie and Lee (2005), "Counting your customers the easy way: an alternative to the
Pareto/NBD model", Marketing Science 24(2), eqs. (6), (8), (9), (10), (13).
Hardie, "Overcoming the BG/NBD model's #NUM! error problem" (note, 2013).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import betainc, betaln, digamma, expit, gammaln, hyp2f1, polygamma

from clvkit.models._base import Model, per_count, unique_rows
from clvkit.models.covariates import CovariateMixin, CovariateSpec

PARAM_NAMES = ("r", "alpha", "a", "b")


def _arrays(*vals):
    return np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in vals))


def loglik(params, x, t_x, T, *, grad=False):
    """Per-customer BG/NBD log-likelihood (FHL 2005 eq. 6), optionally with its gradient.

    Parameters
    ----------
    params : sequence of 4 floats
        ``(r, alpha, a, b)``, all > 0 (checked by the caller).
    x, t_x, T : array_like
        Repeat purchases, time of the last purchase, length of observation (unit of ``alpha``).
    grad : bool
        Also return d ll / d log(theta), shape ``(n, 4)``.
    """
    return _row_form(params, x, t_x, T, grad, _count_terms, skip_zero=True)


def _row_form(params, x, t_x, T, grad, count_terms, *, skip_zero):
    """Per-row ll = r log alpha + K0(x) + logaddexp(C, D), shared with MBG/NBD (see
    :func:`_total_form` for C and D); with ``skip_zero`` the dropout branch D is absent at x = 0
    (BG/NBD)."""
    r, alpha, a, b = (float(p) for p in params)
    x, t_x, T = _arrays(x, t_x, T)
    K = per_count(lambda k: count_terms(r, a, b, k, grad), x)
    log_alpha_T, log_alpha_tx = np.log(alpha + T), np.log(alpha + t_x)
    C = -(r + x) * log_alpha_T
    D = np.log(a) - K[1] - (r + x) * log_alpha_tx
    if skip_zero:
        D = np.where(x > 0, D, -np.inf)
    L = np.logaddexp(C, D)
    ll = r * np.log(alpha) + K[0] + L
    if not grad:
        return ll
    wC = np.exp(C - L)
    wD = 1.0 - wC
    d_r = K[2] - digamma(r) + np.log(alpha) - wC * log_alpha_T - wD * log_alpha_tx
    d_alpha = r / alpha - (r + x) * (wC / (alpha + T) + wD / (alpha + t_x))
    d_a = digamma(a + b) - K[3] + wD / a
    d_b = K[4] - digamma(b) + digamma(a + b) - K[3] - wD * K[5]
    return ll, np.stack([r * d_r, alpha * d_alpha, a * d_a, b * d_b], axis=-1)


def _count_terms(r, a, b, k, grad, hess=False):
    """The terms of the BG/NBD likelihood that depend on the count x = k alone: A + B of the
    module doc, log(b+k-1) and, for the gradient, digamma(r+k), digamma(a+b+k), digamma(b+k),
    1/(b+k-1), and for the Hessian trigamma(r+k), trigamma(a+b+k), trigamma(b+k) (the b+k-1
    terms are unused at k = 0, where the dropout branch is absent)."""
    bk1 = np.where(k > 0, b + k - 1, 1.0)
    beta_ratio = 0.0 * k if np.isinf(b) else betaln(a, b + k) - betaln(a, b)    # 0 at b = inf
    rows = [gammaln(r + k) - gammaln(r) + beta_ratio, np.log(bk1)]
    if grad:
        rows += [digamma(r + k), digamma(a + b + k), digamma(b + k), 1.0 / bk1]
    if hess:
        rows += [polygamma(1, r + k), polygamma(1, a + b + k), polygamma(1, b + k)]
    return np.stack(rows)


def loglik_total(params, rows, *, grad=False):
    """Weighted sum of :func:`loglik` over distinct rows (:class:`~clvkit.models._arrays.Rows`
    of ``x, t_x, T``), optionally with its gradient in log-parameters."""
    return _total_form(params, rows, grad, _count_terms, skip_zero=True)


def loglik_total_hess(params, rows):
    """:func:`loglik_total` with its gradient and Hessian in log-parameters: the form the fit
    uses (Newton steps; the covariance from the exact Hessian)."""
    return _total_form(params, rows, True, _count_terms, skip_zero=True, hess=True)


def _total_form(params, rows, grad, count_terms, *, skip_zero, hess=False):
    """The weighted total of ll = r log alpha + K0(x) + C + softplus(u), shared with MBG/NBD.

    C = -(r+x) log(alpha+T) and u = D - C = log a - log(b + x - 1 [MBG: b + x])
    + (r+x) (log(alpha+T) - log(alpha+t_x)). Everything that is a function of one statistic is
    evaluated on its distinct values (``rows.levels``); the terms linear in such a function are
    summed through the weight totals per value (computed once per fit by ``rows.memo``), so only
    u, softplus(u), its derivative sigma(u) = P(dropout branch) (for the Hessian also
    sigma(1 - sigma) and the derivatives of u) are formed per row, and only
    for rows with a dropout branch (x > 0 in BG/NBD, whose rows come first when x = 0).
    softplus is log(1 + e^u) on e^u (exact to 1e-16 absolute per row). e^u is
    exp(log a - log(b+x-1) + (r+x) log(alpha+T)) exp(-(r+x) log(alpha+t_x)): two tables over
    (x, T) and (x, t_x) values gathered per row, which is cheaper than an exp per row when the
    tables are small; when they are large, or an exponent leaves +-700, e^u is formed per row,
    and rows with u > 700, where e^u overflows, take the ``logaddexp``/``expit`` form instead.
    """
    r, alpha, a, b = (float(p) for p in params)
    (lev_x, lev_tx, lev_T), (c_x, c_tx, c_T), w = rows.levels, rows.codes, rows.weights

    def data_terms():
        W_x = np.bincount(c_x, weights=w, minlength=len(lev_x))
        W_T = np.bincount(c_T, weights=w, minlength=len(lev_T))
        X_T = np.bincount(c_T, weights=w * lev_x[c_x], minlength=len(lev_T))
        first = int(np.searchsorted(c_x, 1)) if skip_zero and lev_x[0] == 0 else 0
        starts = np.flatnonzero(np.diff(c_x[first:], prepend=-1))   # x runs (rows are sorted)
        cx = c_x[first:]
        tables = len(lev_x) * (len(lev_T) + len(lev_tx)) <= len(cx)
        keys = (cx * len(lev_T) + c_T[first:], cx * len(lev_tx) + c_tx[first:]) if tables else None
        return W_x, W_T, X_T, w.sum(), first, starts, cx[starts], keys

    if len(rows) == 0:
        return (0.0, np.zeros(4), np.zeros((4, 4))) if hess else (
            (0.0, np.zeros(4)) if grad else 0.0)
    W_x, W_T, X_T, n, first, starts, x_of_run, keys = rows.memo(f"bg_total_{skip_zero}",
                                                                data_terms)
    K = count_terms(r, a, b, lev_x, grad, hess) if hess else count_terms(r, a, b, lev_x, grad)
    rk = r + lev_x
    log_a_T, log_a_tx = np.log(alpha + lev_T), np.log(alpha + lev_tx)
    cx, ctx, cT, wp = c_x[first:], c_tx[first:], c_T[first:], w[first:]
    rkr = rk[cx]
    d = log_a_T[cT] - log_a_tx[ctx]
    g = np.log(a) - K[1]
    e, big = None, False
    if keys is not None:
        e = _exp_u_from_tables(g, rk, log_a_T, log_a_tx, keys)
    if e is None:
        u = rkr * d
        u += g[cx]
        big = u.max(initial=-np.inf) > 700.0
        if not big:
            e = np.exp(u)
    if big:
        softplus = np.logaddexp(0.0, u)
    else:
        one_e = 1.0 + e
        softplus = np.log(one_e)      # = log1p(e) to 1e-16 absolute, and faster
    total = (r * np.log(alpha) * n + W_x @ K[0] - log_a_T @ (r * W_T + X_T)
             + np.einsum("i,i->", wp, softplus))
    if not grad:
        return total
    sig = expit(u) if big else e / one_e                # P(dropout branch)
    v = wp * sig                                        # weight x P(dropout branch)
    V_x = np.zeros(len(lev_x))
    V_x[x_of_run] = np.add.reduceat(v, starts) if len(v) else 0.0
    inv_T, inv_tx = 1.0 / (alpha + lev_T), 1.0 / (alpha + lev_tx)
    g_T, g_tx = inv_T[cT], inv_tx[ctx]
    delta = g_T - g_tx                                  # d u / d alpha = (r + x) delta
    d_r = (W_x @ K[2] - n * digamma(r) + n * np.log(alpha) - W_T @ log_a_T
           + np.einsum("i,i->", v, d))
    d_alpha = (n * r / alpha - inv_T @ (r * W_T + X_T)
               + np.einsum("i,i,i->", v, rkr, delta))
    d_a = n * digamma(a + b) - W_x @ K[3] + V_x.sum() / a
    d_b = W_x @ (K[4] - K[3]) + n * (digamma(a + b) - digamma(b)) - V_x @ K[5]
    theta, nat = np.array([r, alpha, a, b]), np.array([d_r, d_alpha, d_a, d_b])
    if not hess:
        return total, theta * nat
    H = _hessian_terms(r, alpha, a, b, n, W_x, W_T, X_T, K, inv_T, wp, v, V_x, sig, d, rkr,
                       delta, g_T + g_tx, starts, x_of_run)
    return total, theta * nat, np.outer(theta, theta) * H + np.diag(theta * nat)


def _hessian_terms(r, alpha, a, b, n, W_x, W_T, X_T, K, inv_T, wp, v, V_x, sig, d, rkr, delta,
                   g_sum, starts, x_of_run):
    """The Hessian of the BG/NBD (MBG/NBD) total in natural parameters (r, alpha, a, b).

    softplus(u) contributes sigma(1-sigma) u_i u_j + sigma u_ij per row, with u_r = d,
    u_alpha = (r+x) delta, u_a = 1/a, u_b = -1/(b+x-1) (MBG: -1/(b+x)) = -K5,
    delta = 1/(alpha+T) - 1/(alpha+t_x); the terms that are functions of one statistic add
    their trigamma and 1/(alpha+T)^2 parts. Sums over rows are taken per count where the
    factor depends on the count alone.
    """
    ws2 = v * (1.0 - sig)                             # weight x sigma (1 - sigma)
    delta2 = -delta * g_sum                           # d delta / d alpha = 1/(a+t_x)^2 - 1/(a+T)^2
    rd = rkr * delta                                  # u_alpha
    ein = np.einsum

    def per_x(values):
        out = np.zeros(len(W_x))
        if len(values):
            out[x_of_run] = np.add.reduceat(values, starts)
        return out

    S2_x, S2d_x, S2rd_x = per_x(ws2), per_x(ws2 * d), per_x(ws2 * rd)
    K5 = K[5]
    H = np.empty((4, 4))
    H[0, 0] = W_x @ K[6] - n * polygamma(1, r) + ein("i,i,i->", ws2, d, d)
    H[0, 1] = (n / alpha - W_T @ inv_T + ein("i,i,i->", ws2, d, rd) + ein("i,i->", v, delta))
    H[1, 1] = (-n * r / alpha ** 2 + (inv_T ** 2) @ (r * W_T + X_T) + ein("i,i,i->", ws2, rd, rd)
               + ein("i,i,i->", v, rkr, delta2))
    H[0, 2] = S2d_x.sum() / a
    H[0, 3] = -(S2d_x @ K5)
    H[1, 2] = S2rd_x.sum() / a
    H[1, 3] = -(S2rd_x @ K5)
    H[2, 2] = n * polygamma(1, a + b) - W_x @ K[7] + (S2_x.sum() - V_x.sum()) / a ** 2
    H[2, 3] = n * polygamma(1, a + b) - W_x @ K[7] - (S2_x @ K5) / a
    H[3, 3] = (W_x @ (K[8] - K[7]) + n * (polygamma(1, a + b) - polygamma(1, b))
               + (S2_x + V_x) @ K5 ** 2)
    for i in range(4):
        for j in range(i):
            H[i, j] = H[j, i]
    return H


def _exp_u_from_tables(g, rk, log_a_T, log_a_tx, keys):
    """e^u per row as exp(g + rk log(alpha+T)) exp(-rk log(alpha+t_x)), each factor from a
    table over (x, T) or (x, t_x) values gathered by ``keys``; ``None`` when an exponent leaves
    [-700, 700] or their sum could exceed 700 (a factor would overflow or lose precision)."""
    A_T = g[:, None] + rk[:, None] * log_a_T
    A_tx = -rk[:, None] * log_a_tx
    lo, hi_T, hi_tx = min(A_T.min(), A_tx.min()), A_T.max(), A_tx.max()
    if lo < -700.0 or max(hi_T, hi_tx) > 700.0 or hi_T + hi_tx > 700.0:
        return None
    e = np.exp(A_T).ravel()[keys[0]]
    e *= np.exp(A_tx).ravel()[keys[1]]
    return e


def log_alive_odds(params, x, t_x, T):
    """log[(1 - P(alive)) / P(alive)] = log(a/(b+x-1)) + (r+x) log((alpha+T)/(alpha+t_x)) for x > 0
    (FHL 2005 eq. A2 / Hardie's P(alive) note); -inf for x = 0, who are alive for sure."""
    r, alpha, a, b = (float(p) for p in params)
    x, t_x, T = _arrays(x, t_x, T)
    pos = x > 0
    bx1 = np.where(pos, b + x - 1, 1.0)
    odds = np.log(a) - np.log(bx1) + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
    return np.where(pos, odds, -np.inf)


def _hyp2f1(A, B, C, z):
    """scipy's 2F1, with its rare non-finite results (seen when c - a - b is an integer, e.g.
    2F1(1, 1; 101; 0.9) = inf in scipy 1.17) recomputed by direct summation of the series.

    In the Euler form used here 0 <= z < 1, so the series converges geometrically; scipy's
    finite values agree with 50-digit mpmath (tested), only inf/NaN elements take this path.
    """
    h = hyp2f1(A, B, C, z)
    bad = ~np.isfinite(h)
    if bad.any():
        h, A, B, C, z = (np.array(v, dtype=float) for v in np.broadcast_arrays(h, A, B, C, z))
        h[bad] = _series(A[bad], B[bad], C[bad], z[bad])
    return h


def _series(A, B, C, z, max_terms=200_000):
    """sum_k (A)_k (B)_k / ((C)_k k!) z^k for 0 <= z < 1, until terms fall below 1e-17 of the sum."""
    term, total = np.ones_like(z), np.ones_like(z)
    active = np.ones(z.shape, dtype=bool)
    for k in range(max_terms):
        term = np.where(active, term * (A + k) * (B + k) / ((C + k) * (k + 1)) * z, 0.0)
        total += term
        active &= np.abs(term) > 1e-17 * np.abs(total)
        if not active.any():
            break
    return total


def _bracket(C, A_, B_, z, factor):
    """factor * [1 - (1-z)^(a-1) 2F1(A_, B_; C; z)] with B_ = a - 1: the shape of E[X] terms.

    Both ``factor`` (~ 1/(a-1)) and the bracket vanish at a = 1; there the removable singularity
    is bridged by interpolating between a - 1 = -/+ 1e-6 (:func:`_near_one`; the bracket's
    cancellation then costs ~1e-10 relative).
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        h = _hyp2f1(A_, B_, C, z)
        lead = B_ * np.log1p(-z)
        inner = np.where(h > 0, -np.expm1(lead + np.log(np.where(h > 0, h, 1.0))),
                         1.0 - np.exp(lead) * h)
    return factor * inner


def _near_one(fn, a, delta=1e-6):
    """fn(a), or for |a - 1| < delta the linear interpolation of fn(1 -/+ delta) at a."""
    if abs(a - 1.0) >= delta:
        return fn(a)
    w = (a - 1.0 + delta) / (2 * delta)
    return (1 - w) * fn(1.0 - delta) + w * fn(1.0 + delta)


def no_dropout(params) -> bool:
    """True at the no-dropout boundary b = inf, where BG/NBD (and MBG/NBD) is the NBD model:
    nobody drops out, P(alive) = 1, and ``a`` enters no prediction."""
    return bool(np.isinf(float(params[3])))


def expected_if_alive(params, t, x, T):
    """E[Y(t) | alive at T, x, T]: expected purchases in (T, T+t] of a customer still alive.

    Times P(alive) it is FHL 2005 eq. (10); written with Euler's transformation (module doc).
    At the no-dropout boundary (b = inf) it is the NBD's (r + x) t / (alpha + T).
    """
    r, alpha, a, b = (float(p) for p in params)
    t, x, T = _arrays(t, x, T)
    if no_dropout(params):
        return (r + x) * t / (alpha + T)
    z = t / (alpha + T + t)
    return _near_one(lambda a_: _bracket(a_ + b + x - 1, a_ + b - 1 - r, a_ - 1, z,
                                         (a_ + b + x - 1) / (a_ - 1)), a)


def expected_purchases(params, t, x, t_x, T):
    """E[Y(t) | x, t_x, T] (FHL 2005 eq. 10)."""
    return expected_if_alive(params, t, x, T) * expit(-log_alive_odds(params, x, t_x, T))


def expected_purchases_new_customer(params, t):
    """E[X(t)] for a customer just acquired (FHL 2005 eq. 9); r t / alpha when b = inf."""
    r, alpha, a, b = (float(p) for p in params)
    t = np.asarray(t, dtype=float)
    if no_dropout(params):
        return r * t / alpha
    z = t / (alpha + t)
    return _near_one(lambda a_: _bracket(a_ + b - 1, a_ + b - 1 - r, a_ - 1, z,
                                         (a_ + b - 1) / (a_ - 1)), a)


def probability_of_purchases(params, n, t):
    """P(X(t) = n) for a new customer (FHL 2005 eq. 8).

    The sum of NBD probabilities below n is the regularised incomplete beta
    I_{t/(alpha+t)}(n, r), the NBD's upper tail.
    """
    r, alpha, a, b = (float(p) for p in params)
    n, t = _arrays(n, t)
    with np.errstate(divide="ignore"):
        log_nbd = (gammaln(r + n) - gammaln(r) - gammaln(n + 1) + r * np.log(alpha / (alpha + t))
                   + n * np.log(t / (alpha + t)))
    if no_dropout(params):
        return np.exp(log_nbd)
    first = np.exp(betaln(a, b + n) - betaln(a, b) + log_nbd)
    pos = n > 0
    n1 = np.where(pos, n, 1.0)
    second = np.exp(betaln(a + 1, b + n1 - 1) - betaln(a, b)) * betainc(n1, r, t / (alpha + t))
    return first + np.where(pos, second, 0.0)


class BetaGeo(CovariateMixin, Model):
    """BG/NBD model of repeat purchasing (Fader, Hardie and Lee 2005).

    Parameters
    ----------
    penalizer : float
        L2 penalty on the parameters (in time rescaled so max T = 1), like lifetimes'
        ``penalizer_coef``.
    ci_level : float
        Level of the intervals in :meth:`summary`.

    Examples
    --------
    >>> import pandas as pd
    >>> from clvkit.datasets.cdnow import lifetimes_data_path
    >>> s = pd.read_csv(lifetimes_data_path("cdnow_customers_summary.csv"), index_col="ID")
    >>> BetaGeo().fit(s, time_unit="W")
    <BetaGeo fitted on 2,357 customers: r=0.243 alpha=4.414 a=0.793 b=2.426>
    """

    param_names = PARAM_NAMES
    _dropout_index, _dropout_sign = (2, 3), 1.0       # a_i, b_i = a, b exp(gamma_d' x)
    covariates_ = None
    _loglik = staticmethod(loglik)
    _loglik_total = staticmethod(loglik_total)
    _loglik_total_hess = staticmethod(loglik_total_hess)
    _log_alive_odds = staticmethod(log_alive_odds)
    _expected_if_alive = staticmethod(expected_if_alive)
    _new_customer = staticmethod(expected_purchases_new_customer)
    _pmf = staticmethod(probability_of_purchases)

    def fit(self, data, *, time_unit=None, purchase_covariates=None, dropout_covariates=None):
        """Fit to per-customer ``frequency, recency, T``; return ``self``.

        Parameters
        ----------
        data : pandas.DataFrame
            The summary (see :meth:`Model.fit`), with the covariate columns when covariates
            are given.
        time_unit : {"D", "W", "M", "Y"}, optional
            Unit of ``recency`` and ``T`` (default: ``data.attrs["time_unit"]``).
        purchase_covariates, dropout_covariates : list of str, optional
            Columns of ``data`` (one value per customer) that shift the purchase rate and the
            dropout process, in CLVTools' parameterisation (:mod:`clvkit.models.covariates`).
            Their coefficients join ``params_`` as ``purchase_<column>`` and
            ``dropout_<column>`` (``<column>[<level>]`` for a level of a categorical column),
            on the original scale of the columns.
        """
        self.covariates_ = None
        if purchase_covariates or dropout_covariates:
            if tuple(self.param_names) not in (PARAM_NAMES, ("r", "alpha", "s", "beta")):
                from clvkit.errors import ModelError
                raise ModelError(f"{type(self).__name__}: covariates are available for BetaGeo, "
                                 "ModifiedBetaGeo and ParetoNBD")
            return self._fit_covariates(data, time_unit, purchase_covariates, dropout_covariates)
        return super().fit(data, time_unit=time_unit)

    def _extra_meta(self):
        return {"covariates": None if self.covariates_ is None else self.covariates_.to_dict()}

    def _load_extra_meta(self, fit):
        doc = fit.get("covariates")
        self.covariates_ = None if doc is None else CovariateSpec.from_dict(doc)

    def _no_covariates(self, what):
        if self.covariates_ is not None:
            from clvkit.errors import ModelError
            raise ModelError(f"{type(self).__name__} with covariates: {what} is not available "
                             "(it needs a customer's covariates); use probability_alive and "
                             "expected_purchases with a summary frame")

    def _check_data(self, stats, weights):
        from clvkit.errors import ModelError
        if not (stats[:, 0] > 0).any():
            raise ModelError(f"{type(self).__name__}: no repeat buyers among "
                             f"{weights.sum():,.0f} customers (every frequency is 0), so the "
                             "dropout process cannot be estimated; use a longer history")

    def _start_points(self, stats, weights):
        return [np.array(p) for p in ([1.0, 1.0, 1.0, 1.0], [0.5, 0.2, 0.5, 2.0],
                                      [2.0, 5.0, 2.0, 5.0], [0.1, 0.05, 0.1, 0.1])]

    def _boundary_limit(self, rows, theta):
        """The no-dropout limit b = inf (the NBD model), when it fits as well as the estimate.

        With no sign of dropout in the data the likelihood rises towards b -> inf (mean dropout
        probability a/(a+b) -> 0) along a ridge where a is not identified: the optimiser stops
        anywhere on it, with a singular Hessian, and the hypergeometric predictions overflow to
        -inf for large a. The supremum is the NBD likelihood, so (r, alpha) are refitted with
        b = inf; the limit is taken when its log-likelihood is within 0.01 (+ 1e-7 per customer)
        of the estimate's: a likelihood-ratio statistic of 0.02, no evidence of dropout (an
        estimate on another edge, e.g. a, b -> 0 with a tiny mass of certain dropouts, gains
        no more than that on such data). A better interior or edge optimum is kept. ``a`` is
        then set to 1: it enters no prediction (P(alive) = 1, E[Y(t) | x, T] = (r + x) t /
        (alpha + T)).
        """
        if self.penalizer > 0:
            return None
        n = rows.weights.sum()
        with np.errstate(all="ignore"):
            ll_fit = float(self._total(np.exp(theta), rows))

        def objective(th):
            params = np.array([np.exp(th[0]), np.exp(th[1]), 1.0, np.inf])
            with np.errstate(all="ignore"):
                ll, g = self._total(params, rows, grad=True)
            return -ll / n, -g[:2] / n

        from scipy import optimize
        res = optimize.minimize(objective, theta[:2], jac=True, method="L-BFGS-B",
                                options={"maxiter": 2000, "ftol": 1e-15, "gtol": 1e-9})
        ll_nbd = -res.fun * n
        if not (res.success and np.isfinite(ll_nbd)) or ll_nbd < ll_fit - 0.01 - 1e-7 * n:
            return None
        H = np.full((4, 4), np.nan)
        h, g0 = 1e-6, objective(res.x)[1]
        for j in range(2):
            step = np.zeros(2)
            step[j] = h
            H[:2, j] = (objective(res.x + step)[1] - g0) * n / h
        H[:2, :2] = (H[:2, :2] + H[:2, :2].T) / 2
        theta_limit = np.array([res.x[0], res.x[1], 0.0, np.inf])
        return theta_limit, H, (
            "no dropout in this history: the fit runs to the boundary b -> infinity (mean "
            "dropout probability a/(a+b) -> 0), where the model is the NBD; predictions use that "
            "limit (P(alive) = 1 for every customer) and a is not identified (set to 1). "
            "Compare ParetoNBD, use a longer history, or a penalizer to keep b finite")

    def _log_jacobian(self, stats, weights, log_scale):
        """-log(scale) sum w x for BG/NBD, MBG/NBD and Pareto/NBD, whose likelihood is the full
        density of the purchase times; ``None`` (evaluate directly) for other subclasses."""
        if tuple(self.param_names) not in (PARAM_NAMES, ("r", "alpha", "s", "beta")):
            return None
        return -log_scale * float(weights @ stats[:, 0])

    def _limit_applies(self):
        """The no-dropout limit is known for BG/NBD and MBG/NBD (parameters r, alpha, a, b),
        not for subclasses with other parameters (Pareto/NBD, CNBD-k, Gamma-Gompertz)."""
        return tuple(self.param_names) == PARAM_NAMES and self.penalizer == 0

    def _near_boundary(self, theta):
        """A mean dropout probability a/(a+b) below 1e-4, or a > 100 (a beta so concentrated
        that the hypergeometric terms lose accuracy): compare with the no-dropout limit."""
        a, b = np.exp(theta[2]), np.exp(theta[3])
        return bool(a / (a + b) < 1e-4 or a > 100)

    def _check_estimate(self):
        """Refuse an estimate whose conditional expectations are not finite.

        For large a (the dropout probability nearly the same for every customer) the
        hypergeometric terms overflow; checked at the extremes of the training statistics.
        """
        if tuple(self.param_names) != PARAM_NAMES:
            return                        # the check knows the BG/NBD forms only
        params = self._params()
        stats = self._stats
        x = np.array([0.0, stats[:, 0].max()])
        T = np.array([stats[:, 2].min(), stats[:, 2].max()])
        with np.errstate(all="ignore"):
            probe = np.r_[np.ravel(type(self)._expected_if_alive(params, T[1], x[:, None], T)),
                          np.ravel(type(self)._new_customer(params, T))]
        if not np.all(np.isfinite(probe)):
            from clvkit.errors import ModelError
            name = type(self).__name__
            ps = ", ".join(f"{k} = {v:.3g}" for k, v in self.params_.items())
            raise ModelError(f"{name}: the estimate ({ps}) makes the expected purchases "
                             "non-finite (a and b so large that the dropout probability is "
                             "nearly the same for every customer); fix: refit with a small "
                             "penalizer (model.penalizer: 0.001), or compare ParetoNBD")

    # ------------------------------------------------------------- predictions
    def probability_alive(self, summary=None, recency=None, T=None):
        """P(alive at T | x, t_x, T) per customer.

        Parameters
        ----------
        summary : pandas.DataFrame or array_like, optional
            A summary frame (``frequency, recency, T``), or the frequencies as an array with
            ``recency`` and ``T``; ``None`` means the training customers.

        Returns
        -------
        pandas.Series indexed like the frame (arrays in, ndarray out).
        """
        if self.covariates_ is not None and recency is None and T is None:
            frame, out = self._by_pattern(summary, lambda m, rows: m.probability_alive(rows))
            return self._wrap(out, frame.index, "p_alive")
        x, t_x, T_, index = self._rfm_inputs(summary, recency, T)
        p = expit(-type(self)._log_alive_odds(self._params(), x, t_x, T_))
        return self._wrap(p, index, "p_alive")

    def expected_purchases(self, summary=None, recency=None, T=None, *, horizon):
        """E[purchases in (T, T + horizon] | x, t_x, T] per customer.

        Parameters
        ----------
        summary : pandas.DataFrame or array_like, optional
            As in :meth:`probability_alive`; ``None`` means the training customers.
        horizon : float or array_like
            Length of the future period, in the model's ``time_unit_``.
        """
        if self.covariates_ is not None and recency is None and T is None:
            frame, out = self._by_pattern(
                summary, lambda m, rows: m.expected_purchases(rows, horizon=horizon))
            return self._wrap(out, frame.index, "expected_purchases")
        x, t_x, T_, index = self._rfm_inputs(summary, recency, T)
        if np.ndim(horizon) == 0:
            out = self._path(np.array([horizon], dtype=float), x, t_x, T_)[0].reshape(x.shape)
        else:
            params = self._params()
            out = (type(self)._expected_if_alive(params, horizon, x, T_)
                   * expit(-type(self)._log_alive_odds(params, x, t_x, T_)))
        return self._wrap(out, index, "expected_purchases")

    def expected_purchases_path(self, ts, frequency=None, recency=None, T=None):
        """Conditional expected purchases at each horizon of ``ts``, shape ``(len(ts), n)``."""
        if self.covariates_ is not None and recency is None and T is None:
            return self._by_pattern(frequency,
                                    lambda m, rows: m.expected_purchases_path(ts, rows))[1]
        x, t_x, T_, _ = self._rfm_inputs(frequency, recency, T)
        return self._path(np.ravel(np.asarray(ts, dtype=float)), x, t_x, T_)

    def discounted_purchases(self, ts, discount, frequency=None, recency=None, T=None):
        """Discounted sum of expected purchase increments (see :meth:`Model.discounted_purchases`),
        summed over horizons once per distinct (x, T) pair before P(alive) is applied."""
        if self.covariates_ is not None and recency is None and T is None:
            return self._by_pattern(
                frequency, lambda m, rows: m.discounted_purchases(ts, discount, rows))[1]
        x, t_x, T_, _ = self._rfm_inputs(frequency, recency, T)
        ts = np.ravel(np.asarray(ts, dtype=float))
        params = self._params()
        x, t_x, T_ = (np.ravel(v) for v in np.broadcast_arrays(x, t_x, T_))
        alive = expit(-type(self)._log_alive_odds(params, x, t_x, T_))
        pairs, inv = unique_rows(np.column_stack([x, T_]))
        ea = type(self)._expected_if_alive(params, ts[:, None], pairs[:, 0], pairs[:, 1])
        return (np.asarray(discount, dtype=float) @ np.diff(ea, axis=0, prepend=0.0))[inv] * alive

    def _path(self, ts, x, t_x, T_):
        """The hypergeometric part depends only on (x, T) and t, so it is evaluated once per
        distinct (x, T) pair and horizon; P(alive) once per customer."""
        params = self._params()
        x, t_x, T_ = (np.ravel(v) for v in np.broadcast_arrays(x, t_x, T_))
        alive = expit(-type(self)._log_alive_odds(params, x, t_x, T_))
        pairs, inv = unique_rows(np.column_stack([x, T_]))
        ea = type(self)._expected_if_alive(params, ts[:, None], pairs[:, 0], pairs[:, 1])
        return ea[:, inv] * alive

    def expected_purchases_new_customer(self, *, horizon):
        """E[X(horizon)]: expected purchases of a newly acquired customer in (0, horizon]."""
        self._no_covariates("expected_purchases_new_customer")
        out = type(self)._new_customer(self._params(), horizon)
        return self._wrap(out, None, None)

    def probability_of_purchases(self, n, *, horizon):
        """P(X(horizon) = n): a new customer makes exactly ``n`` purchases in (0, horizon]."""
        self._no_covariates("probability_of_purchases")
        n_arr = np.asarray(n, dtype=float)
        if np.any(n_arr < 0) or np.any(n_arr != np.round(n_arr)):
            from clvkit.errors import DataError
            raise DataError("n must be a whole number >= 0 of purchases", column="n",
                            fix="pass integers")
        return self._wrap(type(self)._pmf(self._params(), n_arr, horizon), None, None)

    # ------------------------------------------------------------- intervals
    def probability_alive_interval(self, summary=None, recency=None, T=None, *, level=0.9,
                                   n_draws=200, seed=0) -> pd.DataFrame:
        """P(alive) with a per-customer interval from parameter draws (estimate, lower, upper)."""
        self._no_covariates("probability_alive_interval")
        x, t_x, T_, index = self._rfm_inputs(summary, recency, T)
        return self._interval(lambda m, *c: m.probability_alive(*c), (x, t_x, T_), index,
                              level=level, n_draws=n_draws, seed=seed, name="p_alive")

    def expected_purchases_interval(self, summary=None, recency=None, T=None, *, horizon,
                                    level=0.9, n_draws=200, seed=0) -> pd.DataFrame:
        """Conditional expected purchases over ``horizon`` with a per-customer interval."""
        self._no_covariates("expected_purchases_interval")
        x, t_x, T_, index = self._rfm_inputs(summary, recency, T)
        return self._interval(lambda m, *c: m.expected_purchases(*c, horizon=horizon), (x, t_x, T_), index,
                              level=level, n_draws=n_draws, seed=seed, name="expected_purchases")
