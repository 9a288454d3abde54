"""Pareto/NBD: Poisson purchasing while alive, exponential lifetime, gamma heterogeneity in both.

Parameters ``r, alpha`` (gamma mixing of the purchase rate) and ``s, beta`` (gamma mixing of
the dropout rate). The likelihood (Fader and Hardie 2005, "A Note on Deriving the Pareto/NBD
Model and Related Expressions") is

    L = Gamma(r+x) alpha^r beta^s / Gamma(r) * [ (alpha+T)^-(r+x) (beta+T)^-s
                                                + s/(r+s+x) * (F(t_x) - F(T)) ]

where F holds the Gauss hypergeometric term. Evaluated naively, 2F1 overflows (scipy returns
``inf`` at x = 1,200 when beta >> alpha; lifetimes then returns NaN). Here:

* the argument is kept in [0, 1) by the note's branches: z = |alpha-beta| / (max(alpha,beta)+t);
* Euler's transformation 2F1(a, b; c; z) = (1-z)^(c-a-b) 2F1(c-a, c-b; c; z) turns both
  branches into 2F1(1, b'; c; z) with b' < c, a series of positive, decreasing terms whose sum
  lies in [1, 1/(1-z)] -- it cannot overflow -- and the (1-z)^(c-a-b) factor is taken in logs:

      alpha >= beta:  log F(t) = -(r+x) log(alpha+t) - s log(beta+t)   + log 2F1(1, r+x; r+s+x+1; z)
      alpha <  beta:  log F(t) = -(r+x-1) log(alpha+t) - (s+1) log(beta+t) + log 2F1(1, s+1; r+s+x+1; z)

The series also gives the analytic derivatives of log 2F1 with respect to b', c and z, so the
gradient with respect to the log-parameters is exact (no finite differences, no autograd).

References
----------
Schmittlein, Morrison and Colombo (1987), "Counting your customers: who are they and what will
they do next?", Management Science 33(1).
Fader and Hardie (2005), "A Note on Deriving the Pareto/NBD Model and Related Expressions".
Fader, Hardie and Lee (2005), "Counting your customers the easy way", Marketing Science 24(2).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import digamma, gammaln

from clvkit.models._base import _LOG_BOUND
from clvkit.models.bgnbd import BetaGeo

PARAM_NAMES = ("r", "alpha", "s", "beta")

#: relative tolerance of the hypergeometric series; terms are summed until the bound on the
#: remaining tail falls below this fraction of the partial sum.
_SERIES_RTOL = 1e-15
#: hard cap on series terms; only reached for z within ~1e-4 of 1 (alpha/beta ratios beyond
#: 10,000 at t ~ 0), where the remaining tail is added as a geometric estimate.
_SERIES_MAX_TERMS = 200_000


def log_hyp2f1_1bc(b, c, z):
    """log 2F1(1, b; c; z) and its derivatives in b, c and z, for 0 < b < c and 0 <= z < 1.

    The series sum_k (b)_k / (c)_k z^k has positive terms with ratio (b+k)/(c+k) z < z, so it
    converges geometrically and its sum lies in [1, 1/(1-z)]. Rows are summed until the tail
    bound t_k (k+1) / (1-z)^2 falls below ``_SERIES_RTOL`` of the sum, and leave the loop when
    they do. The first terms are added one at a time (most rows converge in a few dozen); rows
    still running after that (z near 1), once they are few, continue in blocks of doubling
    length built with cumulative products: a few vectorised steps, not thousands of loops.

    Returns
    -------
    (log_S, dlogS_db, dlogS_dc, dlogS_dz) : tuple of ndarray
    """
    b, c, z = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (b, c, z)))
    shape = b.shape
    b, c, z = b.ravel(), c.ravel(), z.ravel()
    out = np.zeros((4, b.size))
    idx = np.arange(b.size)
    # live rows: t_k, sum_{j<k} 1/(b+j), sum_{j<k} 1/(c+j), and the four partial sums
    term, hb, hc = np.ones(b.size), np.zeros(b.size), np.zeros(b.size)
    acc = np.zeros((4, b.size))
    acc[0] = 1.0
    tol = _SERIES_RTOL * (1.0 - z) ** 2
    k, width = 0, 1
    while idx.size and k < _SERIES_MAX_TERMS:
        if width == 1:
            bk, ck = b + k, c + k
            ratio = bk / ck
            hb, hc = hb + 1.0 / bk, hc + 1.0 / ck
            acc[3] += (k + 1) * term * ratio        # d t_{k+1}/dz = (k+1) t_k ratio_k
            term = term * ratio * z
            acc[0] += term
            acc[1] += term * hb
            acc[2] -= term * hc
            k += 1
            if k % 8 and k < 32:
                continue
        else:
            j = k + np.arange(width, dtype=float)
            bj, cj = b[:, None] + j, c[:, None] + j
            ratio = bj / cj
            terms = term[:, None] * np.cumprod(ratio * z[:, None], axis=1)
            prev = np.concatenate([term[:, None], terms[:, :-1]], axis=1)
            hbj = hb[:, None] + np.cumsum(1.0 / bj, axis=1)
            hcj = hc[:, None] + np.cumsum(1.0 / cj, axis=1)
            acc[0] += terms.sum(1)
            acc[1] += (terms * hbj).sum(1)
            acc[2] -= (terms * hcj).sum(1)
            acc[3] += ((j + 1.0) * prev * ratio).sum(1)
            term, hb, hc = terms[:, -1], hbj[:, -1], hcj[:, -1]
            k += width
        live = term * (k + 1) > tol * acc[0]
        if not live.all():
            out[:, idx[~live]] = acc[:, ~live]
            idx, b, c, z, tol = idx[live], b[live], c[live], z[live], tol[live]
            term, hb, hc, acc = term[live], hb[live], hc[live], acc[:, live]
        if k >= 32 and idx.size <= 4096:   # a few slow rows left: switch to doubling blocks
            width = int(min(max(2 * width, 32), 1_000_000 // max(idx.size, 1)))
    if idx.size:  # cap reached: add the geometric tail estimate of the value
        rho = (b + k) / (c + k) * z
        acc[0] += term * rho / (1.0 - rho)
        out[:, idx] = acc
    S = out[0]
    return (np.log(S).reshape(shape), (out[1] / S).reshape(shape), (out[2] / S).reshape(shape),
            (out[3] / S).reshape(shape))


def _log_F(t, x, r, alpha, s, beta):
    """log F(t) of the module docstring and its derivatives in (r, alpha, s, beta).

    F depends on (x, t) only, and customer summaries repeat those pairs a lot (times on a daily
    grid), so the series is summed once per distinct pair (found with pandas' hash-based
    ``factorize``; the function stays one of arrays in, arrays out).
    """
    inverse, keys = pd.factorize(x.ravel() + 1j * t.ravel())      # a hash table: O(n), no sort
    if keys.size < 0.8 * x.size:
        lF, d = _log_F_rows(keys.imag, keys.real, r, alpha, s, beta)
        return lF[inverse].reshape(x.shape), tuple(v[inverse].reshape(x.shape) for v in d)
    return _log_F_rows(t, x, r, alpha, s, beta)


def _log_F_rows(t, x, r, alpha, s, beta):
    la, lb = np.log(alpha + t), np.log(beta + t)
    c = r + s + x + 1.0
    if alpha >= beta:
        z = (alpha - beta) / (alpha + t)
        lS, Sb, Sc, Sz = log_hyp2f1_1bc(r + x, c, z)
        lF = -(r + x) * la - s * lb + lS
        d_r = -la + Sb + Sc
        d_alpha = -(r + x) / (alpha + t) + Sz * (beta + t) / (alpha + t) ** 2
        d_s = -lb + Sc
        d_beta = -s / (beta + t) - Sz / (alpha + t)
    else:
        z = (beta - alpha) / (beta + t)
        lS, Sb, Sc, Sz = log_hyp2f1_1bc(s + 1.0, c, z)
        lF = -(r + x - 1.0) * la - (s + 1.0) * lb + lS
        d_r = -la + Sc
        d_alpha = -(r + x - 1.0) / (alpha + t) - Sz / (beta + t)
        d_s = -lb + Sb + Sc
        d_beta = -(s + 1.0) / (beta + t) + Sz * (alpha + t) / (beta + t) ** 2
    return lF, (d_r, d_alpha, d_s, d_beta)


def loglik(params, x, t_x, T, *, grad=False):
    """Per-customer Pareto/NBD log-likelihood, and optionally its gradient in log-parameters.

    Parameters
    ----------
    params : sequence of 4 floats
        ``(r, alpha, s, beta)``, all > 0 (checked by the caller).
    x, t_x, T : array_like
        Repeat purchases, time of the last purchase and length of observation (same unit as
        ``alpha`` and ``beta``); 0 <= t_x <= T, t_x = 0 when x = 0.
    grad : bool
        Also return d ll / d log(theta), an array of shape ``(n, 4)``.

    Returns
    -------
    ll : ndarray, or (ll, grad) when ``grad`` is true.

    References
    ----------
    Fader and Hardie (2005), "A Note on Deriving the Pareto/NBD Model and Related
    Expressions": the likelihood with its two hypergeometric branches.
    """
    r, alpha, s, beta = (float(p) for p in params)
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    x, t_x, T = np.broadcast_arrays(x, t_x, T)
    rsx = r + s + x
    const = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    A = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
    lF1, d1 = _log_F(t_x, x, r, alpha, s, beta)
    lF2, d2 = _log_F(T, x, r, alpha, s, beta)
    log_coef = np.log(s) - np.log(rsx)
    with np.errstate(divide="ignore"):   # F(t_x) = F(T) when t_x = T: the term is exactly 0
        B = log_coef + lF1 + np.log(-np.expm1(np.minimum(lF2 - lF1, 0.0)))
    lse = np.logaddexp(A, B)
    ll = const + lse
    if not grad:
        return ll
    pA, pB = np.exp(A - lse), np.exp(B - lse)
    q1, q2 = np.exp(log_coef + lF1 - lse), np.exp(log_coef + lF2 - lse)
    dA = (-np.log(alpha + T), -(r + x) / (alpha + T), -np.log(beta + T), -s / (beta + T))
    dconst = (digamma(r + x) - digamma(r) + np.log(alpha), r / alpha, np.log(beta), s / beta)
    dcoef = (-1.0 / rsx, 0.0, 1.0 / s - 1.0 / rsx, 0.0)
    g = np.empty(x.shape + (4,))
    for i, p in enumerate((r, alpha, s, beta)):
        g[..., i] = p * (dconst[i] + pA * dA[i] + pB * dcoef[i] + q1 * d1[i] - q2 * d2[i])
    return ll, g


def log_probability_alive(params, x, t_x, T):
    """log P(alive at T | x, t_x, T): the share of the likelihood from "still alive at T"."""
    r, alpha, s, beta = (float(p) for p in params)
    x, t_x, T = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (x, t_x, T)))
    A = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
    const = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    return np.minimum(A - (loglik(params, x, t_x, T) - const), 0.0)   # <= 0 up to rounding


def _expm1_ratio(s, u):
    """(1 - (1+u)^-(s-1)) / (s-1), with its s -> 1 limit log1p(u); stable for s near 1."""
    if abs(s - 1.0) < 1e-10:
        return np.log1p(u)
    return -np.expm1(-(s - 1.0) * np.log1p(u)) / (s - 1.0)


def log_alive_odds(params, x, t_x, T):
    """log[(1 - P(alive)) / P(alive)], the form the shared prediction code of BetaGeo reads."""
    lp = log_probability_alive(params, x, t_x, T)
    with np.errstate(divide="ignore"):
        return np.log(-np.expm1(lp)) - lp


def expected_if_alive(params, t, x, T):
    """E[Y(t) | alive at T, x, T].

    (r+x)(beta+T) / ((alpha+T)(s-1)) [1 - ((beta+T)/(beta+T+t))^(s-1)], with its s -> 1 limit.

    Times P(alive) it is the conditional expectation of Schmittlein, Morrison and Colombo (1987)
    (also in the Fader and Hardie 2005 note).
    """
    r, alpha, s, beta = (float(p) for p in params)
    t, x, T = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (t, x, T)))
    return (r + x) * (beta + T) / (alpha + T) * _expm1_ratio(s, t / (beta + T))


def expected_purchases(params, t, x, t_x, T):
    """E[Y(t) | x, t_x, T]: expected purchases in (T, T+t] given the history (x, t_x, T)."""
    return expected_if_alive(params, t, x, T) * np.exp(log_probability_alive(params, x, t_x, T))


def expected_purchases_new_customer(params, t):
    """E[X(t)]: expected purchases of a new customer in (0, t] (Fader and Hardie 2005 note)."""
    r, alpha, s, beta = (float(p) for p in params)
    t = np.asarray(t, dtype=float)
    return r * beta / alpha * _expm1_ratio(s, t / beta)


_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(160)


def log_nbd_pmf(x, r, alpha, t):
    """log P(X(t) = x) of the gamma-Poisson (NBD) count at rate-shape r, rate-scale alpha."""
    with np.errstate(divide="ignore"):
        return (gammaln(r + x) - gammaln(r) - gammaln(x + 1.0) + r * np.log(alpha / (alpha + t))
                + x * np.log(t / (alpha + t)))


def probability_of_purchases(params, n, t):
    """P(X(t) = n): probability that a new customer makes exactly n purchases in (0, t].

    Lifetime tau and purchase rate are independent, so P(X(t)=n) = P(tau > t) NBD(n | t) +
    int_0^t f(tau) NBD(n | tau) d tau, with the Pareto (type II) lifetime density f. The integral
    is smooth on [0, t] and evaluated in log space with 160-point Gauss-Legendre quadrature, which
    avoids the alternating hypergeometric sum of the closed form.

    References
    ----------
    Fader and Hardie (2005) note, section 4 (the closed form this integral equals).
    """
    r, alpha, s, beta = (float(p) for p in params)
    n, t = np.broadcast_arrays(np.asarray(n, dtype=float), np.asarray(t, dtype=float))
    tau = 0.5 * t[..., None] * (_GL_NODES + 1.0)                       # nodes on [0, t]
    log_w = np.log(0.5 * t[..., None] * _GL_WEIGHTS)
    log_f = np.log(s) + s * np.log(beta) - (s + 1.0) * np.log(beta + tau)
    log_terms = log_w + log_f + log_nbd_pmf(n[..., None], r, alpha, tau)
    integral = np.logaddexp.reduce(log_terms, axis=-1)
    survive = s * (np.log(beta) - np.log(beta + t)) + log_nbd_pmf(n, r, alpha, t)
    return np.exp(np.logaddexp(survive, integral))


class ParetoNBD(BetaGeo):
    """Pareto/NBD model of repeat purchasing (Schmittlein, Morrison and Colombo 1987).

    Same interface and predictions as :class:`~clvkit.models.BetaGeo` (``probability_alive``,
    ``expected_purchases``, ``expected_purchases_new_customer``, ``probability_of_purchases``
    and their intervals); only the parts of the model differ. ``alpha`` and ``beta`` are in
    units of time.

    Parameters
    ----------
    penalizer : float
        L2 penalty on the parameters (in time rescaled so max T = 1), like lifetimes'
        ``penalizer_coef``.
    ci_level : float
        Level of the intervals in :meth:`summary`.

    References
    ----------
    Fader and Hardie (2005), "A Note on Deriving the Pareto/NBD Model and Related Expressions".

    Examples
    --------
    >>> import pandas as pd
    >>> from clvkit.datasets.cdnow import lifetimes_data_path
    >>> s = pd.read_csv(lifetimes_data_path("cdnow_customers_summary.csv"), index_col="ID")
    >>> ParetoNBD().fit(s, time_unit="W")
    <ParetoNBD fitted on 2,357 customers: r=0.553 alpha=10.578 s=0.606 beta=11.668>
    """

    param_names = PARAM_NAMES
    scale_params = ("alpha", "beta")
    _dropout_index, _dropout_sign = (3,), -1.0        # beta_i = beta exp(-gamma_d' x)
    _loglik = staticmethod(loglik)
    _log_alive_odds = staticmethod(log_alive_odds)
    _expected_if_alive = staticmethod(expected_if_alive)
    _new_customer = staticmethod(expected_purchases_new_customer)
    _pmf = staticmethod(probability_of_purchases)

    #: Largest shape r or s the fit goes to. Beyond it the gamma of purchase or dropout rates
    #: has little spread (coefficient of variation 1/sqrt(100) = 10 %), and the
    #: hypergeometric series of the likelihood needs ever more terms (a second per evaluation
    #: at 1,000; a 200-customer history ran for minutes along that ridge).
    shape_cap = 100.0

    def _log_bounds(self):
        cap = np.log(self.shape_cap)
        return [(-_LOG_BOUND, cap if name in ("r", "s") else _LOG_BOUND)
                for name in self.param_names]

    def _limit_applies(self):
        return tuple(self.param_names) == PARAM_NAMES and self.covariates_ is None

    def _near_boundary(self, theta):
        return bool(self._capped(theta).any())

    def _capped(self, theta):
        upper = np.array([hi for _, hi in self._log_bounds()])
        return np.asarray(theta) >= upper - 1e-3

    def _boundary_limit(self, rows, theta):
        """The estimate at the shape cap: rates that are practically the same for every
        customer (r or s -> infinity, the rate's mean alpha/r or s/beta staying put). The
        likelihood is flat along that ridge, so the fit stops at the cap, where predictions are
        within about 1/cap of the limit's; the capped shape has no standard error."""
        capped = self._capped(theta)
        if not capped.any():
            return None
        n = rows.weights.sum()

        def grad(th):
            with np.errstate(all="ignore"):
                return self._total(np.exp(th), rows, grad=True)[1] / n

        H = np.full((len(theta), len(theta)), np.nan)
        free = np.flatnonzero(~capped)
        g0, h = grad(theta), 1e-6
        for j in free:
            step = np.zeros(len(theta))
            step[j] = h
            H[free, j] = -(grad(theta + step)[free] - g0[free]) * n / h
        H[np.ix_(free, free)] = (H[np.ix_(free, free)] + H[np.ix_(free, free)].T) / 2
        which = " and ".join({"r": "purchase", "s": "dropout"}[name]
                             for name in np.asarray(self.param_names)[capped])
        return theta, H, (
            f"{which} rates look the same for every customer: the fit runs towards a gamma "
            f"with no spread (shape -> infinity) and stops at shape {self.shape_cap:,.0f} "
            f"(coefficient of variation {1 / np.sqrt(self.shape_cap):.0%}), where predictions "
            f"are within about {1 / self.shape_cap:.0%} of that limit; the capped shape has no "
            "standard error")

    def _start_points(self, stats, weights):
        # in time scaled so that max T = 1; CDNOW's estimate is near the second point
        return [np.array(p) for p in ([1.0, 1.0, 1.0, 1.0], [0.5, 0.3, 0.5, 0.3],
                                      [2.0, 0.1, 0.2, 2.0], [0.1, 0.05, 2.0, 0.05])]
