"""The machinery every clvkit model shares: validation, compression, fitting, errors, persistence.

A model is a small subclass of :class:`Model` that *declares its parts*; the base does the rest
(validate and compress the data, rescale time, optimise, Hessian, standard errors, ``summary()``,
repr, ``save``/``load``, parameter draws and per-customer intervals).

How to add a model
------------------
Write ``src/clvkit/models/<name>.py`` with a pure module-level log-likelihood and a subclass::

    def loglik(params, x, t_x, T, *, grad=False):
        '''Per-row log-likelihood (ndarray); with grad=True also d ll / d log(theta), shape (n, k).'''

    class MyModel(Model):
        param_names = ("r", "alpha", "s", "beta")   # names from the literature, in order
        stat_names = ("frequency", "recency", "T")  # sufficient statistics (the default)
        scale_stats = ("recency", "T")              # durations: divided by max(T) while fitting
        scale_params = ("alpha", "beta")            # params in units of time: divided likewise
        _loglik = staticmethod(loglik)

        def _start_points(self, stats, weights):     # natural params, in *scaled* units
            return [np.array([1.0, 1.0, 1.0, 1.0]), ...]

and its predictions as methods that read ``self.params_`` (through ``self._params()``) and take
their customers through ``self._rfm_inputs(frequency, recency, T)`` / ``self._wrap``. Optional hooks:

* ``_statistics(data)`` -> ``(stats (n, m) float array, weights (n,))``: extract and validate the
  statistics from the user's frame when they are not ``frequency, recency, T`` (Gamma-Gamma,
  sBG cohorts). It may set learned attributes such as ``n_excluded_``.
* ``_check_data(stats, weights)``: raise :class:`ModelError` when the (compressed) data cannot
  identify the model (e.g. no repeat buyers).
* ``scale_stat``: the statistic whose maximum sets the scale (``"T"``; ``None`` = no rescaling).
* ``needs_time_unit``: ``False`` for models whose statistics carry no time (Gamma-Gamma).
* ``expected_purchases_path(ts, ...)``: a faster matrix form of conditional expected purchases
  over several horizons (the default loops over ``ts``).
* ``_loglik_total(params, rows, *, grad=False)``: the weighted total of ``_loglik`` over the
  distinct rows (:class:`~clvkit.models._arrays.Rows`: rows, weights, and per column its
  distinct values and codes), for a likelihood that evaluates functions of one statistic once
  per value instead of once per row. Used only when declared by the class that declares
  ``_loglik``; it must equal ``weights @ _loglik(...)`` (tested per model).

* ``_loglik_total_hess(params, rows) -> (ll, grad, hess)``: the weighted total with its gradient
  and Hessian in log-parameters. With it the fit takes Newton steps (trust-region on a
  deterministic subsample of large data, then plain Newton steps on all rows) and the
  covariance uses the exact Hessian (BG/NBD, MBG/NBD, Gamma-Gamma).
* ``compress_rows = False``: skip compression above 10,000 rows (continuous statistics such as
  spend, where nearly every row is distinct).
* ``_log_jacobian(stats, weights, log_scale)``: how rescaling the statistics changes the
  log-likelihood (the default covers the purchase models), so ``log_likelihood_`` is that of
  the data in their own units without another pass over them.
* ``_near_boundary(theta)`` / ``_boundary_limit(rows, theta)``: a limit the model reduces to at
  the edge of its parameter space (BG/NBD: no dropout, b = inf), taken instead of an estimate
  stranded on a flat ridge; ``_check_estimate()``: refuse an estimate whose predictions are
  not finite.

Hyperparameters are validated in ``fit`` (``ConfigError``, a ``ValueError``). Without the Newton
hook the optimiser minimises the mean weighted negative log-likelihood in log-parameters with
L-BFGS-B from the declared start points in order (deterministic; the next start is tried only
when one fails), plus ``penalizer * sum(theta**2)`` on the natural parameters in scaled units (as
lifetimes' ``penalizer_coef``). The covariance comes from the inverse Hessian of the total
weighted objective in log-parameters (analytic, or forward differences of the analytic
gradient), mapped to natural parameters with the delta method. Predictions default to the
training customers (a loaded model keeps parameters only: pass the customers).
"""
from __future__ import annotations

import copy
import hashlib
import json
import math
import warnings
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
from scipy import optimize, stats as sstats

from clvkit.errors import (ConfigError, ConvergenceError, DataError, ModelError, NotFittedError,
                           StatisticalWarning)
from clvkit.models._arrays import (Rows, _first_ids, column_quantiles,  # noqa: F401
                                   compress, frame_time_unit, per_count, rfm_arrays, unique_rows)
from clvkit.units import UNIT_NAMES, check_unit

_LOG_BOUND = 30.0          # |log theta| <= 30: beyond, a parameter has run off to 0 or infinity
_COMPRESS_ALWAYS = 10_000  # rows up to which even a non-compressing model compresses
_WARM_START_ROWS = 100_000  # above, Newton starts from a fit to every k-th row (~25,000 rows)
_REGISTRY: dict[str, type] = {}


def _positive_definite(H) -> bool:
    """Finite, symmetric-enough and with eigenvalues above 1e-10 of the largest."""
    if H.size == 0 or not np.all(np.isfinite(H)):
        return False
    try:
        eig = np.linalg.eigvalsh(H)
    except np.linalg.LinAlgError:
        return False
    return bool(eig.min() > 1e-10 * max(eig.max(), 1e-300))


def _is_real(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


def _wsum(weights, values):
    """``weights @ values`` without BLAS: on a busy machine a multithreaded BLAS dot over a
    million rows can take 20 ms instead of 0.1 ms (its threads wait for cores)."""
    return np.einsum("i,i...->...", weights, values)


class Model:
    """Base of clvkit's probabilistic models (see the module docstring for the contract).

    Parameters
    ----------
    penalizer : float
        L2 penalty on the (time-rescaled) parameters added to the mean negative log-likelihood,
        as lifetimes' ``penalizer_coef``; 0 fits by maximum likelihood.
    ci_level : float
        Level of the intervals in :meth:`summary`.
    """

    param_names: ClassVar[tuple[str, ...]] = ()
    stat_names: ClassVar[tuple[str, ...]] = ("frequency", "recency", "T")
    scale_stat: ClassVar[str | None] = "T"
    scale_stats: ClassVar[tuple[str, ...]] = ("recency", "T")
    scale_params: ClassVar[tuple[str, ...]] = ("alpha",)
    needs_time_unit: ClassVar[bool] = True
    compress_rows: ClassVar[bool] = True
    _loglik = None

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        _REGISTRY[cls.__name__] = cls

    def __init__(self, penalizer: float = 0.0, ci_level: float = 0.95):
        self.penalizer = penalizer
        self.ci_level = ci_level

    def _validate_params(self):
        """Check the hyperparameters once, in ``fit`` (as scikit-learn's ``_validate_params``).

        Raises
        ------
        ConfigError
            (a ``ValueError``) naming the argument, the value and an allowed value.
        """
        name = type(self).__name__
        pen, level = self.penalizer, self.ci_level
        if not _is_real(pen) or not (math.isfinite(pen) and pen >= 0):
            raise ConfigError(f"{name}: penalizer={pen!r} must be a finite number >= 0",
                              key="penalizer", fix="use 0 for maximum likelihood, or a small "
                              "value such as 0.001 to keep parameters away from 0 and infinity")
        if not _is_real(level) or not 0 < level < 1:
            raise ConfigError(f"{name}: ci_level={level!r} must be strictly between 0 and 1",
                              key="ci_level", fix="e.g. ci_level=0.95 (a share, not 95)")

    # ---------------------------------------------------------------- hooks with defaults
    def _statistics(self, data):
        """Validated statistics ``(n, 3)`` of ``frequency, recency, T`` and weights."""
        x, t_x, T, _ = rfm_arrays(data)
        return np.column_stack([x, t_x, T]), self._weights_of(data, x.size)

    @staticmethod
    def _weights_of(data, n):
        if isinstance(data, pd.DataFrame) and "weights" in data.columns:
            w = data["weights"].to_numpy(dtype=float, na_value=np.nan)
            bad = ~np.isfinite(w) | (w < 0)
            if bad.any():
                raise DataError(f"{bad.sum()} weights are missing or negative", file="summary",
                                column="weights", rows=_first_ids(data.index, bad),
                                fix="weights count identical customers: use positive integers")
            return w
        return np.ones(n)

    def _check_data(self, stats, weights):
        """Raise ModelError when the data cannot identify the parameters (override to add)."""

    def _start_points(self, stats, weights):
        raise NotImplementedError

    # ---------------------------------------------------------------- fitting
    def fit(self, data: pd.DataFrame, *, time_unit: str | None = None):
        """Fit the model to per-customer statistics; return ``self``.

        Parameters
        ----------
        data : pandas.DataFrame
            One row per customer with the model's statistics (``frequency, recency, T`` for the
            purchase models) and optional ``weights`` (number of identical customers).
        time_unit : {"D", "W", "M", "Y"}, optional
            Unit of ``recency`` and ``T``; defaults to ``data.attrs["time_unit"]`` (set by
            :func:`clvkit.rfm.rfm_summary`).

        Raises
        ------
        DataError, ModelError, ConvergenceError
        """
        if not isinstance(data, pd.DataFrame):
            raise DataError(f"{type(self).__name__}.fit needs a DataFrame with columns "
                            f"{', '.join(self.stat_names)}, got {type(data).__name__}",
                            fix="build it with clvkit.rfm.rfm_summary")
        self._validate_params()
        unit = self._resolve_unit(data, time_unit)
        stats, weights = self._statistics(data)
        keep = weights > 0
        if not keep.all():
            stats, weights = stats[keep], weights[keep]
        if self.compress_rows or len(stats) <= _COMPRESS_ALWAYS:
            stats, weights, cols = compress(stats, weights, columns=True)
            self._compressed = True
        else:                     # continuous statistics: nearly every row is distinct
            cols, self._compressed = ((), ()), False
            if np.all(stats == stats[0]):
                stats, weights = stats[:1], np.array([weights.sum()])
        name = type(self).__name__
        n = float(weights.sum())
        if n == 0:
            raise ModelError(f"{name}: no customers to fit (empty input)")
        if len(stats) == 1:
            raise ModelError(f"{name}: all {n:,.0f} customers have identical statistics "
                             f"{dict(zip(self.stat_names, stats[0]))}; the "
                             f"{len(self.param_names)} parameters cannot be identified")
        if len(stats) < len(self.param_names):
            raise ModelError(f"{name}: only {len(stats)} distinct customers for "
                             f"{len(self.param_names)} parameters; collect more data")
        self._check_data(stats, weights)
        self._stats, self._weights = stats, weights
        self._training = data
        rows = Rows(stats, weights, *cols)
        scale = self._scale(stats)
        scaled = self._scaled(rows, scale)
        theta, result, edge = self._optimise(scaled)
        H = None if edge.any() else self._hessian(theta, scaled, result.jac)
        limit = None
        if self._limit_applies() and (H is None or not _positive_definite(H)
                                      or self._near_boundary(theta)):
            limit = self._boundary_limit(scaled, theta)
            if limit is None and edge.any():
                which = ", ".join(np.asarray(self.param_names)[edge])
                raise ModelError(f"{name}: parameter(s) {which} ran off to 0 or infinity; "
                                 "the data cannot identify the model (too few repeat buyers, "
                                 "or a model that does not fit); try a small penalizer")
            if limit is not None:
                theta, H, note = limit
                warnings.warn(f"{name}: {note}", StatisticalWarning, stacklevel=2)
        self.boundary_ = None if limit is None else note
        log_params = theta + np.log(scale) * self._param_scale_mask()
        self.time_unit_ = unit
        self._data_fingerprint = None
        self.params_ = pd.Series(np.exp(log_params), index=list(self.param_names), dtype=float)
        jac = self._log_jacobian(stats, weights, float(np.log(scale)))
        if jac is None:                   # no known Jacobian: one pass over the original rows
            with np.errstate(all="ignore"):
                self.log_likelihood_ = float(self._total(self.params_.to_numpy(), rows))
        else:
            self.log_likelihood_ = self._scaled_loglik(theta, scaled) + jac
        self.converged_ = True
        self.n_customers_ = int(round(n))
        self.n_unique_ = len(stats)
        self.optimizer_result_ = result
        if limit is None:
            self._set_cov(H)
        else:
            self._set_cov(H, warn=False)          # the limit's own warning says it
        self._check_estimate()
        return self

    def _scaled_loglik(self, theta, scaled: Rows) -> float:
        """The total log-likelihood at ``theta`` on the rescaled rows (the Newton cache holds
        it when the fit took Newton steps)."""
        params = np.exp(theta)
        with np.errstate(all="ignore"):
            if self._total_hess() is not None and np.all(np.isfinite(params)):
                f = self._newton_parts(np.asarray(theta, dtype=float), scaled)[0]
                n = scaled.weights.sum()
                return float(-(f - self.penalizer * np.sum(params ** 2)) * n)
            return float(self._total(params, scaled))

    def _log_jacobian(self, stats, weights, log_scale: float) -> float | None:
        """Hook: log-likelihood of the data in their own units minus that of the rescaled data,
        or ``None`` (the default) to evaluate the likelihood on the original rows instead.

        For a likelihood that is the full density of the x repeat purchase times (BG/NBD,
        MBG/NBD, Pareto/NBD) dividing durations by ``scale`` gives -log(scale) sum w x; a model
        declares its own (tested against a direct evaluation for every model).
        """
        if not self.scale_stats or log_scale == 0.0:
            return 0.0
        return None

    def _log_bounds(self) -> list[tuple[float, float]]:
        """Hook: the optimiser's box in log-parameters (default |log theta| <= 30; a model whose
        likelihood gets costly towards an edge declares a tighter one and its limit there)."""
        return [(-_LOG_BOUND, _LOG_BOUND)] * len(self.param_names)

    def _limit_applies(self) -> bool:
        """Hook: True when :meth:`_boundary_limit` knows this model's edge (default False)."""
        return False

    def _boundary_limit(self, rows: Rows, theta):
        """Hook for a model that reduces to a simpler one on the edge of its parameter space.

        Called when the estimate has a parameter at the bound or a singular Hessian. Return
        ``None`` (the default: no limit, the base reports the problem), or ``(theta, H, note)``:
        the log-parameters of the limit (``inf`` allowed), the Hessian in log-parameters with
        NaN rows for the parameters that the limit leaves unidentified, and a sentence saying
        what the limit means (issued as a StatisticalWarning and kept in ``boundary_``).
        """
        return None

    def _near_boundary(self, theta) -> bool:
        """Hook: True when the estimate (log-parameters, scaled) may sit on a boundary limit
        even though its Hessian is regular (then :meth:`_boundary_limit` is consulted)."""
        return False

    def _check_estimate(self):
        """Hook: raise ModelError when the fitted parameters cannot give finite predictions."""

    def _resolve_unit(self, data, time_unit):
        attr_unit = frame_time_unit(data)
        if time_unit is not None and attr_unit is not None and time_unit != attr_unit:
            raise DataError(f"time_unit={time_unit!r} but the summary says {attr_unit!r}",
                            file="summary", fix="drop the time_unit argument (no silent rescale)")
        unit = time_unit if time_unit is not None else attr_unit
        if unit is None:
            if self.needs_time_unit:
                raise DataError(f"{type(self).__name__}.fit: unknown time unit of recency and T",
                                file="summary", fix="pass time_unit='W' (or 'D', 'M', 'Y'), or "
                                "use a frame from clvkit.rfm.rfm_summary")
            return None
        try:
            return check_unit(unit)
        except ValueError as exc:
            raise DataError(str(exc), file="summary", fix="use D, W, M or Y") from None

    def _scale(self, stats) -> float:
        if self.scale_stat is None:
            return 1.0
        s = float(stats[:, self.stat_names.index(self.scale_stat)].max())
        return s if s > 0 else 1.0

    def _scaled(self, rows: Rows, scale) -> Rows:
        return rows.scaled({self.stat_names.index(name): scale for name in self.scale_stats})

    def _param_scale_mask(self):
        return np.array([p in self.scale_params for p in self.param_names], dtype=float)

    def _total(self, params, rows: Rows, grad=False):
        """Weighted total log-likelihood (and its gradient in log-parameters) over ``rows``.

        Uses the model's ``_loglik_total(params, rows, grad=...)`` when the class that defines
        ``_loglik`` also defines it (a subclass with another likelihood never inherits a
        mismatched total), else sums ``_loglik`` per row with the weights.
        """
        for klass in type(self).__mro__:
            if "_loglik" in vars(klass):
                if "_loglik_total" in vars(klass):
                    return getattr(klass, "_loglik_total")(params, rows, grad=grad)
                if "_loglik_total_hess" in vars(klass):
                    ll, g, _ = getattr(klass, "_loglik_total_hess")(params, rows)
                    return (ll, g) if grad else ll
                break
        out = self._loglik(params, *rows.stats.T, grad=grad)
        if grad:
            return _wsum(rows.weights, out[0]), _wsum(rows.weights, out[1])
        return _wsum(rows.weights, out)

    def _total_hess(self):
        """The model's ``_loglik_total_hess(params, rows) -> (ll, grad, hess)`` (weighted total
        and its derivatives in log-parameters), from the class that declares ``_loglik``, or
        ``None``; with it the fit takes Newton (trust-region) steps."""
        for klass in type(self).__mro__:
            if "_loglik" in vars(klass):
                return getattr(klass, "_loglik_total_hess", None) \
                    if "_loglik_total_hess" in vars(klass) else None
        return None

    def _newton_parts(self, theta, rows: Rows):
        """(f, grad, hess) of the mean penalised objective at ``theta``, cached for the last
        ``theta`` (trust-exact asks for the Hessian right after the value and gradient)."""
        key = theta.tobytes()
        cache = rows.memo("newton_cache", dict)
        if cache.get("key") != key:
            params = np.exp(theta)
            n = rows.memo("n", rows.weights.sum)
            with np.errstate(all="ignore"):
                ll, g, H = self._total_hess()(params, rows)
                f = -ll / n + self.penalizer * np.sum(params ** 2)
                grad = -g / n + 2 * self.penalizer * params ** 2
                hess = -H / n + np.diag(4 * self.penalizer * params ** 2)
            if not (np.isfinite(f) and np.all(np.isfinite(grad)) and np.all(np.isfinite(hess))):
                f = np.inf
            cache.update(key=key, value=(f, grad, hess))
        return cache["value"]

    def _objective(self, theta, rows: Rows):
        params = np.exp(theta)
        n = rows.memo("n", rows.weights.sum)
        with np.errstate(all="ignore"):
            ll, g = self._total(params, rows, grad=True)
            f = -ll / n + self.penalizer * np.sum(params ** 2)
            grad = -g / n + 2 * self.penalizer * params ** 2
        if not (np.isfinite(f) and np.all(np.isfinite(grad))):
            return 1e10, np.zeros_like(theta)
        return f, grad

    def _optimise(self, rows: Rows):
        name, last = type(self).__name__, None
        bounds = self._log_bounds()
        if self._total_hess() is not None:
            newton = self._optimise_newton(rows)
            if newton is not None:
                return newton
        for start in self._start_points(rows.stats, rows.weights):
            res = optimize.minimize(self._objective, np.log(start), args=(rows,),
                                    jac=True, method="L-BFGS-B", bounds=bounds,
                                    options={"maxiter": 2000, "ftol": 1e-15, "gtol": 1e-9})
            last = res
            ok = np.all(np.isfinite(res.x)) and res.fun < 1e10 and (
                res.success or np.max(np.abs(res.jac)) < 1e-5)
            if ok:
                edge = np.array([not lo + 1e-3 < v < hi - 1e-3 for v, (lo, hi) in zip(res.x, bounds)])
                if edge.any() and not self._limit_applies():
                    which = ", ".join(np.asarray(self.param_names)[edge])
                    raise ModelError(f"{name}: parameter(s) {which} ran off to 0 or infinity; "
                                     "the data cannot identify the model (too few repeat buyers, "
                                     "or a model that does not fit); try a small penalizer")
                return res.x, res, edge
        raise ConvergenceError(f"{name}: L-BFGS-B did not converge from any start point "
                               f"({last.message if last is not None else 'no start'})", last)

    def _optimise_newton(self, rows: Rows):
        """Newton steps with the analytic Hessian: trust-region (scipy's ``trust-exact``) from
        the declared start points in order, on a deterministic subsample of large data, then
        :meth:`_newton_polish` on all rows. ``None`` when nothing converges (the caller falls
        back to L-BFGS-B)."""
        fit_rows = rows.every(len(rows) // (_WARM_START_ROWS // 4)) \
            if len(rows) > _WARM_START_ROWS else rows

        def fun(theta):
            f, g, _ = self._newton_parts(theta, fit_rows)
            return f, g

        def hess(theta):
            return self._newton_parts(theta, fit_rows)[2]

        for start in self._start_points(rows.stats, rows.weights):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                res = optimize.minimize(fun, np.log(start), jac=True, hess=hess,
                                        method="trust-exact",
                                        options={"gtol": 1e-8, "maxiter": 200})
            if not (np.all(np.isfinite(res.x)) and np.isfinite(res.fun)
                    and all(lo <= v <= hi for v, (lo, hi) in zip(res.x, self._log_bounds()))):
                continue
            polished = self._newton_polish(res.x, rows, res.nit)
            if polished is not None:
                return polished[0], polished[1], np.zeros(len(res.x), dtype=bool)
        return None

    def _newton_polish(self, theta, rows: Rows, nit0=0, max_iter=50):
        """Plain Newton steps with a backtracking line search on all rows, from ``theta`` close
        to the optimum, until the largest gradient entry is below 1e-9 or no step decreases
        the objective beyond its rounding (a trust region rejects such steps and stalls).
        Returns ``(theta, OptimizeResult)``, or ``None`` if the Hessian is not positive
        definite or the gradient stays above 1e-7."""
        f, g, H = self._newton_parts(theta, rows)
        it = 0
        for it in range(1, max_iter + 1):
            if not np.isfinite(f) or np.max(np.abs(g)) < 1e-9:
                break
            try:
                step = -np.linalg.solve(np.linalg.cholesky(H).T,
                                        np.linalg.solve(np.linalg.cholesky(H), g))
            except np.linalg.LinAlgError:
                return None
            t, moved = 1.0, False
            while t > 1e-6:
                f2, g2, H2 = self._newton_parts(theta + t * step, rows)
                if np.isfinite(f2) and f2 <= f + 1e-4 * t * (g @ step) + 1e-14 * abs(f):
                    theta, f, g, H, moved = theta + t * step, f2, g2, H2, True
                    break
                t /= 2
            if not moved:
                break
        if not (np.isfinite(f) and np.max(np.abs(g)) < 1e-7):
            return None
        return theta, optimize.OptimizeResult(x=theta, fun=f, jac=g, success=True,
                                              nit=nit0 + it, message="Newton steps converged")

    def _hessian(self, theta, rows: Rows, g0):
        """Hessian of the total objective in log-parameters: analytic when the model declares
        ``_loglik_total_hess``, else forward differences (step 1e-6) of the analytic gradient
        from ``g0``, the optimiser's gradient at ``theta``; symmetrised."""
        if self._total_hess() is not None:
            H = self._newton_parts(np.asarray(theta, dtype=float), rows)[2] * rows.weights.sum()
            return (H + H.T) / 2
        n, h = rows.weights.sum(), 1e-6
        k = len(theta)
        g0 = np.asarray(g0, dtype=float)
        H = np.empty((k, k))
        for j in range(k):
            e = np.zeros(k)
            e[j] = h
            H[:, j] = (self._objective(theta + e, rows)[1] - g0) * n / h
        return (H + H.T) / 2

    def _set_cov(self, H, warn=True):
        """Covariance from the Hessian ``H`` in log-parameters; parameters whose diagonal entry
        is NaN (unidentified at a boundary limit) get NaN rows and columns."""
        names = list(self.param_names)
        cov_log = np.full(H.shape, np.nan)
        free = np.isfinite(np.diag(H))
        block = H[np.ix_(free, free)]
        if _positive_definite(block):
            inv = np.linalg.inv(block)
            cov_log[np.ix_(free, free)] = (inv + inv.T) / 2
        if warn and np.isnan(cov_log).any():
            warnings.warn(f"{type(self).__name__}: the Hessian is singular or not positive "
                          "definite at the estimate; standard errors are NaN (the parameters are "
                          "poorly identified: try a penalizer or more data)",
                          StatisticalWarning, stacklevel=3)
        p = self.params_.to_numpy()
        self._cov_log = cov_log
        with np.errstate(invalid="ignore"):
            self.cov_ = pd.DataFrame(cov_log * np.outer(p, p), index=names, columns=names)
        self.se_ = pd.Series(np.sqrt(np.diag(self.cov_.to_numpy())), index=names)

    # ---------------------------------------------------------------- results
    def _check_fitted(self):
        if not hasattr(self, "params_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet: call "
                                 f".fit(summary) first, or {type(self).__name__}.load(path)")

    def _params(self) -> np.ndarray:
        self._check_fitted()
        return self.params_.to_numpy()

    def summary(self) -> pd.DataFrame:
        """Estimates with standard errors and intervals at ``ci_level``.

        The interval is normal on the log scale (exp(log theta -/+ z se/theta)), so it stays
        positive like the parameters.
        """
        self._check_fitted()
        z = sstats.norm.ppf(0.5 + self.ci_level / 2)
        est, se = self.params_, self.se_
        half = z * se / est
        out = pd.DataFrame({"estimate": est, "se": se, "lower": est * np.exp(-half),
                            "upper": est * np.exp(half)})
        coef = ~est.index.isin(list(self.param_names))    # covariate coefficients: normal
        out.loc[coef, "lower"] = (est - z * se)[coef]
        out.loc[coef, "upper"] = (est + z * se)[coef]
        return out

    def __repr__(self):
        name = type(self).__name__
        if not hasattr(self, "params_"):
            return f"<{name} (not fitted) penalizer={self.penalizer}>"
        ps = " ".join(f"{k}={v:.3f}" for k, v in self.params_.items())
        return f"<{name} fitted on {self.n_customers_:,} customers: {ps}>"

    def _repr_html_(self):
        if not hasattr(self, "params_"):
            return f"<p>{type(self).__name__} (not fitted)</p>"
        unit = UNIT_NAMES.get(self.time_unit_, "no time unit")
        head = (f"<p><b>{type(self).__name__}</b> fitted on {self.n_customers_:,} customers "
                f"({self.n_unique_:,} distinct rows), time unit: {unit}, "
                f"log-likelihood {self.log_likelihood_:.2f}</p>")
        return head + self.summary().to_html(float_format=lambda v: f"{v:.4g}")

    # ---------------------------------------------------------------- persistence
    def _fingerprint(self) -> str:
        """SHA-256 of the distinct rows and their weights (independent of row order)."""
        stats, weights = self._stats, self._weights
        if not getattr(self, "_compressed", True):
            stats, weights = compress(stats, weights)
        h = hashlib.sha256(np.ascontiguousarray(stats, dtype=float).tobytes())
        h.update(np.ascontiguousarray(weights, dtype=float).tobytes())
        return h.hexdigest()[:16]

    @property
    def time_unit(self) -> str | None:
        """Deprecated read-only alias of ``time_unit_`` (fitted attributes end in ``_``)."""
        warnings.warn(f"{type(self).__name__}.time_unit is deprecated: use time_unit_",
                      DeprecationWarning, stacklevel=2)
        return self.time_unit_

    @property
    def data_fingerprint_(self) -> str:
        """Fingerprint of the fitted data (computed on first use; read from the file when
        loaded), so that models fitted on the same customers can be recognised."""
        self._check_fitted()
        if getattr(self, "_data_fingerprint", None) is None:
            self._data_fingerprint = self._fingerprint()
        return self._data_fingerprint

    def save(self, path) -> Path:
        """Write parameters, covariance, time unit and fit metadata as JSON; return the path."""
        from clvkit import __version__
        self._check_fitted()
        doc = {"model": type(self).__name__, "clvkit_version": __version__,
               "params": self.params_.to_dict(),
               "cov": [[None if math.isnan(v) else v for v in row]
                       for row in self.cov_.to_numpy().tolist()],
               "time_unit": self.time_unit_, "penalizer": self.penalizer,
               "ci_level": self.ci_level,
               "fit": {"n_customers": self.n_customers_, "n_unique": self.n_unique_,
                       "log_likelihood": self.log_likelihood_, "converged": self.converged_,
                       "data_fingerprint": self.data_fingerprint_,
                       "boundary": getattr(self, "boundary_", None), **self._extra_meta()}}
        path = Path(path)
        path.write_text(json.dumps(doc, indent=2))
        return path

    def _extra_meta(self) -> dict:
        return {}

    @classmethod
    def load(cls, path):
        """Read a model written by :meth:`save`; the file must hold this class of model."""
        try:
            doc = json.loads(Path(path).read_text())
            kind = doc["model"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"{path}: not a clvkit model file ({exc})") from None
        target = _REGISTRY.get(kind) if cls is Model else cls
        if target is None or kind != target.__name__:
            raise ModelError(f"{path} holds a {kind} model, not a {cls.__name__}; load it with "
                             f"{kind}.load(path)")
        model = target(penalizer=doc.get("penalizer", 0.0), ci_level=doc.get("ci_level", 0.95))
        names = list(target.param_names)
        names += [k for k in doc["params"] if k not in names]     # covariate coefficients
        model.params_ = pd.Series([doc["params"][k] for k in names], index=names, dtype=float)
        cov = np.array([[np.nan if v is None else v for v in row] for row in doc["cov"]], float)
        model.cov_ = pd.DataFrame(cov, index=names, columns=names)
        model.se_ = pd.Series(np.sqrt(np.diag(cov)), index=names)
        p = model.params_.to_numpy().copy()
        p[len(target.param_names):] = 1.0               # coefficients are not log-transformed
        with np.errstate(invalid="ignore"):
            model._cov_log = cov / np.outer(p, p)
        model.time_unit_ = doc["time_unit"]
        fit = doc["fit"]
        model.n_customers_, model.n_unique_ = fit["n_customers"], fit["n_unique"]
        model.log_likelihood_, model.converged_ = fit["log_likelihood"], fit["converged"]
        model._data_fingerprint = fit["data_fingerprint"]
        model.boundary_ = fit.get("boundary")
        model._load_extra_meta(fit)
        return model

    def _load_extra_meta(self, fit: dict):
        pass

    # ---------------------------------------------------------------- uncertainty
    def sample_params(self, n_draws: int = 200, seed: int = 0) -> pd.DataFrame:
        """Draws of the parameters from their estimated sampling distribution.

        Multivariate normal on the log-parameters (mean the estimate, covariance the inverse
        Hessian), exponentiated: one row per draw, one column per parameter.
        """
        self._check_fitted()
        if getattr(self, "covariates_", None) is not None:
            raise ModelError(f"{type(self).__name__} with covariates: parameter draws and "
                             "per-customer intervals are not available yet; use the point "
                             "predictions and effects() for the coefficients' intervals")
        if np.isnan(self._cov_log).any():
            raise ModelError(f"{type(self).__name__}: the covariance is NaN (singular Hessian), "
                             "so parameters cannot be drawn; refit with a small penalizer")
        rng = np.random.default_rng(seed)
        draws = rng.multivariate_normal(np.log(self._params()), self._cov_log, size=n_draws,
                                        method="cholesky")
        return pd.DataFrame(np.exp(draws), columns=list(self.param_names))

    def with_params(self, params):
        """A copy of this fitted model with other parameter values (used for draws)."""
        self._check_fitted()
        other = copy.copy(self)
        other.params_ = pd.Series(np.asarray(params, dtype=float), index=list(self.params_.index))
        return other

    def _interval(self, predict, cols, index, *, level, n_draws, seed, name):
        """Point estimate and quantile interval of ``predict(model, *cols)`` over parameter draws.

        Customers are compressed to distinct rows first, then each draw predicts all rows at once.
        """
        if not 0 < level < 1:
            raise DataError(f"level={level} must be in (0, 1)", fix="e.g. level=0.9")
        stacked = np.column_stack([np.ravel(c) for c in cols])
        uniq, inverse = unique_rows(stacked)
        ucols = list(uniq.T)
        est = np.asarray(predict(self, *ucols), dtype=float)
        sims = np.empty((n_draws, len(uniq)))
        for i, draw in enumerate(self.sample_params(n_draws, seed).to_numpy()):
            sims[i] = predict(self.with_params(draw), *ucols)
        lo, hi = column_quantiles(sims, [(1 - level) / 2, (1 + level) / 2])
        out = pd.DataFrame({"estimate": est[inverse], "lower": lo[inverse], "upper": hi[inverse]},
                           index=index)
        out.attrs["quantity"] = name
        return out

    # ---------------------------------------------------------------- prediction helpers
    def _customers(self, summary, *others):
        """``summary``, or the training customers when it is ``None`` and no arrays follow.

        A model fitted in this session keeps (a reference to) its training frame, so
        predictions default to the training customers; a model read by :meth:`load` keeps only
        parameters, and then the customers must be passed.
        """
        self._check_fitted()
        if summary is not None or any(o is not None for o in others):
            return summary
        training = getattr(self, "_training", None)
        if training is None:
            name = type(self).__name__
            raise DataError(f"no customers given, and this {name} was loaded from a file, which "
                            "keeps parameters, not the training customers", file="summary",
                            fix=f"pass the summary frame, e.g. model.expected_purchases(summary, "
                            "horizon=52)")
        return training

    def _rfm_inputs(self, frequency, recency=None, T=None):
        """Validated ``(x, t_x, T, index)`` for a prediction, checking the frame's time unit;
        the training customers when nothing is given."""
        frequency = self._customers(frequency, recency, T)
        unit = frame_time_unit(frequency)
        if unit is not None and self.time_unit_ is not None and unit != self.time_unit_:
            raise DataError(f"the summary is in {unit!r} but {type(self).__name__} was fitted in "
                            f"{self.time_unit_!r}", file="summary",
                            fix=f"rebuild the summary with time_unit={self.time_unit_!r}")
        return rfm_arrays(frequency, recency, T)

    @staticmethod
    def _wrap(values, index, name):
        """A Series indexed like the input frame, or an ndarray (a float for scalar input)."""
        values = np.asarray(values, dtype=float)
        if index is not None:
            return pd.Series(values.ravel(), index=index, name=name)
        return float(values) if values.ndim == 0 else values

    def discounted_purchases(self, ts, discount, frequency=None, recency=None, T=None
                             ) -> np.ndarray:
        """sum_i discount[i] * (E[purchases by ts[i]] - E[purchases by ts[i-1]]), per customer.

        The purchase part of discounted CLV (:mod:`clvkit.value`); ``ts`` increasing, ts[-1] = 0
        implied. Models may override it with a faster form.
        """
        path = self.expected_purchases_path(ts, frequency, recency, T)
        return np.asarray(discount, dtype=float) @ np.diff(path, axis=0, prepend=0.0)

    def expected_purchases_path(self, ts, frequency=None, recency=None, T=None) -> np.ndarray:
        """Conditional expected purchases at each horizon in ``ts``: array ``(len(ts), n)``."""
        x, t_x, T_, _ = self._rfm_inputs(frequency, recency, T)
        return np.stack([np.ravel(self.expected_purchases(x, t_x, T_, horizon=t))
                         for t in np.ravel(ts)])
