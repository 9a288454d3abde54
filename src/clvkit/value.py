"""Customer lifetime value from a fitted purchase model and a fitted spend model.

CLV over a horizon of ``n`` discount periods (each of length one ``discount_unit``) is

    CLV = sum_{i=1..n} (E[X(t_i)] - E[X(t_{i-1})]) * E[spend] / (1 + d)^i,

with E[X(t)] the conditional expected purchases of the customer in (T, T+t] and t_i = i periods
converted to the model's time unit by :mod:`clvkit.units` (12 months = 52.18 weeks). Units are
explicit: a horizon that is not a whole number of discount periods, or models fitted in
different time units, is an error rather than a silent rescale.

CLV is discounted *revenue* over the horizon; with ``margin`` (a share, e.g. 0.3) it is
discounted gross margin, ``margin × revenue``.

**Value at risk.** Every purchase model is a mixture "alive or not": E[X(t) | data] =
P(alive) · E[X(t) | alive, data], so CLV already counts P(alive) once. The value at stake if the
customer has in fact left is the value they would bring *if alive*,

    clv_if_alive = CLV / P(alive),   clv_at_risk = clv_if_alive × (1 − P(alive)),

not CLV × (1 − P(alive)) (which counts P(alive) twice and favours the customers already likely
alive).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from clvkit.errors import ConfigError, DataError, ModelError
from clvkit.models._base import column_quantiles, rfm_arrays, unique_rows
from clvkit.units import check_unit, convert

SCORE_COLUMNS = ["p_alive", "expected_purchases", "expected_spend", "clv", "clv_if_alive",
                 "clv_at_risk"]
#: Read beside the scores (docs/DATA.md, reports).
VALUE_AT_RISK_DEFINITION = ("CLV at risk = CLV if alive × (1 − P(alive)), CLV if alive = CLV / "
                            "P(alive): the value forgone if the customer has in fact left")
CLV_INTERVAL_LABEL = ("interval for the expected CLV (parameter uncertainty only): it is not a "
                      "range for what one customer will actually spend")


def _check_margin(margin):
    if margin is None:
        return 1.0
    if isinstance(margin, bool) or not (np.isfinite(margin) and 0 < margin <= 1):
        raise ConfigError(f"margin={margin!r} must be a share in (0, 1] (0.3 = 30 % gross "
                          "margin)", key="value.margin", fix="give the gross margin as a share, "
                          "or leave it out to report revenue")
    return float(margin)


def value_at_risk(clv, p_alive):
    """``(clv_if_alive, clv_at_risk)`` from CLV and P(alive) (module doc for the definition).

    A customer with P(alive) = 0 has CLV 0 and no value at stake: both are 0 (not 0/0).
    """
    clv, p = np.asarray(clv, dtype=float), np.asarray(p_alive, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        if_alive = np.where(p > 0, clv / np.where(p > 0, p, 1.0), 0.0)
    return if_alive, if_alive * (1.0 - p)


def _unit(value, key):
    try:
        return check_unit(value)
    except ValueError as exc:
        raise ConfigError(str(exc), key=key, fix="use D, W, M or Y") from None


def _steps(transaction_model, spend_model, horizon, horizon_unit, discount_rate, discount_unit):
    """Horizon steps in the model's time unit and the discount factor of each step."""
    transaction_model._check_fitted()
    if spend_model is not None:
        spend_model._check_fitted()
    unit = transaction_model.time_unit_
    spend_unit = getattr(spend_model, "time_unit_", None)
    if spend_unit is not None and spend_unit != unit:
        raise ModelError(f"the transaction model was fitted in {unit!r} but the spend model in "
                         f"{spend_unit!r}; refit both on the same summary (no silent rescale)")
    horizon_unit, discount_unit = _unit(horizon_unit, "horizon_unit"), _unit(discount_unit,
                                                                            "discount_unit")
    if not (np.isfinite(horizon) and horizon > 0):
        raise ConfigError(f"horizon={horizon} must be a positive number", key="horizon")
    if not (np.isfinite(discount_rate) and discount_rate > -1):
        raise ConfigError(f"discount_rate={discount_rate} must be > -1 (0.01 = 1 % per "
                          f"{discount_unit})", key="discount_rate")
    n = convert(float(horizon), horizon_unit, discount_unit)
    n_steps = int(round(n))
    if n_steps < 1 or abs(n - n_steps) > 1e-9 * max(1.0, n):
        raise ConfigError(f"a horizon of {horizon} {horizon_unit} is {n:.4g} discount periods of "
                          f"1 {discount_unit}, not a whole number", key="horizon",
                          fix="choose horizon and discount_unit so that the horizon is a whole "
                              "number of discount periods (e.g. 12 M with discount_unit M)")
    i = np.arange(1, n_steps + 1)
    ts = convert(i.astype(float), discount_unit, unit)
    return ts, (1.0 + discount_rate) ** -i


def customer_lifetime_value(transaction_model, spend_model, summary, *, horizon=12,
                            horizon_unit="M", discount_rate=0.01, discount_unit="M",
                            margin=None) -> pd.Series:
    """Discounted expected value of each customer over ``horizon`` (module doc for the formula).

    Parameters
    ----------
    transaction_model : fitted BetaGeo, ModifiedBetaGeo, ParetoNBD, ...
        Any clvkit purchase model (``discounted_purchases``, ``time_unit_``).
    spend_model : fitted GammaGamma
    summary : pandas.DataFrame
        ``frequency, recency, T, monetary_value`` per customer, in the models' time unit.
    horizon, horizon_unit : float, {"D", "W", "M", "Y"}
        Length of the value horizon (e.g. 12 months).
    discount_rate, discount_unit : float, {"D", "W", "M", "Y"}
        Discount rate per period of ``discount_unit`` (0.01 = 1 % a month).
    margin : float, optional
        Gross margin share: CLV is then margin × discounted revenue. Without it, CLV is
        discounted revenue.

    Returns
    -------
    pandas.Series
        ``clv`` indexed like ``summary``.

    Raises
    ------
    ConfigError
        Horizon not a whole number of discount periods, unknown unit, bad rate.
    ModelError
        Models fitted in different time units.
    DataError
        Invalid summary (see :func:`clvkit.models._base.rfm_arrays`).
    """
    ts, discount = _steps(transaction_model, spend_model, horizon, horizon_unit, discount_rate,
                          discount_unit)
    share = _check_margin(margin)
    _require_frame(summary)
    spend = spend_model.expected_spend(summary).to_numpy()
    clv = share * transaction_model.discounted_purchases(ts, discount, summary) * spend
    return pd.Series(clv, index=summary.index, name="clv")


def _require_frame(summary):
    if not isinstance(summary, pd.DataFrame):
        raise DataError(f"a summary DataFrame is needed, got {type(summary).__name__}",
                        fix="build it with clvkit.rfm.rfm_summary")


def score_customers(transaction_model, spend_model, summary, *, horizon=12, horizon_unit="M",
                    discount_rate=0.01, discount_unit="M", margin=None) -> pd.DataFrame:
    """Score every customer of ``summary``: the "Scored customers" table of docs/DATA.md.

    Returns the summary's columns plus ``p_alive``, ``expected_purchases`` (over the whole
    horizon), ``expected_spend``, ``clv`` (× ``margin`` when given), ``clv_if_alive`` (= clv /
    p_alive) and ``clv_at_risk`` (= clv_if_alive × (1 − p_alive), see the module doc), indexed
    like ``summary``; ``attrs`` are kept and the horizon, discounting and margin recorded in them.
    ``spend_model=None`` (data without amounts) leaves the three spend columns NaN.
    """
    ts, discount = _steps(transaction_model, spend_model, horizon, horizon_unit, discount_rate,
                          discount_unit)
    share = _check_margin(margin)
    _require_frame(summary)
    spend = (np.full(len(summary), np.nan) if spend_model is None
             else spend_model.expected_spend(summary).to_numpy())
    p_alive = transaction_model.probability_alive(summary).to_numpy()
    clv = share * transaction_model.discounted_purchases(ts, discount, summary) * spend
    horizon_purchases = transaction_model.expected_purchases(summary, horizon=ts[-1]).to_numpy()
    out = summary.copy()
    out["p_alive"] = p_alive
    out["expected_purchases"] = horizon_purchases
    out["expected_spend"] = spend
    out["clv"] = clv
    out["clv_if_alive"], out["clv_at_risk"] = value_at_risk(clv, p_alive)
    out.attrs.update(summary.attrs)
    out.attrs.update({"horizon": horizon, "horizon_unit": horizon_unit,
                      "discount_rate": discount_rate, "discount_unit": discount_unit,
                      "margin": margin, "value": "discounted revenue" if margin is None else
                      f"discounted gross margin ({share:.0%} of revenue)".replace("%", " %")})
    return out


def clv_interval(transaction_model, spend_model, summary, *, horizon=12, horizon_unit="M",
                 discount_rate=0.01, discount_unit="M", level=0.9, n_draws=200,
                 seed=0) -> pd.DataFrame:
    """CLV with an interval for the *expected* CLV, from parameter draws of both models.

    The interval reflects parameter uncertainty only: it says where each customer's expected
    value lies, not what one customer will actually spend (that spread is far wider; see
    :func:`clv_predictive_interval`). Label it as such (``CLV_INTERVAL_LABEL``).

    Each draw takes parameters of the transaction model (``seed``) and of the spend model
    (``seed + 1``) from their estimated sampling distributions, independently (they are fitted on
    different likelihoods); the interval holds the central ``level`` share of the draws' CLV.
    Customers are compressed to distinct (frequency, recency, T, monetary_value) rows first.

    Returns
    -------
    pandas.DataFrame
        ``estimate`` (CLV at the point estimates), ``lower``, ``upper``, indexed like ``summary``.
    """
    ts, discount = _steps(transaction_model, spend_model, horizon, horizon_unit, discount_rate,
                          discount_unit)
    _require_frame(summary)
    if not 0 < level < 1:
        raise ConfigError(f"level={level} must be in (0, 1)", key="level")
    x, t_x, T, _ = rfm_arrays(summary)
    if "monetary_value" not in summary.columns:
        raise DataError("missing column monetary_value", file="summary", column="monetary_value",
                        fix="build the frame with clvkit.rfm.rfm_summary")
    m = summary["monetary_value"].to_numpy(dtype=float, na_value=np.nan)
    uniq, inverse = unique_rows(np.column_stack([x, t_x, T, m]))
    ux, utx, uT, um = uniq.T

    def clv_of(tm, sm):
        return tm.discounted_purchases(ts, discount, ux, utx, uT) * np.asarray(sm.expected_spend(ux, um))

    est = clv_of(transaction_model, spend_model)
    t_draws = transaction_model.sample_params(n_draws, seed).to_numpy()
    s_draws = spend_model.sample_params(n_draws, seed + 1).to_numpy()
    sims = np.empty((n_draws, len(uniq)))
    for i in range(n_draws):
        try:
            sims[i] = clv_of(transaction_model.with_params(t_draws[i]),
                             spend_model.with_params(s_draws[i]))
        except ModelError:      # a spend draw with q <= 1 has no finite mean: leave it out
            sims[i] = np.nan
    lo, hi = column_quantiles(sims, [(1 - level) / 2, (1 + level) / 2])
    return pd.DataFrame({"estimate": est[inverse], "lower": lo[inverse], "upper": hi[inverse]},
                        index=summary.index)


def one_time_buyers_never_at_risk(scored: pd.DataFrame, *, min_share: float = 0.2):
    """``(count, share, mean T)`` of the one-time buyers when the model gives every one of them
    P(alive) = 1 and they are at least ``min_share`` of the customers, else None (see
    :func:`one_time_buyer_note`, which words it)."""
    need = [c for c in ("frequency", "T", "p_alive") if c not in scored.columns]
    if need:
        raise DataError(f"scored customers lack {', '.join(need)}", column=need[0],
                        fix="pass the output of clvkit.value.score_customers")
    one = scored[scored["frequency"].to_numpy(dtype=float) == 0]
    if one.empty or len(one) < min_share * len(scored):
        return None
    if not (one["p_alive"].to_numpy(dtype=float) >= 1.0 - 1e-9).all():
        return None
    return len(one), len(one) / len(scored), float(one["T"].mean())


def one_time_buyer_note(scored: pd.DataFrame, model_name: str = "the purchase model", *,
                        min_share: float = 0.2) -> str:
    """What the purchase model implies for one-time buyers, in a sentence ("" if nothing).

    BG/NBD (and BG/CNBD-k) let a customer leave only at a repeat purchase, so every customer
    with no repeat purchase (``frequency == 0``) gets P(alive) = 1 however long ago they bought:
    they can never be "at risk" nor on the churn watchlist. When such a model scores at least
    ``min_share`` of the customers as one-time buyers, the report must say so. The check is on
    the scores, not the model's name: any model whose one-time buyers all have P(alive) = 1.

    Parameters
    ----------
    scored : DataFrame
        ``frequency``, ``T`` and ``p_alive`` per customer (:func:`score_customers`); ``T`` in
        ``attrs["time_unit"]`` (weeks if absent).
    model_name : str
        Display name of the model that scored them (e.g. "BG/NBD").
    """
    facts = one_time_buyers_never_at_risk(scored, min_share=min_share)
    if facts is None:
        return ""
    n, share, mean_T = facts
    unit = {"D": "days", "W": "weeks", "M": "months", "Y": "years"}.get(
        scored.attrs.get("time_unit", "W"), "weeks")
    return (f"{model_name} assumes a customer can leave only right after a repeat purchase, so "
            f"its {n:,} one-time buyers ({share:.0%} of customers, on "
            f"average {mean_T:.0f} {unit} since their only purchase) all have P(alive) "
            f"= 1: none of them can count as at risk or appear on the churn watchlist, and their "
            "CLV assumes they are all still customers. Pareto/NBD and MBG/NBD let one-time "
            "buyers drop out; prefer one of them when it predicts the holdout as well."
            ).replace("%", " %")


def _posterior_draws(model, x, T, size, rng):
    """(λ, p, μ) per draw for customers *alive* now, from the model's posterior given data.

    Given alive, the purchase rate and the dropout parameter are independent a posteriori:
    λ ~ Gamma(r + x, α + T); BG/NBD p ~ Beta(a, b + x) (x coins survived), MBG/NBD
    p ~ Beta(a, b + x + 1) (one more coin at time 0), Pareto/NBD μ ~ Gamma(s, β + T).
    """
    from clvkit.models import BetaGeo, ModifiedBetaGeo, ParetoNBD

    if getattr(model, "covariates_", None) is not None:
        raise ModelError("no predictive simulation for a model with covariates (each customer "
                         "has their own prior); fit it without covariates for this interval")
    par = {k: float(v) for k, v in model.params_.items()}
    lam = rng.gamma(par["r"] + x, 1.0 / (par["alpha"] + T), size)
    if isinstance(model, ParetoNBD):
        return lam, np.zeros(size), rng.gamma(par["s"], 1.0 / (par["beta"] + T), size)
    if isinstance(model, ModifiedBetaGeo):
        return lam, rng.beta(par["a"], par["b"] + x + 1.0, size), np.zeros(size)
    if type(model) is BetaGeo:
        return lam, rng.beta(par["a"], par["b"] + x, size), np.zeros(size)
    raise ModelError(f"no predictive simulation for {type(model).__name__}: the per-customer "
                     "interval is available for BG/NBD, MBG/NBD and Pareto/NBD")


def clv_predictive_interval(transaction_model, spend_model, summary, *, horizon=12,
                            horizon_unit="M", discount_rate=0.01, discount_unit="M",
                            margin=None, level=0.9, n_sims=1000, seed=0) -> pd.DataFrame:
    """Per-customer predictive interval of the value each customer will actually bring.

    Unlike :func:`clv_interval` (where the *expected* value lies), this is the range of the
    realised discounted value over the horizon: for each customer, ``n_sims`` futures are drawn
    from the fitted models given their history — alive with probability P(alive); if alive, a
    purchase rate and dropout parameter from their posterior (:func:`_posterior_draws`), the
    purchases over the horizon, and each order from the Gamma-Gamma posterior of their mean
    spend, ν ~ Gamma(q + p x, γ + x m), order ~ Gamma(p, ν) — each discounted by the period it
    falls in. The interval holds the central ``level`` of those futures; ``mean`` matches the
    CLV (up to simulation error). Parameter uncertainty is not added (it is small beside this).

    Returns
    -------
    DataFrame
        ``mean``, ``lower``, ``upper`` and ``p_zero`` (share of futures with no purchase),
        indexed like ``summary``.
    """
    ts, discount = _steps(transaction_model, spend_model, horizon, horizon_unit, discount_rate,
                          discount_unit)
    share = _check_margin(margin)
    _require_frame(summary)
    if not 0 < level < 1:
        raise ConfigError(f"level={level} must be in (0, 1)", key="level")
    x, t_x, T, _ = rfm_arrays(summary)
    m = summary["monetary_value"].to_numpy(dtype=float, na_value=np.nan)
    uniq, inverse = unique_rows(np.column_stack([x, t_x, T, np.where(x > 0, m, 0.0)]))
    p_alive = np.asarray(transaction_model.probability_alive(uniq[:, 0], uniq[:, 1],
                                                             uniq[:, 2]), dtype=float)
    gp, gq, gg = (float(spend_model.params_[k]) for k in ("p", "q", "gamma"))
    rng = np.random.default_rng(seed)
    horizon_t = ts[-1]
    out = np.empty((len(uniq), 4))
    for i, (xi, _, Ti, mi) in enumerate(uniq):
        alive = rng.random(n_sims) < p_alive[i]
        lam, p, mu = _posterior_draws(transaction_model, xi, Ti, n_sims, rng)
        nu = rng.gamma(gq + gp * xi, 1.0 / (gg + xi * mi), n_sims)
        with np.errstate(divide="ignore"):
            death = np.where(mu > 0, rng.standard_exponential(n_sims) / mu, np.inf)
        value = np.zeros(n_sims)
        t = np.zeros(n_sims)
        active = np.flatnonzero(alive & (lam > 0))
        while active.size:
            t[active] += rng.standard_exponential(active.size) / lam[active]
            buys = t[active] < np.minimum(horizon_t, death[active])
            active = active[buys]
            step = np.searchsorted(ts, t[active])            # period i covers (t_{i-1}, t_i]
            value[active] += rng.gamma(gp, 1.0 / nu[active]) * discount[step]
            active = active[rng.random(active.size) >= p[active]]
        value *= share
        out[i] = (value.mean(), *np.quantile(value, [(1 - level) / 2, (1 + level) / 2]),
                  (value == 0).mean())
    res = out[inverse]
    return pd.DataFrame({"mean": res[:, 0], "lower": res[:, 1], "upper": res[:, 2],
                         "p_zero": res[:, 3]}, index=summary.index)


def clv_total_draws(transaction_model, spend_model, summary, groups=None, *, horizon=12,
                    horizon_unit="M", discount_rate=0.01, discount_unit="M", n_draws=200,
                    seed=0) -> pd.DataFrame:
    """Total CLV of each group of customers under parameter draws of both models.

    For a headline such as "12-month value 219,334 (95 % interval …)" the interval of the
    *total* is needed, not a sum of per-customer intervals: one parameter draw moves every
    customer together. Draws are taken as in :func:`clv_interval`; each row is one draw, each
    column a group's total (``groups``: a Series of labels indexed like ``summary``; None: one
    column ``total``). A spend draw with no finite mean is left out (a row of NaN). A purchase
    model with covariates draws its coefficients too and predicts each customer at their own
    covariates (``summary`` then holds the covariate columns).

    Returns
    -------
    DataFrame
        ``n_draws`` rows, one column per group (in order of first appearance) and ``total``.
    """
    ts, discount = _steps(transaction_model, spend_model, horizon, horizon_unit, discount_rate,
                          discount_unit)
    _require_frame(summary)
    x, t_x, T, _ = rfm_arrays(summary)
    m = summary["monetary_value"].to_numpy(dtype=float, na_value=np.nan)
    labels = (pd.Series("total", index=summary.index) if groups is None
              else pd.Series(groups).reindex(summary.index).astype("string").fillna("–"))
    names = list(dict.fromkeys(labels.tolist()))
    code = pd.Categorical(labels, categories=names).codes
    from clvkit.models.covariates import covariate_columns

    cov = covariate_columns(transaction_model)  # with covariates: rows differ by them too
    cov_codes = [pd.factorize(summary[c], use_na_sentinel=True)[0] for c in cov]
    uniq, inverse = unique_rows(np.column_stack([x, t_x, T, m, code, *cov_codes]))
    ux, utx, uT, um, ucode = uniq.T[:5]
    rows = (ux, utx, uT)
    if cov:  # a model with covariates predicts from a frame: one customer per distinct row
        first = np.empty(len(uniq), dtype=np.int64)
        first[inverse[::-1]] = np.arange(len(inverse))[::-1]
        rows = (summary.iloc[first][["frequency", "recency", "T", *cov]],)
    weight = np.bincount(inverse, minlength=len(uniq)).astype(float)
    onehot = np.zeros((len(uniq), len(names)))
    onehot[np.arange(len(uniq)), ucode.astype(int)] = weight
    t_draws = transaction_model.sample_params(n_draws, seed).to_numpy()
    s_draws = spend_model.sample_params(n_draws, seed + 1).to_numpy()
    out = np.full((n_draws, len(names)), np.nan)
    for i in range(n_draws):
        try:
            clv = (transaction_model.with_params(t_draws[i]).discounted_purchases(
                ts, discount, *rows)
                * np.asarray(spend_model.with_params(s_draws[i]).expected_spend(ux, um)))
        except ModelError:
            continue
        out[i] = clv @ onehot
    frame = pd.DataFrame(out, columns=names)
    if "total" not in frame.columns:
        frame["total"] = frame.sum(axis=1, min_count=1)
    return frame
