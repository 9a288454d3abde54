"""Shifted-beta-geometric (sBG): contract renewals with heterogeneous churn probabilities.

Each customer churns at the end of each period with probability theta ~ Beta(alpha, beta), so
the lifetime T (in periods) is shifted-geometric given theta and

    P(T = t) = B(alpha + 1, beta + t - 1) / B(alpha, beta),      t = 1, 2, ...
    S(t)     = P(T > t) = B(alpha, beta + t) / B(alpha, beta)
    r(t)     = S(t) / S(t-1) = (beta + t - 1) / (alpha + beta + t - 1)   (retention rate)

all evaluated as ``betaln`` differences. Data are the number of customers still active after
each period, per cohort; a cohort observed for periods 0..m contributes its churners in each
period and its m-period survivors (right-censored).

References
----------
Fader and Hardie (2007), "How to project customer retention", Journal of Interactive Marketing
21(1): eqs. (1)-(3), (7).
Fader and Hardie (2010), "Customer-base valuation in a contractual setting: the perils of
ignoring heterogeneity", Marketing Science 29(1): DERL, eq. (6).
"""
from __future__ import annotations

import numpy as np
from scipy.special import betaln, digamma, hyp2f1

PARAM_NAMES = ("alpha", "beta")


def loglik(params, t, censored, *, grad=False):
    """Per-row sBG log-likelihood: log P(T = t) for churners, log S(t) for survivors.

    Parameters
    ----------
    params : (alpha, beta), both > 0 (checked by the caller).
    t : array_like of int >= 1
        The period in which the customer churned, or the last period it was seen active.
    censored : array_like of bool
        True for customers still active after period t.
    grad : bool
        Also return d ll / d log(alpha, beta), shape ``(rows, 2)``.
    """
    a, b = (float(p) for p in params)
    t, censored = np.broadcast_arrays(np.asarray(t, dtype=float), np.asarray(censored, dtype=bool))
    # churn: B(a+1, b+t-1); survive: B(a, b+t). Same form B(a + e, b + t - e), e = 1 for churn.
    e = np.where(censored, 0.0, 1.0)
    ll = betaln(a + e, b + t - e) - betaln(a, b)
    if not grad:
        return ll
    psi_all = digamma(a + b + t)
    d_a = digamma(a + e) - psi_all - (digamma(a) - digamma(a + b))
    d_b = digamma(b + t - e) - psi_all - (digamma(b) - digamma(a + b))
    return ll, np.stack([a * d_a, b * d_b], axis=-1)


def survival(params, t):
    """S(t) = P(still active after t periods) for a newly acquired customer."""
    a, b = (float(p) for p in params)
    t = np.asarray(t, dtype=float)
    return np.exp(betaln(a, b + t) - betaln(a, b))


def churn_probability(params, t):
    """P(T = t): probability that a new customer churns at the end of period t (t >= 1)."""
    a, b = (float(p) for p in params)
    t = np.asarray(t, dtype=float)
    return np.exp(betaln(a + 1.0, b + t - 1.0) - betaln(a, b))


def retention_rate(params, t):
    """r(t) = S(t) / S(t-1): the share of period-(t-1) survivors who renew at period t (t >= 1)."""
    a, b = (float(p) for p in params)
    t = np.asarray(t, dtype=float)
    return (b + t - 1.0) / (a + b + t - 1.0)


def derl(params, discount_rate, renewals=0):
    """Discounted expected residual lifetime of a customer who has made ``renewals`` renewals.

    DERL(d | n - 1 renewals) = (beta + n - 1) / (alpha + beta + n - 1)
                               * 2F1(1, beta + n; alpha + beta + n; 1 / (1 + d))

    the expected number of future payments, each discounted at ``discount_rate`` per period,
    with the first payment (the next renewal) one period from now undiscounted, as in Fader and
    Hardie (2010) eq. (6). Multiply by the margin per period to value the customer.
    """
    a, b = (float(p) for p in params)
    d, k = np.broadcast_arrays(np.asarray(discount_rate, dtype=float),
                               np.asarray(renewals, dtype=float))
    n = k + 1.0
    return (b + n - 1.0) / (a + b + n - 1.0) * hyp2f1(1.0, b + n, a + b + n, 1.0 / (1.0 + d))
