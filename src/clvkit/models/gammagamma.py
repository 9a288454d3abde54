"""Gamma-Gamma: the spend per transaction of repeat customers.

A customer's transaction values are gamma(p, nu) with their own nu ~ gamma(q, gamma) (``gamma``
is in units of money). The model is fitted on repeat customers only (frequency > 0), from the
number of repeat transactions x and their mean value m:

    ll = log Gamma(px+q) - log Gamma(px) - log Gamma(q) + q log gamma + (px-1) log m
         + px log x - (px+q) log(x m + gamma).

It assumes that spend is independent of purchase frequency; the fitted model reports the
frequency-spend correlation of the data and warns when it is strong.

References
----------
Fader, Hardie and Lee (2005), "RFM and CLV: using iso-value curves for customer base
analysis", Journal of Marketing Research 42(4); Fader and Hardie (2013), "The Gamma-Gamma
model of monetary value", eqs. (1a) and (5).
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy.special import digamma, gammaln, polygamma

from clvkit.errors import DataError, ModelError, StatisticalWarning
from clvkit.models._base import Model, _first_ids, per_count

PARAM_NAMES = ("p", "q", "gamma")
#: |corr(frequency, monetary_value)| above which the independence assumption is flagged.
CORR_WARN = 0.3


def loglik(params, x, m, *, grad=False):
    """Per-customer Gamma-Gamma log-likelihood of x > 0 repeat transactions with mean value m.

    Returns ll, and with ``grad`` also d ll / d log(p, q, gamma) of shape (n, 3).
    """
    p, q, g = (float(v) for v in params)
    x, m = np.broadcast_arrays(np.asarray(x, dtype=float), np.asarray(m, dtype=float))

    def count_terms(k):       # everything that depends on x alone, once per distinct count
        pk = p * k
        with np.errstate(divide="ignore", invalid="ignore"):
            log_k = np.log(k)
            rows = [gammaln(pk + q) - gammaln(pk) + pk * log_k, log_k]
            if grad:
                rows += [digamma(pk + q), digamma(pk)]
        return np.stack(rows)

    K = per_count(count_terms, x)
    px = p * x
    log_m = np.log(m)
    log_xm_g = np.log(x * m + g)
    ll = K[0] - gammaln(q) + q * np.log(g) + (px - 1) * log_m - (px + q) * log_xm_g
    if not grad:
        return ll
    d_p = x * (K[2] - K[3] + log_m + K[1] - log_xm_g)
    d_q = K[2] - digamma(q) + np.log(g) - log_xm_g
    d_g = q / g - (px + q) / (x * m + g)
    return ll, np.stack([p * d_p, q * d_q, g * d_g], axis=-1)


def loglik_total_hess(params, rows):
    """Weighted total of :func:`loglik` over ``rows`` (:class:`~clvkit.models._arrays.Rows` of
    ``x, m``) with its gradient and Hessian in log-parameters: the form the fit uses.

    Summed, the log-likelihood is

        sum_k W_k c(k) - n log Gamma(q) + n q log gamma + p sum w x log m - sum w log m
        - p sum w x log(x m + gamma) - q sum w log(x m + gamma),

    with W_k the weight of count k and c(k) = log Gamma(pk+q) - log Gamma(pk) + pk log k. The
    sums of log m are data alone (computed once per fit); per row and evaluation only
    log(x m + gamma) and 1/(x m + gamma) are formed, and the Hessian's terms are weighted sums
    of these and their squares, so a Newton step costs about one gradient.
    """
    p, q, g = (float(v) for v in params)

    def data_terms():
        x, m = rows.stats[:, 0], rows.stats[:, 1]
        w = rows.weights
        k = x.astype(np.intp)
        wx = w * x
        log_m = np.log(m)
        W = np.bincount(k, weights=w)
        return (W, np.arange(W.size, dtype=float), w.sum(), x * m, w, wx,
                np.einsum("i,i->", w, log_m), np.einsum("i,i->", wx, log_m))

    W, ks, n, xm, w, wx, S_log_m, S_x_log_m = rows.memo("gg_total", data_terms)
    pk = p * ks
    used = W > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        log_k = np.where(used, np.log(ks), 0.0)
        c = np.where(used, gammaln(pk + q) - gammaln(pk) + pk * log_k, 0.0)
        psi_pq, psi_p = np.where(used, digamma(pk + q), 0.0), np.where(used, digamma(pk), 0.0)
        tri_pq, tri_p = (np.where(used, polygamma(1, pk + q), 0.0),
                         np.where(used, polygamma(1, pk), 0.0))
    u = xm + g
    L = np.log(u)
    R = 1.0 / u
    R2 = R * R
    A, B = np.einsum("i,i->", w, L), np.einsum("i,i->", wx, L)
    C, D = np.einsum("i,i->", w, R), np.einsum("i,i->", wx, R)
    E, F = np.einsum("i,i->", w, R2), np.einsum("i,i->", wx, R2)
    ll = W @ c - n * gammaln(q) + n * q * np.log(g) + p * S_x_log_m - S_log_m - p * B - q * A
    d = np.array([W @ (ks * (psi_pq - psi_p + log_k)) + S_x_log_m - B,
                  W @ psi_pq - n * digamma(q) + n * np.log(g) - A,
                  n * q / g - (p * D + q * C)])
    h = np.empty((3, 3))
    h[0, 0] = W @ (ks * ks * (tri_pq - tri_p))
    h[0, 1] = h[1, 0] = W @ (ks * tri_pq)
    h[1, 1] = W @ tri_pq - n * polygamma(1, q)
    h[0, 2] = h[2, 0] = -D
    h[1, 2] = h[2, 1] = n / g - C
    h[2, 2] = -n * q / g ** 2 + p * F + q * E
    theta = np.array([p, q, g])
    return ll, theta * d, np.outer(theta, theta) * h + np.diag(theta * d)


def expected_spend(params, x, m):
    """E[M | x, m] = (gamma + x m) p / (p x + q - 1) (Fader-Hardie 2013 eq. 5); x = 0 gives the
    population mean p gamma / (q - 1)."""
    p, q, g = (float(v) for v in params)
    x, m = np.broadcast_arrays(np.asarray(x, dtype=float), np.asarray(m, dtype=float))
    return (g + x * m) * p / (p * x + q - 1)


def _spend_arrays(frequency, monetary_value=None, *, where="summary"):
    """Validated (x, m, index) from a frame or arrays; m must be > 0 where x > 0."""
    if frequency is None:
        raise DataError("no customers given: a fitted model keeps only compressed statistics, "
                        "not the training customers", file=where,
                        fix="pass the summary frame (or frequency and monetary_value arrays)")
    if isinstance(frequency, pd.DataFrame):
        missing = [c for c in ("frequency", "monetary_value") if c not in frequency.columns]
        if missing:
            raise DataError("missing column(s) " + ", ".join(missing) + "; Gamma-Gamma needs "
                            "frequency and monetary_value per customer", file=where,
                            column=missing[0], fix="build the frame with clvkit.rfm.rfm_summary")
        index = frequency.index
        x = frequency["frequency"].to_numpy(dtype=float, na_value=np.nan)
        m = frequency["monetary_value"].to_numpy(dtype=float, na_value=np.nan)
    else:
        if monetary_value is None:
            raise DataError("frequency given as an array without monetary_value", file=where,
                            fix="pass a summary frame, or both arrays")
        x, m = np.broadcast_arrays(np.asarray(frequency, dtype=float),
                                   np.asarray(monetary_value, dtype=float))
        index = None
    ids = index if index is not None else np.arange(np.size(x))
    fx, fm = np.ravel(x), np.ravel(m)
    for name, v in (("frequency", fx), ("monetary_value", fm)):
        bad = ~np.isfinite(v) | (v < 0)
        if bad.any():
            raise DataError(f"{bad.sum()} missing, infinite or negative values", file=where,
                            column=name, rows=_first_ids(ids, bad), fix="clean these customers")
    bad = fx != np.round(fx)
    if bad.any():
        raise DataError(f"{bad.sum()} non-integer values: frequency counts repeat purchases "
                        "(no silent truncation)", file=where, column="frequency",
                        rows=_first_ids(ids, bad), fix="use whole repeat-purchase counts")
    bad = (fx > 0) & (fm <= 0)
    if bad.any():
        raise DataError(f"{bad.sum()} repeat customers with monetary_value <= 0; Gamma-Gamma "
                        "needs positive spend", file=where, column="monetary_value",
                        rows=_first_ids(ids, bad), fix="drop returns/zero-value orders in clean")
    return x, m, index


def _weighted_corr(x, m, w) -> float:
    """Pearson correlation of x and m with weights w (NaN when either does not vary)."""
    def dot(a, b):
        return np.einsum("i,i->", a, b)      # not BLAS: see clvkit.models._base._wsum

    n = w.sum()
    dx, dm = x - dot(w, x) / n, m - dot(w, m) / n
    wdx = w * dx
    with np.errstate(invalid="ignore", divide="ignore"):
        return float(dot(wdx, dm) / np.sqrt(dot(wdx, dx) * dot(w * dm, dm)))


class GammaGamma(Model):
    """Gamma-Gamma spend model, fitted on repeat customers (frequency > 0).

    Learned attributes beyond the base: ``n_excluded_`` (customers without repeat purchases,
    left out of the fit) and ``frequency_spend_corr_`` (Pearson correlation of frequency and
    monetary_value over the fitted customers; a StatisticalWarning when above 0.3 in size).

    Examples
    --------
    >>> import pandas as pd
    >>> from clvkit.datasets.cdnow import lifetimes_data_path
    >>> s = pd.read_csv(lifetimes_data_path("cdnow_customers_summary_with_transactions.csv"))
    >>> s = s.rename(columns={"x": "frequency", "zbar": "monetary_value"})
    >>> GammaGamma().fit(s)
    <GammaGamma fitted on 946 customers: p=6.249 q=3.745 gamma=15.448>
    """

    param_names = PARAM_NAMES
    stat_names = ("frequency", "monetary_value")
    scale_stat = "monetary_value"
    scale_stats = ("monetary_value",)
    scale_params = ("gamma",)
    needs_time_unit = False
    compress_rows = False             # continuous spend: nearly every row is distinct
    _loglik = staticmethod(loglik)
    _loglik_total_hess = staticmethod(loglik_total_hess)

    def _statistics(self, data):
        x, m, index = _spend_arrays(data)
        w = self._weights_of(data, x.size)
        repeat = x > 0
        self.n_excluded_ = int(round(w[~repeat].sum()))
        if not repeat.any():
            raise ModelError(f"GammaGamma: none of the {w.sum():,.0f} customers has a repeat "
                             "purchase (frequency > 0); spend per repeat transaction cannot be "
                             "estimated")
        return np.column_stack([x[repeat], m[repeat]]), w[repeat]

    def _log_jacobian(self, stats, weights, log_scale):
        """Each customer's mean spend m is one rescaled statistic: -log(scale) per customer."""
        return -log_scale * float(weights.sum())

    def _start_points(self, stats, weights):
        return [np.array(v) for v in ([1.0, 1.0, 1.0], [5.0, 3.0, 0.5], [0.5, 2.0, 0.1],
                                      [20.0, 10.0, 5.0])]

    def fit(self, data, *, time_unit=None):
        """Fit on the repeat customers of ``data`` (frequency, monetary_value); return ``self``.

        Customers with frequency 0 are excluded (counted in ``n_excluded_``). ``time_unit`` is
        recorded (from the argument or ``data.attrs``) so that CLV can check it matches the
        transaction model; it is optional here.
        """
        super().fit(data, time_unit=time_unit)
        self.frequency_spend_corr_ = _weighted_corr(self._stats[:, 0], self._stats[:, 1],
                                                    self._weights)
        if abs(self.frequency_spend_corr_) > CORR_WARN:
            warnings.warn(f"GammaGamma: frequency and monetary_value are correlated "
                          f"(r = {self.frequency_spend_corr_:.2f}); the model assumes they are "
                          "independent, so expected spend may be biased", StatisticalWarning,
                          stacklevel=2)
        return self

    def _repr_html_(self):
        html = super()._repr_html_()
        if hasattr(self, "params_") and self.n_excluded_:
            html += (f"<p>{self.n_excluded_:,} customers without repeat purchases were excluded "
                     f"from the fit; frequency-spend correlation "
                     f"{self.frequency_spend_corr_:.2f}</p>")
        return html

    def _extra_meta(self):
        return {"n_excluded": self.n_excluded_, "frequency_spend_corr": self.frequency_spend_corr_}

    def _load_extra_meta(self, fit):
        self.n_excluded_ = fit.get("n_excluded")
        self.frequency_spend_corr_ = fit.get("frequency_spend_corr")

    def expected_spend(self, summary=None, monetary_value=None):
        """E[spend per transaction | x, m]: a summary frame, or arrays of frequency and mean spend;
        ``None`` means the training customers.

        Customers without repeat purchases get the population mean p gamma / (q - 1).

        Raises
        ------
        ModelError
            If q <= 1 (the population mean spend is infinite).
        """
        x, m, index = _spend_arrays(self._customers(summary, monetary_value), monetary_value)
        params = self._params()
        if params[1] <= 1:
            raise ModelError(f"GammaGamma: q = {params[1]:.3f} <= 1, so mean spend is infinite; "
                             "check the spend data for extreme values")
        return self._wrap(expected_spend(params, x, m), index, "expected_spend")

    def expected_spend_interval(self, summary=None, monetary_value=None, *, level=0.9,
                                n_draws=200, seed=0) -> pd.DataFrame:
        """Expected spend with a per-customer interval from parameter draws."""
        x, m, index = _spend_arrays(self._customers(summary, monetary_value), monetary_value)
        return self._interval(lambda mod, *c: expected_spend(mod._params(), *c), (x, m), index,
                              level=level, n_draws=n_draws, seed=seed, name="expected_spend")
