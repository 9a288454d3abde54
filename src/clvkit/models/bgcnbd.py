"""BG/CNBD-k: the BG/NBD with Erlang-k inter-purchase times (regular purchasing).

Parameters ``k`` (regularity: inter-purchase times are Erlang-k, k = 1 is the BG/NBD), ``r,
alpha`` (gamma heterogeneity of lambda, the rate of the k Poisson "ticks" that make one
purchase; ``alpha`` is in units of time) and ``a, b`` (beta heterogeneity of the dropout
probability p, a coin flip after each repeat purchase). ``k`` is an integer chosen by searching
k = 1, 2, ... (as BTYDplus does); the others are fitted by maximum likelihood for each k.

Per customer (Reutterer, Platzer and Schroeder 2020, eq. 5; BTYDplus ``xbgcnbd.LL``), with
R = r + k x, d = T - t_x and the extra statistic ``litt`` = sum of log inter-purchase times:

    ll = (k-1) litt - x log((k-1)!) + log B(a, b+x) - log B(a, b)
         + log Gamma(R) - log Gamma(r) + r log alpha - R log(alpha+T) + log(S1 + S2)
    S1 = [x>0] a/(b+x-1) ((alpha+T)/(alpha+t_x))^R          (dropped after the last purchase)
    S2 = sum_{j<k} Gamma(R+j)/(Gamma(R) j!) (d/(alpha+T))^j   (alive at T, j ticks since then)

``(k-1) litt`` does not depend on (r, alpha, a, b): the fit for a given k uses (x, t_x, T) alone,
and ``litt`` enters only the comparison of k through its weighted total.

Predictions are exact (not BTYDplus' BG/NBD-based approximation with its cohort-level bias
correction): given alive at T, the ticks since the last purchase are j with probability
proportional to the S2 terms, lambda ~ Gamma(R+j, alpha+T), and p ~ Beta(a, b') with b' = b + x
(MBG: b + x + 1), so the future ticks N in (T, T+t] are negative binomial and

    E[Y(t) | alive] = sum_j pi_j sum_{m>=1} B(a, b'+m-1)/B(a, b') P(N_j >= m k - j),
    P(NB(R+j, q) >= n) = I_q(n, R+j),  q = t/(alpha+T+t)   (regularised incomplete beta).

With k = 1 this is the BG/NBD expectation of Fader, Hardie and Lee (2005), eq. (10) (tested).

References
----------
Reutterer, Platzer and Schroeder (2020), "Leveraging purchase regularity for predicting
customer behavior the easy way", International Journal of Research in Marketing 38(1).
Platzer, BTYDplus (R package): ``bgcnbd.LL``, ``bgcnbd.PAlive``, ``bgcnbd.pmf``.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
from scipy.special import betainc, betaln, digamma, expit, gammaln

from clvkit.errors import ConfigError, ConvergenceError, DataError, ModelError
from clvkit.models._base import _first_ids, unique_rows
from clvkit.models.bgnbd import BetaGeo, _arrays

PARAM_NAMES = ("k", "r", "alpha", "a", "b")
#: the regularities tried when ``k`` is not given (BTYDplus searches 1..12)
K_MAX = 12
#: the k search stops at the first k whose log-likelihood is this far below the best so far
#: (a likelihood-ratio statistic of 20: the likelihood in k has clearly turned; BTYDplus waits
#: for two falls in a row, which the search still does for smaller falls)
K_STOP_DROP = 10.0
#: relative size of the rest of a row's series of future purchases at which it is cut
_TAIL = 1e-16


def _unpack(params):
    k = int(round(float(params[0])))
    if k < 1:
        raise ValueError(f"k must be a whole number >= 1, got {params[0]}")
    return (k, *(float(p) for p in params[1:]))


def _log_s2(k, R, d, alpha, T):
    """log of the S2 terms, shape ``(k, n)``: log Gamma(R+j) - log Gamma(R) - log j!
    + j log(d/(alpha+T)); -inf for j > 0 when d = 0."""
    j = np.arange(k, dtype=float)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        log_ratio = np.log(d) - np.log(alpha + T)
        powers = np.where(j > 0, j * log_ratio, 0.0)
    return gammaln(R + j) - gammaln(R) - gammaln(j + 1.0) + powers


def _log_s1(a, b, k, r, alpha, x, t_x, T, modified):
    """log S1 = log a - log(b+x-1+m) + R log((alpha+T)/(alpha+t_x)); -inf for BG at x = 0."""
    m = 1.0 if modified else 0.0
    has = (x > 0) | modified
    bx = np.where(has, b + x - 1.0 + m, 1.0)
    out = np.log(a) - np.log(bx) + (r + k * x) * (np.log(alpha + T) - np.log(alpha + t_x))
    return np.where(has, out, -np.inf), bx


def _loglik(params, x, t_x, T, litt, grad, modified):
    k, r, alpha, a, b = _unpack(params)
    x, t_x, T, litt = _arrays(x, t_x, T, litt)
    m = 1.0 if modified else 0.0
    R = r + k * x
    ls2 = _log_s2(k, R, T - t_x, alpha, T)
    log_S2 = np.logaddexp.reduce(ls2, axis=0)
    log_S1, bx = _log_s1(a, b, k, r, alpha, x, t_x, T, modified)
    L = np.logaddexp(log_S1, log_S2)
    ll = ((k - 1) * litt - x * math.lgamma(k) + betaln(a, b + x + m) - betaln(a, b)
          + gammaln(R) - gammaln(r) + r * np.log(alpha) - R * np.log(alpha + T) + L)
    if not grad:
        return ll
    w1 = np.exp(log_S1 - L)                       # share of "dropped after the last purchase"
    w2 = 1.0 - w1
    pi = np.exp(ls2 - log_S2)                     # phase shares within S2
    j = np.arange(k, dtype=float)[:, None]
    dS2_r = (pi * (digamma(R + j) - digamma(R))).sum(0)
    dS2_alpha = -(pi * j).sum(0) / (alpha + T)
    log_ratio = np.log(alpha + T) - np.log(alpha + t_x)
    d_r = (digamma(R) - digamma(r) + np.log(alpha) - np.log(alpha + T)
           + w1 * log_ratio + w2 * dS2_r)
    d_alpha = (r / alpha - R / (alpha + T) + w1 * R * (1.0 / (alpha + T) - 1.0 / (alpha + t_x))
               + w2 * dS2_alpha)
    d_a = digamma(a + b) - digamma(a + b + x + m) + w1 / a
    d_b = (digamma(b + x + m) - digamma(a + b + x + m) - digamma(b) + digamma(a + b) - w1 / bx)
    g = np.stack([np.zeros_like(ll), r * d_r, alpha * d_alpha, a * d_a, b * d_b], axis=-1)
    return ll, g


def loglik(params, x, t_x, T, litt=0.0, *, grad=False):
    """Per-customer BG/CNBD-k log-likelihood (module doc; BTYDplus ``bgcnbd.LL``).

    Parameters
    ----------
    params : sequence of 5 floats
        ``(k, r, alpha, a, b)``; k a whole number >= 1, the others > 0.
    x, t_x, T : array_like
        Repeat purchases, time of the last purchase, length of observation (unit of ``alpha``).
    litt : array_like
        Sum of the logs of the customer's inter-purchase times (same unit); only the k-search
        needs it, since it adds the constant (k-1) litt.
    grad : bool
        Also return d ll / d log(theta), shape ``(n, 5)`` (0 for k, which is not continuous).
    """
    return _loglik(params, x, t_x, T, litt, grad, modified=False)


def log_alive_odds(params, x, t_x, T, *, modified=False):
    """log[(1 - P(alive)) / P(alive)] = log S1 - log S2 (BTYDplus ``bgcnbd.PAlive``); -inf for
    BG/CNBD-k at x = 0 (alive for sure)."""
    k, r, alpha, a, b = _unpack(params)
    x, t_x, T = _arrays(x, t_x, T)
    log_S1, _ = _log_s1(a, b, k, r, alpha, x, t_x, T, modified)
    log_S2 = np.logaddexp.reduce(_log_s2(k, r + k * x, T - t_x, alpha, T), axis=0)
    return log_S1 - log_S2


def _future_sum(k, R0, log_pi, q, a, bp, log_rho1):
    """sum_j pi_j sum_{m>=1} rho_m P(N_j >= m k - j) per row, N_j ~ NB(R0 + j, q).

    Summed over the count n instead of m: sum_n P(N_j = n) C(floor((n + j) / k)), with
    C(M) = rho_1 + ... + rho_M and rho_{m+1} = rho_m (bp+m-1)/(a+bp+m-1) (ratios of
    B(a, bp+m-1)); the negative binomial probabilities follow their own recurrence, in logs.
    Each row leaves the loop once it is past the mode and a geometric bound on the rest of its
    sum is below ``_TAIL`` of what it has. Only multiplications and one log/exp per row and
    count: no special functions (an incomplete beta per term was ~100 times slower).
    """
    total = np.zeros(R0.size)
    pi = np.exp(log_pi)
    for j in range(k):
        idx = np.flatnonzero(pi[j] > 0)
        R, qj, bpj = R0[idx] + j, q[idx], bp[idx]
        lq = np.log(qj)
        lp = R * np.log1p(-qj)                     # log P(N = 0)
        mode = np.where(R > 1, (R - 1) * qj / (1 - qj), 0.0)
        rho = np.exp(log_rho1[idx])
        C = np.zeros(idx.size)
        acc = np.zeros(idx.size)
        n, m = 0, 0
        while idx.size:
            if n + j >= k and (n + j) % k == 0:    # the (m+1)-th purchase is reached at n
                if m > 0:
                    rho = rho * (bpj + m - 1.0) / (a + bpj + m - 1.0)
                m += 1
                C = C + rho
            pmf = np.exp(lp)
            acc += pmf * C
            ratio = (R + n) / (n + 1.0) * qj
            lp = lp + np.log(R + n) - np.log(n + 1.0) + lq
            n += 1
            with np.errstate(divide="ignore", invalid="ignore"):
                left = ratio / (1.0 - ratio) * pmf * (C + rho / (k * (1.0 - ratio)))
            done = (n > mode) & (ratio < 1.0) & (left <= _TAIL * acc)
            if done.any():
                total[idx[done]] += pi[j, idx[done]] * acc[done]
                keep = ~done
                idx, R, qj, bpj, lq, lp = idx[keep], R[keep], qj[keep], bpj[keep], lq[keep], lp[keep]
                mode, rho, C, acc = mode[keep], rho[keep], C[keep], acc[keep]
    return total


def _expected_if_alive_rows(params, t, x, t_x, T, modified):
    """E[Y(t) | alive at T, x, t_x, T] for 1-D rows and one horizon ``t`` (module doc)."""
    k, r, alpha, a, b = _unpack(params)
    R0 = r + k * x
    ls2 = _log_s2(k, R0, T - t_x, alpha, T)
    log_pi = ls2 - np.logaddexp.reduce(ls2, axis=0)
    q = np.broadcast_to(t / (alpha + T + t), R0.shape)
    bp = b + x + (1.0 if modified else 0.0)
    if t <= 0:
        return np.zeros_like(R0)
    return _future_sum(k, R0, log_pi, q, a, bp, np.zeros_like(R0))


def expected_purchases(params, t, x, t_x, T, *, modified=False):
    """E[Y(t) | x, t_x, T]: expected purchases in (T, T+t] (exact; module doc).

    ``t`` may be a scalar or broadcast with the statistics; each distinct (t, x, t_x, T) is
    computed once.
    """
    t, x, t_x, T = _arrays(t, x, t_x, T)
    shape = x.shape
    rows = np.column_stack([v.ravel() for v in (t, x, t_x, T)])
    uniq, inv = unique_rows(rows)
    out = np.empty(len(uniq))
    for tv in np.unique(uniq[:, 0]):
        sel = uniq[:, 0] == tv
        ux, utx, uT = uniq[sel, 1], uniq[sel, 2], uniq[sel, 3]
        alive = expit(-log_alive_odds(params, ux, utx, uT, modified=modified))
        out[sel] = alive * _expected_if_alive_rows(params, tv, ux, utx, uT, modified)
    return out[inv].reshape(shape)


def expected_purchases_new_customer(params, t, *, modified=False):
    """E[X(t)] for a customer just acquired: sum_m E[(1-p)^(m-1+[MBG])] P(N(t) >= m k), with
    N(t) ~ NB(r, t/(alpha+t)) ticks (the mean of BTYDplus' ``bgcnbd.pmf``)."""
    k, r, alpha, a, b = _unpack(params)
    t = np.asarray(t, dtype=float)
    flat = np.ravel(t)
    shift = 1.0 if modified else 0.0
    out = np.zeros(flat.size)
    pos = flat > 0
    if pos.any():
        q = flat[pos] / (alpha + flat[pos])
        R0 = np.full(q.size, r)
        log_pi = np.concatenate([np.zeros((1, q.size)), np.full((k - 1, q.size), -np.inf)])
        bp = np.full(q.size, b + shift)
        out[pos] = _future_sum(k, R0, log_pi, q, a, bp,
                               np.full(q.size, betaln(a, b + shift) - betaln(a, b)))
    return out.reshape(t.shape)


def probability_of_purchases(params, n, t, *, modified=False):
    """P(X(t) = n) for a new customer (BTYDplus ``xbgcnbd_pmf_cpp``):

    B(a, b+s+1)/B(a, b) P(k n <= N < k n + k) + [n > 0 or MBG] B(a+1, b+s)/B(a, b) P(N >= k n),
    s = n - 1 (+1 for MBG), N ~ NB(r, t/(alpha+t)) ticks.
    """
    k, r, alpha, a, b = _unpack(params)
    n, t = _arrays(n, t)
    m = 1.0 if modified else 0.0
    s = n - 1.0 + m
    q = t / (alpha + t)

    def upper(c):               # P(N >= c) = I_q(c, r), 1 for c <= 0
        return np.where(c > 0, betainc(np.maximum(c, 1.0), r, q), 1.0)

    with np.errstate(invalid="ignore"):
        first = np.exp(betaln(a, b + s + 1.0) - betaln(a, b)) * (upper(k * n) - upper(k * n + k))
        has = (n > 0) | modified
        sb = np.where(has, b + s, b)
        second = np.where(has, np.exp(betaln(a + 1.0, sb) - betaln(a, b)) * upper(k * n), 0.0)
    return np.where(t > 0, first + second, np.where(n == 0, 1.0, 0.0))


def _no_array_horizon(params, t, x, T):
    raise ModelError("the CNBD-k expectation depends on recency too: use a single horizon "
                     "(expected_purchases(summary, horizon=52)) or expected_purchases_path")


def litt_total(data, k_needed: bool, name: str) -> float:
    """Weighted sum of the ``litt`` column of a summary (0 when not needed and absent).

    Raises
    ------
    DataError
        ``litt`` missing when the regularity k must be compared, or invalid values.
    """
    if "litt" not in data.columns:
        if k_needed:
            raise DataError(f"{name} needs the column litt (sum of log inter-purchase times) to "
                            "compare regularities k", file="summary", column="litt",
                            fix="build the summary with clvkit.rfm.rfm_summary(..., litt=True), "
                                "or fix the regularity with k=1")
        return 0.0
    litt = data["litt"].to_numpy(dtype=float, na_value=np.nan)
    bad = ~np.isfinite(litt)
    if "frequency" in data.columns:           # (a missing frequency is the base's error)
        bad |= (data["frequency"].to_numpy(dtype=float, na_value=np.nan) == 0) & (litt != 0)
    if bad.any():
        raise DataError(f"{bad.sum()} missing, infinite or impossible litt values (customers "
                        "without repeat purchases have litt 0)", file="summary", column="litt",
                        rows=_first_ids(data.index, bad),
                        fix="recompute it with clvkit.rfm.rfm_summary(..., litt=True)")
    w = BetaGeo._weights_of(data, len(data))
    return float(w @ litt)


class BetaGeoCNBD(BetaGeo):
    """BG/CNBD-k model of repeat purchasing with regular inter-purchase times.

    Parameters
    ----------
    k : int, optional
        Regularity (Erlang-k inter-purchase times). ``None`` (default) searches k = 1, 2, ...
        up to ``k_max`` and keeps the k of the highest log-likelihood, stopping when it has
        fallen twice in a row (BTYDplus' search) or once by more than ``K_STOP_DROP`` below
        the best (the likelihood has clearly turned). k = 1 starts from the BG/NBD (MBG/NBD)
        estimate, each next k from the previous one. The summary then needs ``litt``.
    k_max : int
        Largest k tried by the search.
    penalizer, ci_level : float
        As for :class:`~clvkit.models.BetaGeo`.

    Notes
    -----
    ``params_["k"]`` is the chosen k. It is not a continuous estimate: its standard error is
    reported as 0, and the standard errors of the other parameters are conditional on it.
    ``k_log_likelihoods_`` holds the log-likelihood of each k tried.

    Examples
    --------
    >>> from clvkit.datasets import load_cdnow
    >>> from clvkit.rfm import rfm_summary
    >>> s = rfm_summary(load_cdnow(), observation_end="1997-09-30", litt=True)
    >>> BetaGeoCNBD().fit(s)     # on CDNOW the search keeps k = 1: the BG/NBD of FHL (2005)
    <BetaGeoCNBD fitted on 2,357 customers: k=1.000 r=0.243 alpha=4.414 a=0.793 b=2.426>
    """

    param_names = PARAM_NAMES
    #: parameters chosen by a discrete search (standard error 0, interval the value itself)
    searched_params = ("k",)
    scale_params = ("alpha",)
    _modified = False
    _loglik = staticmethod(loglik)
    _log_alive_odds = staticmethod(log_alive_odds)
    _expected_if_alive = staticmethod(_no_array_horizon)
    _new_customer = staticmethod(expected_purchases_new_customer)
    _pmf = staticmethod(probability_of_purchases)

    def __init__(self, k: int | None = None, penalizer: float = 0.0, ci_level: float = 0.95,
                 k_max: int = K_MAX):
        super().__init__(penalizer=penalizer, ci_level=ci_level)
        self.k = k
        self.k_max = k_max

    def _check_k(self):
        name = type(self).__name__
        for key, v, lo in (("k", self.k, 1), ("k_max", self.k_max, 1)):
            if v is None and key == "k":
                continue
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
                raise ConfigError(f"{name}: {key}={v!r} must be a whole number >= 1", key=key,
                                  fix="e.g. k=2 for Erlang-2 inter-purchase times, or k=None to "
                                      "search")

    def fit(self, data: pd.DataFrame, *, time_unit: str | None = None):
        """Fit (r, alpha, a, b) for each k tried and keep the best k; return ``self``.

        Parameters
        ----------
        data : pandas.DataFrame
            ``frequency, recency, T`` per customer, and ``litt`` unless ``k`` is 1
            (:func:`clvkit.rfm.rfm_summary` with ``litt=True``); optional ``weights``.
        time_unit : {"D", "W", "M", "Y"}, optional
            As for :meth:`Model.fit`.

        Raises
        ------
        ConfigError, DataError, ModelError, ConvergenceError
        """
        self._check_k()
        name = type(self).__name__
        if not isinstance(data, pd.DataFrame):
            return super().fit(data, time_unit=time_unit)      # the base names the problem
        ks = [int(self.k)] if self.k is not None else list(range(1, int(self.k_max) + 1))
        total_litt = litt_total(data, ks != [1], name)
        lls, best = {}, None
        self._warm = self._nbd_start(data, time_unit) if ks[0] == 1 else None
        for k in ks:
            self._k_try = k
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    super().fit(data, time_unit=time_unit)
                except (ModelError, ConvergenceError):
                    if len(ks) == 1 or k == 1:
                        raise
                    break                     # BTYDplus: stop at the first k that fails
            params = self.params_.copy()
            params["k"] = float(k)            # exactly, not exp(log k)
            self.params_ = params
            lls[k] = self.log_likelihood_ + (k - 1) * total_litt
            if best is None or lls[k] > best[0]:
                best = (lls[k], dict(self.__dict__), caught)
            # the next k starts from this estimate at the same mean inter-purchase time
            self._warm = self.optimizer_result_.x + np.log([(k + 1) / k, 1.0, k / (k + 1),
                                                            1.0, 1.0])
            last = list(lls.values())[-3:]
            if lls[k] < best[0] - K_STOP_DROP or (len(last) == 3
                                                  and last[2] < last[1] < last[0]):
                break
        _, state, caught = best
        self.__dict__.clear()
        self.__dict__.update(state)
        del self._k_try, self._warm
        self.log_likelihood_ = float(best[0])
        self.k_log_likelihoods_ = pd.Series(lls, name="log_likelihood", dtype=float)
        self.k_log_likelihoods_.index.name = "k"
        for w in caught:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        return self

    def _nbd_start(self, data, time_unit):
        """Log-parameters (scaled time) of the k = 1 model, which is the BG/NBD (MBG/NBD),
        fitted by its fast Newton steps: the k = 1 fit starts there and converges in a few
        iterations. ``None`` when that fit fails (the fixed start points are used)."""
        from clvkit.models.bgnbd import BetaGeo
        from clvkit.models.mbgnbd import ModifiedBetaGeo

        nbd = (ModifiedBetaGeo if self._modified else BetaGeo)(penalizer=self.penalizer)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                nbd.fit(data.drop(columns=[c for c in ("litt",) if c in data.columns]),
                        time_unit=time_unit)
        except (ModelError, ConvergenceError):
            return None
        if nbd.boundary_ is not None or not np.all(np.isfinite(nbd.params_)):
            return None
        scale = float(nbd._stats[:, 2].max())
        p = nbd._params()
        return np.log([1.0, p[0], p[1] / scale, p[2], p[3]])

    def _start_points(self, stats, weights):
        k = self._k_try
        fixed = [np.array([k, p[0], p[1] / k, p[2], p[3]]) for p in (
            [1.0, 1.0, 1.0, 1.0], [0.5, 0.2, 0.5, 2.0], [2.0, 5.0, 2.0, 5.0], [0.1, 0.05, 0.1, 0.1])]
        warm = getattr(self, "_warm", None)
        if warm is None:
            return fixed
        start = np.exp(warm)
        start[0] = k
        return [start] + fixed

    # k is held at its value while (r, alpha, a, b) are optimised: its gradient is 0 (also with
    # a penalizer), and the Hessian treats it as known.
    def _objective(self, theta, rows):
        f, g = super()._objective(theta, rows)
        g = np.array(g, dtype=float)
        g[0] = 0.0
        return f, g

    def _hessian(self, theta, rows, g0):
        g0 = np.array(g0, dtype=float)
        g0[0] = 0.0
        H = super()._hessian(theta, rows, g0)
        H[0, :] = H[:, 0] = 0.0
        H[0, 0] = 1.0
        return H

    def _set_cov(self, H, warn=True):
        super()._set_cov(H, warn=warn)
        self._cov_log[0, :] = self._cov_log[:, 0] = 0.0
        D = np.diag(self.params_.to_numpy())
        names = list(self.param_names)
        self.cov_ = pd.DataFrame(D @ self._cov_log @ D, index=names, columns=names)
        self.se_ = pd.Series(np.sqrt(np.diag(self.cov_.to_numpy())), index=names)

    def _log_jacobian(self, stats, weights, log_scale):
        """Without (k-1) litt the likelihood of the rescaled data differs by k log(scale) per
        repeat purchase (the x Erlang-k inter-purchase densities give x, and the left-out
        (k-1) litt shifts by (k-1) x log(scale)); tested against a direct evaluation."""
        return -log_scale * self._k_try * float(weights @ stats[:, 0])

    # BG/NBD's boundary handling (its no-dropout limit) is written for its own four parameters
    def _boundary_limit(self, rows, theta):
        return None

    def _near_boundary(self, theta):
        return False

    def _check_estimate(self):
        """Refuse an estimate whose predictions are not finite (probed at the extremes of the
        training statistics, as BG/NBD does)."""
        stats = self._stats
        lo, hi = stats.min(axis=0), stats.max(axis=0)
        probe = np.array([[0.0, 0.0, lo[2]], [hi[0], hi[2], hi[2]], [hi[0], 0.0, hi[2]]])
        with np.errstate(all="ignore"):
            vals = np.r_[self._path(np.array([hi[2]]), *probe.T).ravel(),
                         type(self)._new_customer(self._params(), hi[2])]
        if not np.all(np.isfinite(vals)):
            ps = ", ".join(f"{k} = {v:.3g}" for k, v in self.params_.items())
            raise ModelError(f"{type(self).__name__}: the estimate ({ps}) makes the expected "
                             "purchases non-finite; refit with a small penalizer")

    def sample_params(self, n_draws: int = 200, seed: int = 0) -> pd.DataFrame:
        """Draws of (r, alpha, a, b) as in :meth:`Model.sample_params`, with k held at its value."""
        self._check_fitted()
        if np.isnan(self._cov_log).any():
            raise ModelError(f"{type(self).__name__}: the covariance is NaN (singular Hessian), "
                             "so parameters cannot be drawn; refit with a small penalizer")
        rng = np.random.default_rng(seed)
        logp = np.log(self._params())
        draws = rng.multivariate_normal(logp[1:], self._cov_log[1:, 1:], size=n_draws,
                                        method="cholesky")
        out = np.column_stack([np.full(n_draws, self.params_["k"]), np.exp(draws)])
        return pd.DataFrame(out, columns=list(self.param_names))

    def _extra_meta(self) -> dict:
        meta = super()._extra_meta()
        if hasattr(self, "k_log_likelihoods_"):
            meta["k_log_likelihoods"] = {str(k): v for k, v in self.k_log_likelihoods_.items()}
        return meta

    def _load_extra_meta(self, fit: dict):
        super()._load_extra_meta(fit)
        lls = fit.get("k_log_likelihoods")
        if lls is not None:
            self.k_log_likelihoods_ = pd.Series({int(k): v for k, v in lls.items()},
                                                name="log_likelihood", dtype=float)
            self.k_log_likelihoods_.index.name = "k"

    # ------------------------------------------------------------- predictions
    def _path(self, ts, x, t_x, T_):
        params = self._params()
        x, t_x, T_ = (np.ravel(v) for v in np.broadcast_arrays(x, t_x, T_))
        rows, inv = unique_rows(np.column_stack([x, t_x, T_]))
        alive = expit(-type(self)._log_alive_odds(params, *rows.T))
        out = np.empty((len(ts), len(rows)))
        for i, t in enumerate(ts):
            out[i] = alive * _expected_if_alive_rows(params, float(t), *rows.T, self._modified)
        return out[:, inv]

    def discounted_purchases(self, ts, discount, frequency=None, recency=None, T=None):
        """Discounted sum of expected purchase increments (see :meth:`Model.discounted_purchases`)."""
        x, t_x, T_, _ = self._rfm_inputs(frequency, recency, T)
        path = self._path(np.ravel(np.asarray(ts, dtype=float)), x, t_x, T_)
        return np.asarray(discount, dtype=float) @ np.diff(path, axis=0, prepend=0.0)
