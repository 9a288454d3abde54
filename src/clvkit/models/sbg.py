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
21(1).
Fader and Hardie (2010), "Customer-base valuation in a contractual setting: the perils of
ignoring heterogeneity", Marketing Science 29(1): DERL.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import betaln, digamma, hyp2f1

from clvkit.errors import DataError
from clvkit.models._base import Model

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
    Hardie (2010). Multiply by the margin per period to value the customer.
    """
    a, b = (float(p) for p in params)
    d, k = np.broadcast_arrays(np.asarray(discount_rate, dtype=float),
                               np.asarray(renewals, dtype=float))
    n = k + 1.0
    return (b + n - 1.0) / (a + b + n - 1.0) * hyp2f1(1.0, b + n, a + b + n, 1.0 / (1.0 + d))


def _first(values, k=5):
    return list(values)[:k]


def cohort_frame(data) -> pd.DataFrame:
    """Validate renewal data as a frame with ``cohort, period, active``.

    ``data`` is such a frame (``period`` 0 holds each cohort's initial size), or a 1-D sequence
    of counts active after periods 0, 1, 2, ... of a single cohort.

    Raises
    ------
    DataError
        Missing columns; missing, negative or non-integer counts or periods; a cohort without
        period 0, with gaps or repeated periods, or whose active count increases.
    """
    if not isinstance(data, pd.DataFrame):
        counts = np.asarray(data, dtype=float)
        if counts.ndim != 1 or counts.size < 2:
            raise DataError(f"a survival array must be 1-D with at least 2 counts (period 0 and "
                            f"later), got shape {counts.shape}", file="survival",
                            fix="pass [initial, active after period 1, ...] or a frame with "
                                "cohort, period, active")
        data = pd.DataFrame({"cohort": 0, "period": np.arange(counts.size), "active": counts})
    missing = [c for c in ("cohort", "period", "active") if c not in data.columns]
    if missing:
        raise DataError(f"missing column(s) {', '.join(missing)}", file="cohorts",
                        column=missing[0], fix="one row per cohort and period: cohort, period, "
                                               "active (customers still active after the period)")
    if len(data) == 0:
        raise DataError("no cohorts: the renewal table is empty", file="cohorts",
                        fix="pass at least one cohort with periods 0 and 1")
    frame = data[["cohort", "period", "active"]].copy()
    for col in ("period", "active"):
        v = frame[col].to_numpy(dtype=float, na_value=np.nan)
        bad = ~np.isfinite(v) | (v < 0) | (v != np.round(v))
        if bad.any():
            raise DataError(f"{bad.sum()} values that are not whole numbers >= 0", file="cohorts",
                            column=col, rows=_first(frame.index[bad]),
                            fix="periods and active customers are counts")
        frame[col] = v.astype(np.int64)
    frame = frame.sort_values(["cohort", "period"], kind="stable")
    for cohort, g in frame.groupby("cohort", sort=False):
        periods, active = g["period"].to_numpy(), g["active"].to_numpy()
        if periods[0] != 0 or np.any(np.diff(periods) != 1):
            raise DataError(f"cohort {cohort!r} has periods {periods.tolist()[:8]}; they must run "
                            "0, 1, 2, ... without gaps or repeats", file="cohorts",
                            column="period", rows=_first(g.index),
                            fix="period 0 holds the cohort's initial size")
        up = np.flatnonzero(np.diff(active) > 0)
        if up.size:
            raise DataError(f"cohort {cohort!r}: active customers increase after period "
                            f"{periods[up[0]]} ({active[up[0]]} -> {active[up[0] + 1]}); a "
                            "cohort can only shrink", file="cohorts", column="active",
                            rows=_first(g.index[up + 1]),
                            fix="count only customers acquired in the cohort's first period")
    return frame


class ShiftedBetaGeo(Model):
    """Shifted-beta-geometric model of contract renewals (Fader and Hardie 2007).

    ``fit`` takes the number of customers still active after each period, per cohort: a frame
    with ``cohort, period, active`` (period 0 = the cohort's initial size) or a 1-D array of
    counts for one cohort. Periods are the contract periods; they carry no calendar unit.

    Examples
    --------
    >>> high_end = [1000, 869, 743, 653, 593, 551, 517, 491]    # Fader and Hardie (2007)
    >>> ShiftedBetaGeo().fit(high_end)
    <ShiftedBetaGeo fitted on 1,000 customers: alpha=0.668 beta=3.806>
    """

    param_names = PARAM_NAMES
    stat_names = ("period", "censored")
    scale_stat = None
    scale_stats = ()
    scale_params = ()
    needs_time_unit = False

    @staticmethod
    def _loglik(params, t, censored, *, grad=False):
        return loglik(params, t, censored > 0.5, grad=grad)

    def fit(self, data, *, time_unit=None):
        """Fit to renewal counts (a cohort frame or a survival array); return ``self``."""
        return super().fit(cohort_frame(data), time_unit=time_unit)

    def _statistics(self, frame):
        """Churners per (cohort, period) and each cohort's survivors after its last period."""
        rows = []
        for _, g in frame.groupby("cohort", sort=False):
            active = g["active"].to_numpy(dtype=float)
            t = np.arange(1, active.size, dtype=float)
            rows.append(np.column_stack([t, np.zeros_like(t), active[:-1] - active[1:]]))
            rows.append([[active.size - 1.0, 1.0, active[-1]]])
        stats = np.vstack(rows)
        return stats[:, :2], stats[:, 2]

    def _start_points(self, stats, weights):
        return [np.array(p) for p in ([1.0, 1.0], [0.5, 3.0], [3.0, 0.5])]

    # ------------------------------------------------------------- predictions
    def survival(self, t):
        """S(t): share of a new cohort still active after ``t`` periods."""
        return self._wrap(survival(self._params(), _periods(t, 0)), None, None)

    def retention_rate(self, t):
        """r(t) = S(t)/S(t-1): share of period t-1 survivors who renew at period t (t >= 1)."""
        return self._wrap(retention_rate(self._params(), _periods(t, 1)), None, None)

    def churn_probability(self, t):
        """P(T = t): probability that a new customer churns at the end of period t (t >= 1)."""
        return self._wrap(churn_probability(self._params(), _periods(t, 1)), None, None)

    def derl(self, discount_rate, renewals=0):
        """Discounted expected residual lifetime (in payments) after ``renewals`` renewals."""
        d = np.asarray(discount_rate, dtype=float)
        if np.any(~np.isfinite(d)) or np.any(d <= 0):
            raise DataError(f"discount_rate must be > 0 per period, got {discount_rate!r}",
                            column="discount_rate", fix="e.g. 0.1 for 10 % per period")
        return self._wrap(derl(self._params(), d, _periods(renewals, 0)), None, None)


def _periods(t, low):
    v = np.asarray(t, dtype=float)
    if np.any(~np.isfinite(v)) or np.any(v < low) or np.any(v != np.round(v)):
        raise DataError(f"periods must be whole numbers >= {low}, got {t!r}", column="t",
                        fix="pass integer periods")
    return v
