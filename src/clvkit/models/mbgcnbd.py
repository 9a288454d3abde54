"""MBG/CNBD-k: the BG/CNBD-k with a possible dropout at time 0 (right after the first purchase).

Same parameters and likelihood as :mod:`clvkit.models.bgcnbd`, except that the coin flip also
follows the first purchase: the beta term is log B(a, b+x+1) - log B(a, b), S1 is
a/(b+x) ((alpha+T)/(alpha+t_x))^R for every customer (also x = 0), so customers without repeat
purchases are not all alive, and the posterior of p given alive at T is Beta(a, b+x+1).

References
----------
Reutterer, Platzer and Schroeder (2020), "Leveraging purchase regularity for predicting
customer behavior the easy way", International Journal of Research in Marketing 38(1).
Platzer, BTYDplus (R package): ``mbgcnbd.LL``, ``mbgcnbd.PAlive``, ``mbgcnbd.pmf``.
"""
from __future__ import annotations

from clvkit.models import bgcnbd
from clvkit.models.bgcnbd import BetaGeoCNBD


def loglik(params, x, t_x, T, litt=0.0, *, grad=False):
    """Per-customer MBG/CNBD-k log-likelihood (BTYDplus ``mbgcnbd.LL``); see
    :func:`clvkit.models.bgcnbd.loglik` for the arguments."""
    return bgcnbd._loglik(params, x, t_x, T, litt, grad, modified=True)


def log_alive_odds(params, x, t_x, T):
    """log[(1 - P(alive)) / P(alive)] (BTYDplus ``mbgcnbd.PAlive``); finite also at x = 0."""
    return bgcnbd.log_alive_odds(params, x, t_x, T, modified=True)


def expected_purchases(params, t, x, t_x, T):
    """E[Y(t) | x, t_x, T] (exact; see :mod:`clvkit.models.bgcnbd`)."""
    return bgcnbd.expected_purchases(params, t, x, t_x, T, modified=True)


def expected_purchases_new_customer(params, t):
    """E[X(t)] for a new customer, who may drop out right after the first purchase."""
    return bgcnbd.expected_purchases_new_customer(params, t, modified=True)


def probability_of_purchases(params, n, t):
    """P(X(t) = n) for a new customer (BTYDplus ``mbgcnbd.pmf``)."""
    return bgcnbd.probability_of_purchases(params, n, t, modified=True)


class ModifiedBetaGeoCNBD(BetaGeoCNBD):
    """MBG/CNBD-k model (Reutterer, Platzer and Schroeder 2020): BG/CNBD-k with dropout at 0.

    Same API as :class:`~clvkit.models.BetaGeoCNBD`; P(alive) is below 1 also for customers
    without repeat purchases.

    Examples
    --------
    >>> from clvkit.datasets import load_cdnow
    >>> from clvkit.rfm import rfm_summary
    >>> s = rfm_summary(load_cdnow(), observation_end="1997-09-30", litt=True)
    >>> ModifiedBetaGeoCNBD().fit(s).k_log_likelihoods_.round(1).to_dict()
    {1: -9582.1, 2: -9853.3}
    """

    _modified = True
    _loglik = staticmethod(loglik)
    _log_alive_odds = staticmethod(log_alive_odds)
    _new_customer = staticmethod(expected_purchases_new_customer)
    _pmf = staticmethod(probability_of_purchases)
