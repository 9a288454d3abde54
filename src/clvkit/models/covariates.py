"""Static (time-invariant) covariates for the purchase and the dropout process.

CLVTools' parameterisation (Bachmann, Meierer and Naef, the ``pnbd``/``bgnbd`` static-covariate
models), so estimates compare with its tables: with customer covariates x_i,

* Pareto/NBD: alpha_i = alpha exp(-gamma_p' x_i) and beta_i = beta exp(-gamma_d' x_i);
* BG/NBD (and MBG/NBD): alpha_i = alpha exp(-gamma_p' x_i), a_i = a exp(gamma_d' x_i) and
  b_i = b exp(gamma_d' x_i).

A positive purchase coefficient raises the purchase rate (the mean rate is r / alpha_i); a
positive dropout coefficient raises the dropout rate (Pareto/NBD: s / beta_i) or scales the
beta distribution of the dropout probability (BG/NBD).

Columns are standardised while fitting (the optimiser sees coefficients of similar size) and
the estimates are reported on the original scale, with the delta-method covariance of the
linear back-transform. A categorical column (text, category or boolean) becomes one dummy per
level except its reference level, the first in sorted order (``False`` for booleans), named
``<column>[<level>]``. Customers are grouped by their distinct covariate values and each group
is evaluated with the model's own likelihood and predictions at its parameters, so a few
categorical covariates cost a few model evaluations; a column with thousands of distinct
values (bin it) is refused.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize, stats as sstats

from clvkit.errors import DataError, ModelError, StatisticalWarning
from clvkit.models._arrays import _first_ids, compress, rfm_arrays, unique_rows

#: distinct covariate patterns above which a fit is refused (each is one model evaluation)
MAX_PATTERNS = 500


@dataclass
class CovariateSpec:
    """What a fitted covariate model needs to rebuild its design from a new frame."""

    purchase: list[str]
    dropout: list[str]
    levels: dict[str, list] = field(default_factory=dict)   # categorical column -> levels
    names_p: list[str] = field(default_factory=list)         # coefficient names (no prefix)
    names_d: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"purchase": self.purchase, "dropout": self.dropout,
                "levels": {k: [_plain(v) for v in vs] for k, vs in self.levels.items()},
                "names_p": self.names_p, "names_d": self.names_d}

    @classmethod
    def from_dict(cls, doc: dict) -> CovariateSpec:
        return cls(list(doc["purchase"]), list(doc["dropout"]), dict(doc["levels"]),
                   list(doc["names_p"]), list(doc["names_d"]))


def _plain(v):
    return v.item() if isinstance(v, np.generic) else v


def _is_categorical(s: pd.Series) -> bool:
    return not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)


def _levels(frame: pd.DataFrame, columns) -> dict[str, list]:
    out = {}
    for col in columns:
        if col not in frame.columns:
            continue                        # design() names the missing column
        s = frame[col]
        if _is_categorical(s):
            out[col] = sorted(pd.unique(s.dropna()).tolist(), key=lambda v: (str(type(v)), v))
    return out


def design(frame: pd.DataFrame, columns, levels: dict, *, where="summary"):
    """The covariate matrix ``(n, k)`` of ``columns`` and its column names.

    Numeric columns enter as they are; a categorical column as dummies of its levels after the
    first (the reference). Missing values, unknown levels and non-finite numbers are a
    DataError naming the column, rows and fix.
    """
    cols, names = [], []
    for col in columns:
        if col not in frame.columns:
            raise DataError(f"covariate column {col!r} is missing", file=where, column=col,
                            fix="add it to the summary (one value per customer) or drop it "
                            "from model.covariates")
        s = frame[col]
        bad = s.isna().to_numpy()
        if bad.any():
            raise DataError(f"{bad.sum()} customers without a value", file=where, column=col,
                            rows=_first_ids(frame.index, bad),
                            fix="fill the covariate (e.g. an 'unknown' level) or drop them")
        if col in levels:
            known = levels[col]
            unknown = ~s.isin(known).to_numpy()
            if unknown.any():
                raise DataError(f"{unknown.sum()} customers with a level the model was not "
                                f"fitted on (levels: {', '.join(map(str, known))})", file=where,
                                column=col, rows=_first_ids(frame.index, unknown),
                                fix="refit on data with these levels")
            for level in known[1:]:
                cols.append((s == level).to_numpy(dtype=float))
                names.append(f"{col}[{level}]")
        else:
            v = s.to_numpy(dtype=float)
            bad = ~np.isfinite(v)
            if bad.any():
                raise DataError(f"{bad.sum()} infinite values", file=where, column=col,
                                rows=_first_ids(frame.index, bad), fix="clean the covariate")
            cols.append(v)
            names.append(col)
    X = np.column_stack(cols) if cols else np.zeros((len(frame), 0))
    return X, names


class CovariateMixin:
    """Static covariates for a purchase model with parameters ``(r, alpha, ., .)``.

    The class declares ``_dropout_index`` (positions of the dropout parameters that the dropout
    covariates scale) and ``_dropout_sign`` (-1: theta_i = theta exp(-gamma' x), Pareto/NBD's
    beta; +1: theta_i = theta exp(gamma' x), BG/NBD's a and b).
    """

    _dropout_index: tuple[int, ...] = ()
    _dropout_sign: float = -1.0

    # ---------------------------------------------------------------- per-customer parameters
    def _params(self):
        """The natural parameters for array predictions: refused with covariates, where each
        customer has their own (pass a summary frame holding the covariate columns)."""
        if getattr(self, "covariates_", None) is not None:
            raise ModelError(f"{type(self).__name__} with covariates predicts from a summary frame "
                             "that holds the covariate columns "
                             f"({', '.join(covariate_columns(self))}), not from arrays; pass "
                             "the frame")
        return super()._params()

    def sample_params(self, n_draws: int = 200, seed: int = 0) -> pd.DataFrame:
        """Draws of every parameter, coefficients included, from their sampling distribution:
        multivariate normal on (log base parameters, coefficients), the base parameters
        exponentiated (as :meth:`Model.sample_params` without covariates)."""
        if getattr(self, "covariates_", None) is None:
            return super().sample_params(n_draws, seed)
        if np.isnan(self._cov_log).any():
            raise ModelError(f"{type(self).__name__}: the covariance is NaN (singular Hessian), "
                             "so parameters cannot be drawn; refit with a small penalizer")
        k = len(self.param_names)
        mean = np.r_[np.log(self._base_params()), self.params_.to_numpy(dtype=float)[k:]]
        draws = np.random.default_rng(seed).multivariate_normal(mean, self._cov_log,
                                                                size=n_draws, method="cholesky")
        draws[:, :k] = np.exp(draws[:, :k])
        return pd.DataFrame(draws, columns=list(self.params_.index))

    def pattern_models(self, frame: pd.DataFrame):
        """Each distinct covariate pattern of ``frame`` as a model without covariates.

        Returns ``(models, inverse)``: ``models[g]`` predicts for the customers of pattern
        ``g`` (``inverse[i]`` is row ``i``'s pattern), e.g. for the new-customer curve of a
        base whose customers differ in their covariates (``diagnostics.tracking``).
        """
        P, D, inverse = self._patterns(frame)
        return [self._plain_model(p) for p in self._cov_params(P, D)], inverse

    def _cov_params(self, P, D, base=None, gp=None, gd=None):
        """Per-row natural parameters ``(n, 4)`` from covariate rows ``P``, ``D``."""
        base = self._base_params() if base is None else base
        gp = self._gamma("purchase_") if gp is None else gp
        gd = self._gamma("dropout_") if gd is None else gd
        out = np.tile(base, (len(P), 1))
        out[:, 1] = base[1] * np.exp(-(P @ gp))
        for j in self._dropout_index:
            out[:, j] = base[j] * np.exp(self._dropout_sign * (D @ gd))
        return out

    def _base_params(self):
        return self.params_[list(self.param_names)].to_numpy(dtype=float)

    def _gamma(self, prefix):
        spec = self.covariates_
        names = spec.names_p if prefix == "purchase_" else spec.names_d
        return self.params_[[prefix + n for n in names]].to_numpy(dtype=float)

    def _patterns(self, frame):
        """Covariate rows of ``frame``: distinct patterns ``(P, D)`` and each row's pattern."""
        spec = self.covariates_
        P, _ = design(frame, spec.purchase, spec.levels)
        D, _ = design(frame, spec.dropout, spec.levels)
        Z = np.column_stack([P, D, np.zeros(len(frame))])
        uniq, inverse = unique_rows(Z)
        kp = P.shape[1]
        return uniq[:, :kp], uniq[:, kp:-1], inverse

    def _plain_model(self, params):
        """A model without covariates at natural ``params`` (for one covariate pattern)."""
        other = type(self)(penalizer=self.penalizer, ci_level=self.ci_level)
        other.params_ = pd.Series(params, index=list(self.param_names), dtype=float)
        other.time_unit_ = self.time_unit_
        other.covariates_ = None
        return other

    def _by_pattern(self, summary, predict, width=None):
        """``predict(model, rows)`` evaluated per covariate pattern and put back in row order."""
        frame = self._customers(summary)
        if not isinstance(frame, pd.DataFrame):
            raise DataError("a model with covariates predicts from a summary frame that holds "
                            "the covariate columns", file="summary",
                            fix="pass the summary frame, not arrays")
        P, D, inverse = self._patterns(frame)
        params = self._cov_params(P, D)
        out = None
        for g in range(len(params)):
            idx = np.flatnonzero(inverse == g)
            vals = np.asarray(predict(self._plain_model(params[g]), frame.iloc[idx]), float)
            if out is None:
                out = np.empty(vals.shape[:-1] + (len(frame),)) if vals.ndim > 1 \
                    else np.empty(len(frame))
            out[..., idx] = vals
        return frame, out

    def _check_patterns(self, P, D, x_max, T_max):
        """Refuse an estimate whose conditional expectations are not finite for some covariate
        pattern (e.g. BG/NBD's a and b running to infinity for one group)."""
        uniq, _ = unique_rows(np.column_stack([P, D, np.zeros(len(P))]))
        kp = P.shape[1]
        params = self._cov_params(uniq[:, :kp], uniq[:, kp:-1])
        with np.errstate(all="ignore"):
            ok = all(np.all(np.isfinite(type(self)._expected_if_alive(
                p, T_max, np.array([0.0, x_max]), T_max))) for p in params)
        if not ok:
            name = type(self).__name__
            raise ModelError(f"{name} with covariates: for some covariate values the estimate "
                             "makes the expected purchases non-finite (a dropout parameter ran "
                             "off to infinity); fix: refit with a small penalizer "
                             "(model.penalizer: 0.001), fewer covariates, or ParetoNBD")

    # ---------------------------------------------------------------- fitting
    def _fit_covariates(self, data, time_unit, purchase, dropout):
        name = type(self).__name__
        if not isinstance(data, pd.DataFrame):
            raise DataError(f"{name}.fit with covariates needs a summary frame with the "
                            "covariate columns", fix="build it with clvkit.rfm.rfm_summary and "
                            "join the customer attributes")
        purchase, dropout = list(purchase or []), list(dropout or [])
        levels = _levels(data, purchase + dropout)
        P, names_p = design(data, purchase, levels)
        D, names_d = design(data, dropout, levels)
        for X, names, kind in ((P, names_p, "purchase"), (D, names_d, "dropout")):
            const = [n for n, v in zip(names, X.T) if np.ptp(v) == 0] if len(X) else []
            if const:
                raise ModelError(f"{name}: {kind} covariate {const[0]} has the same value for "
                                 "every customer, so its effect cannot be estimated; drop it")
        # the model without covariates: start point, time unit, checks and fingerprint
        from clvkit.models._base import Model
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", StatisticalWarning)
            Model.fit(self, data, time_unit=time_unit)
        base_fit = self.params_.to_numpy(dtype=float)
        x, t_x, T, _ = rfm_arrays(data)
        w = self._weights_of(data, x.size)
        mu_p, sd_p = P.mean(0), P.std(0)
        mu_d, sd_d = D.mean(0), D.std(0)
        Zp, Zd = (P - mu_p) / np.where(sd_p > 0, sd_p, 1), (D - mu_d) / np.where(sd_d > 0, sd_d, 1)
        kp, kd = Zp.shape[1], Zd.shape[1]
        pat, inverse = unique_rows(np.column_stack([Zp, Zd, np.zeros(len(x))]))
        if len(pat) > MAX_PATTERNS:
            raise ModelError(f"{name}: the covariates take {len(pat):,} distinct combinations "
                             f"(at most {MAX_PATTERNS:,}); bin numeric covariates into a few "
                             "levels")
        scale = float(T.max()) if T.max() > 0 else 1.0
        groups = []
        for g in range(len(pat)):
            keep = (inverse == g) & (w > 0)
            rows, wg = compress(np.column_stack([x[keep], t_x[keep] / scale, T[keep] / scale]),
                                w[keep])
            groups.append((pat[g, :kp], pat[g, kp:kp + kd], rows, wg))
        n = float(w.sum())
        mask = self._param_scale_mask()
        k = len(self.param_names)
        loglik = type(self)._loglik

        def objective(z):
            base = np.exp(z[:k])
            gp, gd = z[k:k + kp], z[k + kp:]
            ll, grad = 0.0, np.zeros_like(z)
            with np.errstate(all="ignore"):
                for zp, zd, rows, wg in groups:
                    params = self._cov_params(zp[None], zd[None], base, gp, gd)[0]
                    l_g, g_g = loglik(params, *rows.T, grad=True)
                    G = wg @ g_g                               # d ll / d log(param_g)
                    ll += wg @ l_g
                    grad[:k] += G
                    grad[k:k + kp] -= G[1] * zp
                    grad[k + kp:] += self._dropout_sign * G[list(self._dropout_index)].sum() * zd
                f = -ll / n + self.penalizer * np.sum(base ** 2)
                gr = -grad / n
                gr[:k] += 2 * self.penalizer * base ** 2
            if not (np.isfinite(f) and np.all(np.isfinite(gr))):
                return 1e10, np.zeros_like(z)
            return f, gr

        start = np.r_[np.log(base_fit) - np.log(scale) * mask, np.zeros(kp + kd)]
        res = optimize.minimize(objective, start, jac=True, method="L-BFGS-B",
                                options={"maxiter": 5000, "ftol": 1e-15, "gtol": 1e-9})
        if not (np.all(np.isfinite(res.x)) and res.fun < 1e10
                and (res.success or np.max(np.abs(res.jac)) < 1e-5)):
            from clvkit.errors import ConvergenceError
            raise ConvergenceError(f"{name} with covariates: L-BFGS-B did not converge "
                                   f"({res.message})", res)
        if np.any(np.abs(res.x[:k]) > 29.99):
            raise ModelError(f"{name} with covariates: a parameter ran off to 0 or infinity; "
                             "try a small penalizer or fewer covariates")
        # Hessian by forward differences of the analytic gradient (total objective)
        h, g0 = 1e-6, objective(res.x)[1]
        H = np.empty((len(res.x), len(res.x)))
        for j in range(len(res.x)):
            e = np.zeros(len(res.x))
            e[j] = h
            H[:, j] = (objective(res.x + e)[1] - g0) * n / h
        H = (H + H.T) / 2
        # back to the original scale: log theta_j += log(scale) for time params, and the
        # standardisation folded into the intercepts and slopes (a linear map J)
        sdp, sdd = np.where(sd_p > 0, sd_p, 1), np.where(sd_d > 0, sd_d, 1)
        J = np.eye(len(res.x))
        J[k:k + kp, k:k + kp] = np.diag(1 / sdp)
        J[k + kp:, k + kp:] = np.diag(1 / sdd)
        J[1, k:k + kp] = mu_p / sdp                           # log alpha += gamma_p' mu / sd
        for j in self._dropout_index:
            J[j, k + kp:] = -self._dropout_sign * mu_d / sdd
        z = J @ res.x + np.r_[np.log(scale) * mask, np.zeros(kp + kd)]
        names = (list(self.param_names) + ["purchase_" + v for v in names_p]
                 + ["dropout_" + v for v in names_d])
        try:
            cov_z = np.linalg.inv(H)
            cov_z = J @ ((cov_z + cov_z.T) / 2) @ J.T
            if np.any(np.diag(cov_z) < 0):
                raise np.linalg.LinAlgError
        except np.linalg.LinAlgError:
            warnings.warn(f"{name}: the Hessian with covariates is singular; standard errors "
                          "are NaN", StatisticalWarning, stacklevel=3)
            cov_z = np.full(H.shape, np.nan)
        self.params_ = pd.Series(np.r_[np.exp(z[:k]), z[k:]], index=names, dtype=float)
        d = np.r_[np.exp(z[:k]), np.ones(kp + kd)]          # delta method for exp(log theta)
        self._cov_log = cov_z
        self.cov_ = pd.DataFrame(cov_z * np.outer(d, d), index=names, columns=names)
        self.se_ = pd.Series(np.sqrt(np.diag(self.cov_.to_numpy())), index=names)
        self.covariates_ = CovariateSpec(purchase, dropout, levels, names_p, names_d)
        self._check_patterns(P, D, float(x.max()), float(T.max()))
        ll_scaled = -(res.fun - self.penalizer * np.sum(np.exp(res.x[:k]) ** 2)) * n
        self.log_likelihood_ = float(ll_scaled - np.log(scale) * float(w @ x))
        self.optimizer_result_ = res
        self.boundary_ = None
        return self


def covariate_columns(model) -> list[str]:
    """The customer columns a fitted model's covariates use (purchase, then dropout; each
    once); empty for a model without covariates."""
    spec = getattr(model, "covariates_", None)
    return [] if spec is None else list(dict.fromkeys([*spec.purchase, *spec.dropout]))


def supports(cls) -> bool:
    """Whether a purchase model class fits static covariates (BetaGeo, ModifiedBetaGeo and
    ParetoNBD: CLVTools' parameterisations; not the CNBD-k or Gamma-Gompertz relatives)."""
    return (isinstance(cls, type) and issubclass(cls, CovariateMixin)
            and tuple(cls.param_names) in (("r", "alpha", "a", "b"), ("r", "alpha", "s", "beta")))


def effects(model, *, level: float | None = None) -> pd.DataFrame:
    """The covariate effects of a fitted model in plain words, with intervals.

    One row per coefficient: the multiplicative change of the purchase rate (purchase
    coefficients: exp(gamma) on the mean rate r/alpha_i) or of the dropout rate (Pareto/NBD:
    s/beta_i), with its interval exp(gamma -/+ z se) at ``level`` (default the model's
    ``ci_level``), and a sentence such as "customers with Channel = 1 buy 87 % more often".

    Raises
    ------
    ModelError
        The model has no covariates.
    """
    spec = getattr(model, "covariates_", None)
    if spec is None:
        raise ModelError(f"{type(model).__name__} was fitted without covariates; fit it with "
                         "purchase_covariates=[...] or dropout_covariates=[...]")
    level = model.ci_level if level is None else level
    z = sstats.norm.ppf(0.5 + level / 2)
    rows = []
    bg = getattr(model, "_dropout_sign", -1.0) > 0
    for prefix, names in (("purchase_", spec.names_p), ("dropout_", spec.names_d)):
        for n in names:
            est, se = model.params_[prefix + n], model.se_[prefix + n]
            factor = float(np.exp(est))
            lo, hi = float(np.exp(est - z * se)), float(np.exp(est + z * se))
            who = _who(n)
            if prefix == "purchase_":
                what, verb = "purchase rate", _change(factor, "buy", "often")
            elif bg:
                what = "dropout probability concentration (a and b)"
                verb = (f"have a dropout probability {factor:.2f} x as concentrated around "
                        f"the same mean ({'less' if factor > 1 else 'more'} spread between "
                        "customers)")
            else:
                what, verb = "dropout rate", _change(factor, "drop out", "fast")
            column, lvl = _split(n)
            rows.append({"coefficient": prefix + n, "column": column, "level": lvl,
                         "reference": (None if lvl is None else _plain(spec.levels[column][0])),
                         "kind": ("purchase" if prefix == "purchase_" else
                                  "dropout_spread" if bg else "dropout_rate"),
                         "process": what, "estimate": float(est),
                         "se": float(se), "factor": factor, "lower": lo, "upper": hi,
                         "wording": f"{who} {verb} ({level:.0%} interval "
                                    f"{_pct(lo)} to {_pct(hi)})"})
    return pd.DataFrame(rows).set_index("coefficient")


def _split(name: str):
    """``(column, level)`` of a coefficient name; level None for a numeric column."""
    if name.endswith("]") and "[" in name:
        col, level = name[:-1].split("[", 1)
        return col, level
    return name, None


def _who(name: str) -> str:
    if name.endswith("]") and "[" in name:
        col, level = name[:-1].split("[", 1)
        return f"customers with {col} = {level}"
    return f"per unit of {name}, customers"


def _pct(f: float) -> str:
    return f"{(f - 1) * 100:+.0f} %"


def _change(factor: float, verb: str, adverb: str) -> str:
    pct = (factor - 1) * 100
    if abs(pct) < 0.5:
        return f"{verb} about as {adverb}"
    more = "more" if pct > 0 else "less"
    return f"{verb} {abs(pct):.0f} % {more} {adverb}" if adverb == "often" else \
        f"{verb} {abs(pct):.0f} % {'faster' if pct > 0 else 'slower'}"
