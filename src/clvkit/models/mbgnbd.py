"""MBG/NBD: the BG/NBD with a possible dropout at time 0 (right after the first purchase).

Same parameters as BG/NBD (``r, alpha`` gamma purchase rate, ``a, b`` beta dropout), but a
customer may drop out after *every* purchase including the first, so customers with no repeat
purchases are not all alive:

    ll = A + log B(a, b+x+1) - log B(a, b)
         + log( (alpha+T)^-(r+x) + a/(b+x) (alpha+t_x)^-(r+x) ),      A as in BG/NBD,

summed with ``logaddexp``. Conditional expectations use Euler's transformation

    ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x+1; a+b+x; z)
        = (1-z)^(a-1) 2F1(a+b-r, a-1; a+b+x; z),          z = t / (alpha+T+t),

so they stay finite for heavy buyers (x = 2,000), where the untransformed form is NaN.

References
----------
Batislam, Denizel and Filiztekin (2007), "Empirical validation and comparison of models for
customer base analysis", International Journal of Research in Marketing 24(3), appendix A.
Wagner and Hoppe (2008), "Erratum on the MBG/NBD model".
"""
from __future__ import annotations

import numpy as np
from scipy.special import betainc, betaln, digamma, expit, gammaln, polygamma

from clvkit.models.bgnbd import (BetaGeo, _arrays, _bracket, _near_one, _row_form, _total_form,
                                 no_dropout)


def _count_terms(r, a, b, k, grad, hess=False):
    """Terms of the likelihood that depend on the count x = k alone: A + log B(a, b+k+1)
    - log B(a, b), log(b+k) and, for the gradient, digamma(r+k), digamma(a+b+k+1),
    digamma(b+k+1), 1/(b+k); for the Hessian trigamma(r+k), trigamma(a+b+k+1),
    trigamma(b+k+1)."""
    beta_ratio = 0.0 * k if np.isinf(b) else betaln(a, b + k + 1) - betaln(a, b)  # 0 at b = inf
    rows = [gammaln(r + k) - gammaln(r) + beta_ratio, np.log(b + k)]
    if grad:
        rows += [digamma(r + k), digamma(a + b + k + 1), digamma(b + k + 1), 1.0 / (b + k)]
    if hess:
        rows += [polygamma(1, r + k), polygamma(1, a + b + k + 1), polygamma(1, b + k + 1)]
    return np.stack(rows)


def loglik(params, x, t_x, T, *, grad=False):
    """Per-customer MBG/NBD log-likelihood, optionally with d ll / d log(theta), shape (n, 4)."""
    return _row_form(params, x, t_x, T, grad, _count_terms, skip_zero=False)


def loglik_total(params, rows, *, grad=False):
    """Weighted sum of :func:`loglik` over distinct rows (:class:`~clvkit.models._arrays.Rows`),
    optionally with its gradient in log-parameters; every row has the dropout branch."""
    return _total_form(params, rows, grad, _count_terms, skip_zero=False)


def loglik_total_hess(params, rows):
    """:func:`loglik_total` with its gradient and Hessian in log-parameters (Newton steps)."""
    return _total_form(params, rows, True, _count_terms, skip_zero=False, hess=True)


def log_alive_odds(params, x, t_x, T):
    """log[(1 - P(alive)) / P(alive)] = log(a/(b+x)) + (r+x) log((alpha+T)/(alpha+t_x))
    (Batislam et al. 2007, appendix A eq. 5); finite also for x = 0."""
    r, alpha, a, b = (float(p) for p in params)
    x, t_x, T = _arrays(x, t_x, T)
    return np.log(a) - np.log(b + x) + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))


def expected_if_alive(params, t, x, T):
    """E[Y(t) | alive at T, x, T]; times P(alive) it is Wagner and Hoppe's conditional E.
    At the no-dropout boundary (b = inf) it is the NBD's (r + x) t / (alpha + T)."""
    r, alpha, a, b = (float(p) for p in params)
    t, x, T = _arrays(t, x, T)
    if no_dropout(params):
        return (r + x) * t / (alpha + T)
    z = t / (alpha + T + t)
    return _near_one(lambda a_: _bracket(a_ + b + x, a_ + b - r, a_ - 1, z,
                                         (a_ + b + x) / (a_ - 1)), a)


def expected_purchases(params, t, x, t_x, T):
    """E[Y(t) | x, t_x, T] (Wagner and Hoppe 2008)."""
    return expected_if_alive(params, t, x, T) * expit(-log_alive_odds(params, x, t_x, T))


def expected_purchases_new_customer(params, t):
    """E[X(t)] = b/(a-1) [1 - (alpha/(alpha+t))^r 2F1(r, b+1; a+b; t/(alpha+t))] (Euler form)."""
    r, alpha, a, b = (float(p) for p in params)
    t = np.asarray(t, dtype=float)
    if no_dropout(params):
        return r * t / alpha
    z = t / (alpha + t)
    return _near_one(lambda a_: _bracket(a_ + b, a_ + b - r, a_ - 1, z, b / (a_ - 1)), a)


def probability_of_purchases(params, n, t):
    """P(X(t) = n) for a new customer: NBD(n) B(a, b+n+1)/B(a, b) plus the dropout term
    B(a+1, b+n)/B(a, b) P(NBD >= n), the tail being I_{t/(alpha+t)}(n, r) (1 for n = 0)."""
    r, alpha, a, b = (float(p) for p in params)
    n, t = _arrays(n, t)
    with np.errstate(divide="ignore"):
        log_nbd = (gammaln(r + n) - gammaln(r) - gammaln(n + 1) + r * np.log(alpha / (alpha + t))
                   + n * np.log(t / (alpha + t)))
    if no_dropout(params):
        return np.exp(log_nbd)
    tail = np.where(n > 0, betainc(np.maximum(n, 1.0), r, t / (alpha + t)), 1.0)
    return (np.exp(betaln(a, b + n + 1) - betaln(a, b) + log_nbd)
            + np.exp(betaln(a + 1, b + n) - betaln(a, b)) * tail)


class ModifiedBetaGeo(BetaGeo):
    """MBG/NBD model (Batislam, Denizel and Filiztekin 2007): BG/NBD with dropout at time 0.

    Same API as :class:`~clvkit.models.BetaGeo`; P(alive) is below 1 also for customers
    without repeat purchases.

    Examples
    --------
    >>> import pandas as pd
    >>> from clvkit.datasets.cdnow import lifetimes_data_path
    >>> s = pd.read_csv(lifetimes_data_path("cdnow_customers_summary.csv"), index_col="ID")
    >>> ModifiedBetaGeo().fit(s, time_unit="W")
    <ModifiedBetaGeo fitted on 2,357 customers: r=0.525 alpha=6.183 a=0.891 b=1.614>
    """

    _loglik = staticmethod(loglik)
    _loglik_total = staticmethod(loglik_total)
    _loglik_total_hess = staticmethod(loglik_total_hess)
    _log_alive_odds = staticmethod(log_alive_odds)
    _expected_if_alive = staticmethod(expected_if_alive)
    _new_customer = staticmethod(expected_purchases_new_customer)
    _pmf = staticmethod(probability_of_purchases)

    def _check_data(self, stats, weights):
        """MBG/NBD is identified without repeat buyers only in a degenerate way: same rule."""
        super()._check_data(stats, weights)
