"""Gamma-Gompertz/NBD: Poisson purchasing while alive, a Gompertz lifetime whose hazard changes
with customer age.

Parameters ``r, alpha`` (gamma heterogeneity of the purchase rate; ``alpha`` in units of time),
``b`` (the age effect: the hazard of customer i is eta_i b e^(b tau); ``b`` is a rate, per unit
of time), and ``s, beta`` (gamma heterogeneity of eta). Mixing the Gompertz over eta gives the
survival S(tau) = (beta / (beta + e^(b tau) - 1))^s (as b -> 0 with beta/b fixed it tends to the
Pareto/NBD's lifetime, which the model nests in that limit).

Per customer (Bemmaor and Glady 2012, eq. 7; CLVTools ``ggomnbd_LL_ind``), with
L(y) = log(beta + e^(by) - 1) evaluated as log(beta + expm1(by)) (or by + log1p((beta-1)e^(-by))
for large by, so e^(by) is never formed):

    ll = C + log( e^A + e^B ),   C = log Gamma(r+x) - log Gamma(r) + r log alpha + s log beta
    A = -(r+x) log(alpha+T) - s L(T)                               (alive at T)
    B = log b + log s + log I,   I = int_{t_x}^T (alpha+y)^-(r+x) e^(by - (s+1) L(y)) dy

The integral has no closed form. CLVTools integrates it per customer with GSL's adaptive QAGS;
here it is evaluated for all distinct (x, t_x, T) rows at once in log space by composite
Gauss-Legendre quadrature in v = log(y - c), c the singularity of the integrand nearest to the
interval (y = -alpha, or y_s where beta + e^(by) - 1 = 0 when beta < 1): this turns the steep
(alpha+y)^-(r+x) factor of heavy buyers into an exponential and crowds nodes towards a sharp
left end (small beta/b). The number of panels is doubled per row until two successive rules
agree to 1e-12 relative (at most 2^10 panels of 16 nodes). The gradient
differentiates under the integral on the same nodes, so it is the exact gradient of the value
the optimiser sees.

Given alive at T, lambda ~ Gamma(r+x, alpha+T) and eta ~ Gamma(s, beta + e^(bT) - 1), so

    E[Y(t) | alive] = (r+x)/(alpha+T) int_0^t exp(s (L(T) - L(T+u))) du

(Adler's 2022 erratum to Bemmaor and Glady, which CLVTools follows), computed with the same
quadrature; times P(alive) = e^A / (e^A + e^B) it is the conditional expectation.

References
----------
Bemmaor and Glady (2012), "Modeling purchasing behavior with sudden 'death': a flexible
customer lifetime model", Management Science 58(5), 1012-1021.
Adler (2022), "Erratum", Management Science 69(2).
Bachmann, Meierer and Naef, CLVTools (R package): ``ggomnbd``.
"""
from __future__ import annotations

import numpy as np
from scipy import optimize
from scipy.special import digamma, expit, gammaln

from clvkit.errors import ConvergenceError, ModelError
from clvkit.models._base import _LOG_BOUND, unique_rows
from clvkit.models.bgnbd import BetaGeo, _arrays
from clvkit.models.paretonbd import log_nbd_pmf

PARAM_NAMES = ("r", "alpha", "b", "s", "beta")

_GL_X, _GL_W = np.polynomial.legendre.leggauss(16)
_GL8_X, _GL8_W = np.polynomial.legendre.leggauss(8)
#: relative agreement of two successive quadrature rules at which a row is accepted
_QUAD_RTOL = 1e-12
_MAX_LEVEL = 10
_CHUNK = 1 << 21          # nodes per block of rows (bounds memory on large data)
#: b (time scaled so that max T = 1) at which the Pareto/NBD limit is tested and represented
_B_EDGE = 1e-7
#: b (scaled) at which the slope towards the limit is taken: about b times the slope in b, it
#: must stand clear of the rounding of g_b + g_beta, which grows with s (s -> infinity is
#: another edge: the exponential lifetime)
_B_SLOPE = 1e-5
#: b at which the fit starts next to the Pareto/NBD estimate when the data want b > 0
_B_START = 0.05


def _log_expm1(z):
    """log(e^z - 1) = z + log(1 - e^-z) for z > 0: no overflow, exact for small z."""
    return z + np.log(-np.expm1(-z))


def _singularity(b, beta):
    """y_s = log(1 - beta) / b, where beta + e^(by) - 1 = 0 (-inf when beta >= 1: none)."""
    return np.log1p(-beta) / b if beta < 1.0 else -np.inf


def _log_bexp(beta, b, y, ds=None):
    """L(y) = log(beta + e^(by) - 1) and q(y) = e^(by) / (beta + e^(by) - 1), stably.

    With ``ds`` = y - y_s (beta < 1) it uses beta + e^(by) - 1 = (1 - beta) expm1(b ds), exact
    and free of cancellation next to the singularity y_s; otherwise log(beta + expm1(by)), or
    by + log1p((beta - 1) e^(-by)) for large by (e^(by) is never formed).
    """
    u = b * y
    if ds is not None and beta < 1.0:
        L = np.log1p(-beta) + _log_expm1(b * ds)
    else:
        big = u > 30.0
        with np.errstate(over="ignore"):
            small = np.log(beta + np.expm1(np.where(big, 0.0, u)))
        L = np.where(big, u + np.log1p((beta - 1.0) * np.exp(-np.where(big, u, 0.0))), small)
    return L, np.exp(u - L)


def log_quad(fn, lo, hi, n_out):
    """log int_lo^hi e^(f) dy and the e^f-weighted means of ``n_out`` factors, per row.

    ``fn(y, idx)`` returns ``(log f, [factor, ...])`` at nodes ``y`` of shape ``(len(idx), m)``
    for rows ``idx``. The rules are 8-point and 16-point Gauss-Legendre on the whole interval,
    then 16 points on 2, 4, ... equal panels; a row is accepted when two successive rules agree
    to ``_QUAD_RTOL`` (most rows at the 16-point rule: 24 evaluations). Rows with lo = hi give
    -inf and zero means.
    """
    lo, hi = np.broadcast_arrays(np.asarray(lo, float), np.asarray(hi, float))
    n = lo.size
    log_i = np.full(n, -np.inf)
    means = np.zeros((n_out, n))
    todo = np.flatnonzero(hi > lo)
    prev = None
    for level in range(-1, _MAX_LEVEL + 1):
        if not todo.size:
            break
        res = _rule(fn, lo, hi, todo, level, n_out)
        if prev is not None:
            done = np.abs(res[0] - prev[0][np.searchsorted(prev[2], todo)]) <= _QUAD_RTOL
            if level == _MAX_LEVEL:
                done[:] = True
            log_i[todo[done]] = res[0][done]
            means[:, todo[done]] = res[1][:, done]
            prev = (res[0][~done], res[1][:, ~done], todo[~done])
            todo = todo[~done]
        else:
            prev = (res[0], res[1], todo)
    return log_i, means


def _rule(fn, lo, hi, idx, level, n_out):
    """Composite Gauss-Legendre: 8 points for level -1, else 16 points on 2^level panels."""
    gx, gw = (_GL8_X, _GL8_W) if level < 0 else (_GL_X, _GL_W)
    panels = 1 << max(level, 0)
    m = panels * gx.size
    edges = np.arange(panels, dtype=float)
    unit = ((edges[:, None] + (gx[None, :] + 1.0) / 2.0) / panels).ravel()         # in [0, 1]
    logw = np.log(np.tile(gw, panels) / (2.0 * panels))
    out_i, out_m = np.empty(idx.size), np.empty((n_out, idx.size))
    step = max(1, _CHUNK // m)
    for s0 in range(0, idx.size, step):
        rows = idx[s0:s0 + step]
        width = (hi[rows] - lo[rows])[:, None]
        y = lo[rows][:, None] + width * unit
        lf, factors = fn(y, rows)
        lt = lf + logw + np.log(width)
        top = lt.max(axis=1, keepdims=True)
        e = np.exp(lt - top)
        tot = e.sum(axis=1)
        out_i[s0:s0 + step] = top[:, 0] + np.log(tot)
        if factors:
            out_m[:, s0:s0 + step] = np.einsum("ij,kij->ki", e, np.array(factors)) / tot
    return out_i, out_m


def _parts(params, x, t_x, T, grad):
    """C, A, B of the module doc (and their gradients in natural parameters) per row."""
    r, alpha, b, s, beta = (float(p) for p in params)
    x, t_x, T = _arrays(x, t_x, T)
    shape = x.shape
    x, t_x, T = x.ravel(), t_x.ravel(), T.ravel()
    rx = r + x
    LT, qT = _log_bexp(beta, b, T, T - _singularity(b, beta))
    C = gammaln(rx) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    A = -rx * np.log(alpha + T) - s * LT
    # integrate in v = log(y - c), c the nearer singularity of the integrand: y = -alpha, or
    # y_s where beta + e^(by) - 1 = 0: nodes crowd towards a sharp left end, and both factors
    # become smooth in v
    ys = _singularity(b, beta)
    c = max(-alpha, ys)
    gap, shift = c - ys, c + alpha            # both >= 0, and one of them is exactly 0

    def integrand(v, idx):                    # dy = (y - c) dv
        d = np.exp(v)
        y = c + d
        L, q = _log_bexp(beta, b, y, d + gap)
        ay = d + shift                        # alpha + y
        rxi = rx[idx][:, None]
        lf = -rxi * np.log(ay) + b * y - (s + 1.0) * L + v
        if not grad:
            return lf, []
        return lf, [-np.log(ay), -rxi / ay, y - (s + 1.0) * y * q, -L, -(s + 1.0) * np.exp(-L)]

    log_i, E = log_quad(integrand, np.log(t_x - c), np.log(T - c), 5 if grad else 0)
    with np.errstate(divide="ignore"):
        B = np.log(b) + np.log(s) + log_i
    if not grad:
        return C.reshape(shape), A.reshape(shape), B.reshape(shape), None
    dC = [digamma(rx) - digamma(r) + np.log(alpha), r / alpha, 0.0, np.log(beta), s / beta]
    dA = [-np.log(alpha + T), -rx / (alpha + T), -s * T * qT, -LT, -s * np.exp(-LT)]
    dB = [E[0], E[1], 1.0 / b + E[2], 1.0 / s + E[3], E[4]]
    return C.reshape(shape), A.reshape(shape), B.reshape(shape), (dC, dA, dB, shape)


def loglik(params, x, t_x, T, *, grad=False):
    """Per-customer GGompertz/NBD log-likelihood (Bemmaor and Glady 2012; module doc).

    Parameters
    ----------
    params : sequence of 5 floats
        ``(r, alpha, b, s, beta)``, all > 0.
    x, t_x, T : array_like
        Repeat purchases, time of the last purchase, length of observation (unit of ``alpha``).
    grad : bool
        Also return d ll / d log(theta), shape ``(n, 5)``.
    """
    C, A, B, d = _parts(params, x, t_x, T, grad)
    lse = np.logaddexp(A, B)
    ll = C + lse
    if not grad:
        return ll
    dC, dA, dB, shape = d
    wA = np.exp(A - lse).ravel()
    wB = 1.0 - wA
    g = np.stack([p * (np.asarray(c) + wA * a + wB * bb) for p, c, a, bb
                  in zip((float(v) for v in params), dC, dA, dB)], axis=-1)
    return ll, g.reshape(shape + (5,))


def log_alive_odds(params, x, t_x, T):
    """log[(1 - P(alive)) / P(alive)] = B - A (CLVTools ``ggomnbd_PAlive``)."""
    _, A, B, _ = _parts(params, x, t_x, T, False)
    return B - A


def _survival_integral(params, t, T):
    """int_0^t exp(s (L(T) - L(T+u))) du per element of broadcast ``t, T`` (t >= 0)."""
    r, alpha, b, s, beta = (float(p) for p in params)
    t, T = np.broadcast_arrays(np.asarray(t, float), np.asarray(T, float))
    shape = t.shape
    pairs, inv = unique_rows(np.column_stack([t.ravel(), T.ravel()]))
    ys = _singularity(b, beta)
    LT = _log_bexp(beta, b, pairs[:, 1], pairs[:, 1] - ys)[0]
    # in v = log(u - c): c = y_s - T, the singularity of L(T + u), or the scale -1/b without one
    c = pairs[:, 1] * 0.0 + (ys - pairs[:, 1] if beta < 1.0 else -1.0 / b)

    def integrand(v, idx):
        d = np.exp(v)
        y = pairs[idx, 1][:, None] + c[idx][:, None] + d
        return s * (LT[idx][:, None] - _log_bexp(beta, b, y, d)[0]) + v, []

    with np.errstate(divide="ignore"):
        log_j, _ = log_quad(integrand, np.log(-c), np.log(pairs[:, 0] - c), 0)
    return np.exp(log_j)[inv].reshape(shape)


def expected_if_alive(params, t, x, T):
    """E[Y(t) | alive at T, x, T] = (r+x)/(alpha+T) int_0^t S(T+u)/S(T) du (module doc)."""
    r, alpha = float(params[0]), float(params[1])
    t, x, T = _arrays(t, x, T)
    return (r + x) / (alpha + T) * _survival_integral(params, t, T)


def expected_purchases(params, t, x, t_x, T):
    """E[Y(t) | x, t_x, T]: expected purchases in (T, T+t] given the history."""
    return expected_if_alive(params, t, x, T) * expit(-log_alive_odds(params, x, t_x, T))


def expected_purchases_new_customer(params, t):
    """E[X(t)] = r/alpha int_0^t S(tau) d tau for a customer just acquired (CLVTools
    ``ggomnbd_expectation``, written without the integration by parts)."""
    r, alpha = float(params[0]), float(params[1])
    t = np.asarray(t, dtype=float)
    return r / alpha * _survival_integral(params, t, np.zeros_like(t))


def probability_of_purchases(params, n, t):
    """P(X(t) = n) = S(t) NBD(n | t) + int_0^t f(tau) NBD(n | tau) d tau for a new customer,
    f the lifetime density b s beta^s e^(b tau) (beta + e^(b tau) - 1)^-(s+1)."""
    r, alpha, b, s, beta = (float(p) for p in params)
    n, t = np.broadcast_arrays(np.asarray(n, float), np.asarray(t, float))
    shape = n.shape
    n, t = n.ravel(), t.ravel()
    ys = _singularity(b, beta)
    Lt = _log_bexp(beta, b, t, t - ys)[0]
    survive = s * (np.log(beta) - Lt) + log_nbd_pmf(n, r, alpha, t)
    c = ys if beta < 1.0 else -1.0 / b        # as in _survival_integral

    def integrand(v, idx):
        d = np.exp(v)
        tau = c + d
        L = _log_bexp(beta, b, tau, d)[0]
        return (np.log(b * s) + s * np.log(beta) + b * tau - (s + 1.0) * L
                + log_nbd_pmf(n[idx][:, None], r, alpha, tau) + v), []

    with np.errstate(divide="ignore"):
        log_int, _ = log_quad(integrand, np.full(t.shape, np.log(-c)), np.log(t - c), 0)
    return np.exp(np.logaddexp(survive, log_int)).reshape(shape)


class GammaGompertzNBD(BetaGeo):
    """Gamma-Gompertz/NBD model of repeat purchasing (Bemmaor and Glady 2012).

    Same interface and predictions as :class:`~clvkit.models.BetaGeo`; only the parts of the
    model differ. ``alpha`` is in units of time and ``b`` per unit of time.

    Parameters
    ----------
    penalizer, ci_level : float
        As for :class:`~clvkit.models.BetaGeo`.

    Notes
    -----
    When the data show no age effect the likelihood is highest as b -> 0 with beta/b fixed,
    the Pareto/NBD limit (CDNOW is such a case: CLVTools and Bemmaor and Glady report b near 0).
    Then b and beta are not identified separately: the Hessian is (nearly) singular, so their
    intervals span many orders of magnitude (or all standard errors are NaN, with a warning),
    and the predictions equal the Pareto/NBD's.

    Examples
    --------
    >>> from clvkit.datasets import load_cdnow
    >>> from clvkit.rfm import rfm_summary
    >>> s = rfm_summary(load_cdnow(), observation_end="1998-06-30")    # all 78 weeks
    >>> GammaGompertzNBD().fit(s)
    <GammaGompertzNBD fitted on 2,357 customers: r=0.579 alpha=12.643 b=0.045 s=0.175 beta=0.129>
    """

    param_names = PARAM_NAMES
    scale_params = ("alpha",)
    _loglik = staticmethod(loglik)
    _log_alive_odds = staticmethod(log_alive_odds)
    _expected_if_alive = staticmethod(expected_if_alive)
    _new_customer = staticmethod(expected_purchases_new_customer)
    _pmf = staticmethod(probability_of_purchases)

    def _param_scale_mask(self):
        """alpha is a time (multiplied back by the scale), b a rate (divided by it)."""
        return np.array([0.0, 1.0, -1.0, 0.0, 0.0])

    def fit(self, data, *, time_unit=None):
        """Fit to per-customer ``frequency, recency, T``; return ``self`` (see
        :meth:`Model.fit`; covariates are not available for this model).

        Raises
        ------
        DataError, ModelError, ConvergenceError
            A ModelError when b runs off to 0 says that this is the Pareto/NBD limit.
        """
        try:
            return super().fit(data, time_unit=time_unit)
        except ConvergenceError:
            raise
        except ModelError as exc:
            if "parameter(s) b" not in str(exc) and ", b" not in str(exc):
                raise
            raise ModelError(f"{exc}; b -> 0 is the Pareto/NBD limit (no effect of customer "
                             "age on dropout): fit ParetoNBD instead") from None

    def _optimise(self, rows):
        """Fit the Pareto/NBD limit first, then test whether the data want b > 0.

        The model nests the Pareto/NBD as b -> 0 with beta = b beta_P (module doc). Its
        likelihood at b = ``_B_EDGE`` (time scaled so that max T = 1), where it equals the
        Pareto/NBD's to about 1e-7, is maximised over (r, alpha, s, beta_P) with the model's
        own quadrature (the Pareto/NBD code is not used: its hypergeometric series slows down
        by orders of magnitude on data with an age effect, where its s and beta run off). Then
        the slope of the log-likelihood in log b along beta/b fixed, at b = ``_B_SLOPE``,
        decides: not positive, the
        data push b to its limit and the fit is that limit (:meth:`_boundary_limit`);
        positive, L-BFGS-B runs from the fixed start points (and next to the limit, at b =
        ``_B_START``, if they fail). Without the first step a fit at the limit spent most of
        its ~90 evaluations walking down the ridge to b -> 0. With a penalizer the first step
        is skipped.
        """
        self._pareto = None
        if self.penalizer == 0:
            phi = self._fit_limit(rows)
            if phi is not None:
                self._pareto = phi
                theta0 = self._near_pareto(np.log(_B_EDGE))
                g = self._objective(self._near_pareto(np.log(_B_SLOPE)), rows)[1]  # -ll / n
                if np.all(np.isfinite(g)) and g[2] + g[4] >= 0:
                    edge = np.zeros(5, dtype=bool)
                    edge[[2, 4]] = True
                    return theta0, optimize.OptimizeResult(
                        x=theta0, fun=np.nan, jac=g, success=True, nit=0,
                        message="the log-likelihood rises towards b -> 0: Pareto/NBD limit"), edge
        return super()._optimise(rows)

    def _limit_objective(self, phi, rows):
        """Objective and gradient in phi = log(r, alpha, s, beta_P) at b = ``_B_EDGE``."""
        f, g = self._objective(self._near_pareto(np.log(_B_EDGE), phi), rows)
        return f, np.array([g[0], g[1], g[3], g[4]])

    def _fit_limit(self, rows):
        """log(r, alpha, s, beta_P) of the Pareto/NBD limit (scaled time), or ``None``."""
        bound = [(-_LOG_BOUND, _LOG_BOUND)] * 4
        for start in ([1.0, 1.0, 1.0, 1.0], [0.5, 0.3, 0.5, 0.3], [2.0, 0.1, 0.2, 2.0]):
            res = optimize.minimize(self._limit_objective, np.log(start), args=(rows,),
                                    jac=True, method="L-BFGS-B", bounds=bound,
                                    options={"maxiter": 2000, "ftol": 1e-15, "gtol": 1e-9})
            if (np.all(np.isfinite(res.x)) and res.fun < 1e10
                    and (res.success or np.max(np.abs(res.jac)) < 1e-5)):
                return None if np.any(np.abs(res.x) > _LOG_BOUND - 1e-3) else res.x
        return None

    def _near_pareto(self, log_b, phi=None):
        """Log-parameters (r, alpha, b, s, beta = b beta_P) at the Pareto/NBD limit ``phi``."""
        lr, la, ls, lbp = self._pareto if phi is None else phi
        return np.array([lr, la, log_b, ls, log_b + lbp])

    def _limit_applies(self):
        return self.penalizer == 0

    def _boundary_limit(self, rows, theta):
        """The Pareto/NBD limit b -> 0 (beta/b = beta_P fixed), when it fits as well as the
        estimate (within 0.01 + 1e-7 per customer, as BG/NBD's no-dropout limit).

        It is represented at b = ``_B_EDGE`` (scaled time), where the likelihood and the
        predictions equal the Pareto/NBD's to about 1e-7 relative (tested). The standard
        errors of r, alpha and s come from the Hessian in (r, alpha, s, beta_P) with beta_P
        profiled out; b and beta are not identified apart (NaN), only their ratio beta_P.
        """
        if getattr(self, "_pareto", None) is None:
            return None
        n = rows.weights.sum()
        lim = self._near_pareto(np.log(_B_EDGE))
        with np.errstate(all="ignore"):
            ll_lim = float(self._total(np.exp(lim), rows))
            ll_fit = ll_lim if np.array_equal(theta, lim) else float(
                self._total(np.exp(theta), rows))
        if not np.isfinite(ll_lim) or ll_lim < ll_fit - 0.01 - 1e-7 * n:
            return None
        h, g0 = 1e-6, self._limit_objective(self._pareto, rows)[1]
        H4 = np.empty((4, 4))
        for j in range(4):
            step = np.zeros(4)
            step[j] = h
            H4[:, j] = (self._limit_objective(self._pareto + step, rows)[1] - g0) * n / h
        H4 = (H4 + H4.T) / 2
        H = np.full((5, 5), np.nan)
        keep = [0, 1, 3]                          # r, alpha, s, with beta_P profiled out
        with np.errstate(all="ignore"):
            H[np.ix_(keep, keep)] = H4[:3, :3] - np.outer(H4[:3, 3], H4[3, :3]) / H4[3, 3]
        return lim, H, (
            "no effect of customer age on dropout in this history: the fit runs to the "
            "boundary b -> 0 with beta/b fixed, where the model is the Pareto/NBD; it is "
            "reported at that limit (b tiny, beta/b the Pareto/NBD's beta; b and beta are not "
            "identified apart, so their standard errors are NaN). Compare ParetoNBD")

    def _near_boundary(self, theta):
        return False

    def _start_points(self, stats, weights):
        # natural parameters in time scaled so that max T = 1; next to the Pareto/NBD limit last
        # (first, it can strand the fit on the s -> infinity ridge when that limit lies there)
        fixed = [np.array(p) for p in ([1.0, 1.0, 1.0, 1.0, 1.0], [0.5, 0.3, 0.5, 0.5, 0.5],
                                       [0.5, 0.3, 0.05, 0.6, 0.02], [2.0, 0.1, 2.0, 0.2, 2.0])]
        if getattr(self, "_pareto", None) is None:
            return fixed
        return fixed + [np.exp(self._near_pareto(np.log(_B_START)))]
