"""Pareto/NBD: Poisson purchasing while alive, exponential lifetime, gamma heterogeneity in both.

Parameters ``r, alpha`` (gamma mixing of the purchase rate) and ``s, beta`` (gamma mixing of
the dropout rate). The likelihood (Fader and Hardie 2005, "A Note on Deriving the Pareto/NBD
Model and Related Expressions", eq. 22) is

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
from scipy.special import digamma, gammaln

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
    converges geometrically and its sum lies in [1, 1/(1-z)]. Terms are summed until the tail
    bound t_k (k+1) / (1-z)^2 is below ``_SERIES_RTOL`` of the sum; rows that have converged
    leave the loop.

    Returns
    -------
    (log_S, dlogS_db, dlogS_dc, dlogS_dz) : tuple of ndarray
    """
    b, c, z = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (b, c, z)))
    shape = b.shape
    b, c, z = b.ravel(), c.ravel(), z.ravel()
    n = b.size
    S, Sb, Sc, Sz = np.ones(n), np.zeros(n), np.zeros(n), np.zeros(n)
    idx = np.arange(n)
    bb, cc, zz = b, c, z
    term, hb, hc = np.ones(n), np.zeros(n), np.zeros(n)   # t_k, sum_{j<k} 1/(b+j), 1/(c+j)
    tol = _SERIES_RTOL * (1.0 - zz) ** 2
    k = 0
    while idx.size and k < _SERIES_MAX_TERMS:
        ratio = (bb + k) / (cc + k)
        hb = hb + 1.0 / (bb + k)
        hc = hc + 1.0 / (cc + k)
        # d t_{k+1} / dz = (k+1) t_k ratio  (t_{k+1} = t_k ratio z), finite at z = 0
        dz_term = (k + 1) * term * ratio
        term = term * ratio * zz
        k += 1
        S[idx] += term
        Sb[idx] += term * hb
        Sc[idx] -= term * hc
        Sz[idx] += dz_term
        live = term * (k + 1) > tol * S[idx]
        if not live.all():
            idx, bb, cc, zz = idx[live], bb[live], cc[live], zz[live]
            term, hb, hc, tol = term[live], hb[live], hc[live], tol[live]
    if idx.size:  # cap reached: add the geometric tail estimate of the value
        rho = (bb + k) / (cc + k) * zz
        S[idx] += term * rho / (1.0 - rho)
    return (np.log(S).reshape(shape), (Sb / S).reshape(shape), (Sc / S).reshape(shape),
            (Sz / S).reshape(shape))


def _log_F(t, x, r, alpha, s, beta):
    """log F(t) of the module docstring and its derivatives in (r, alpha, s, beta)."""
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
    Expressions", eq. (22) with the two branches of its appendix.
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
    """log P(alive at T | x, t_x, T): the share of the likelihood from "still alive" (note eq. 18)."""
    r, alpha, s, beta = (float(p) for p in params)
    x, t_x, T = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (x, t_x, T)))
    A = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
    return A - (loglik(params, x, t_x, T) - (gammaln(r + x) - gammaln(r) + r * np.log(alpha)
                                              + s * np.log(beta)))


def _expm1_ratio(s, u):
    """(1 - (1+u)^-(s-1)) / (s-1), with its s -> 1 limit log1p(u); stable for s near 1."""
    if abs(s - 1.0) < 1e-10:
        return np.log1p(u)
    return -np.expm1(-(s - 1.0) * np.log1p(u)) / (s - 1.0)


def expected_purchases(params, t, x, t_x, T):
    """E[Y(t) | x, t_x, T]: expected purchases in (T, T+t] of a customer with history (x, t_x, T).

    References
    ----------
    Schmittlein, Morrison and Colombo (1987), eq. (22); Fader and Hardie (2005) note, eq. (20).
    """
    r, alpha, s, beta = (float(p) for p in params)
    t, x, t_x, T = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (t, x, t_x, T)))
    p_alive = np.exp(log_probability_alive(params, x, t_x, T))
    return (r + x) * (beta + T) / (alpha + T) * _expm1_ratio(s, t / (beta + T)) * p_alive


def expected_purchases_new_customer(params, t):
    """E[X(t)]: expected purchases of a new customer in (0, t] (Fader and Hardie 2005 note, eq. 17)."""
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
    integral = np.logaddexp.reduce(log_w + log_f + log_nbd_pmf(n[..., None], r, alpha, tau), axis=-1)
    survive = s * (np.log(beta) - np.log(beta + t)) + log_nbd_pmf(n, r, alpha, t)
    return np.exp(np.logaddexp(survive, integral))
