"""Customer lifetime value from a fitted purchase model and a fitted spend model.

CLV over a horizon of ``n`` discount periods (each of length one ``discount_unit``) is

    CLV = sum_{i=1..n} (E[X(t_i)] - E[X(t_{i-1})]) * E[spend] / (1 + d)^i,

with E[X(t)] the conditional expected purchases of the customer in (T, T+t] and t_i = i periods
converted to the model's time unit by :mod:`clvkit.units` (12 months = 52.18 weeks). Units are
explicit: a horizon that is not a whole number of discount periods, or models fitted in
different time units, is an error rather than a silent rescale.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from clvkit.errors import ConfigError, DataError, ModelError
from clvkit.models._base import column_quantiles, rfm_arrays, unique_rows
from clvkit.units import check_unit, convert

SCORE_COLUMNS = ["p_alive", "expected_purchases", "expected_spend", "clv", "clv_at_risk"]


def _unit(value, key):
    try:
        return check_unit(value)
    except ValueError as exc:
        raise ConfigError(str(exc), key=key, fix="use D, W, M or Y") from None


def _steps(transaction_model, spend_model, horizon, horizon_unit, discount_rate, discount_unit):
    """Horizon steps in the model's time unit and the discount factor of each step."""
    transaction_model._check_fitted()
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
                            horizon_unit="M", discount_rate=0.01, discount_unit="M") -> pd.Series:
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
    _require_frame(summary)
    spend = spend_model.expected_spend(summary).to_numpy()
    clv = transaction_model.discounted_purchases(ts, discount, summary) * spend
    return pd.Series(clv, index=summary.index, name="clv")


def _require_frame(summary):
    if not isinstance(summary, pd.DataFrame):
        raise DataError(f"a summary DataFrame is needed, got {type(summary).__name__}",
                        fix="build it with clvkit.rfm.rfm_summary")


def score_customers(transaction_model, spend_model, summary, *, horizon=12, horizon_unit="M",
                    discount_rate=0.01, discount_unit="M") -> pd.DataFrame:
    """Score every customer of ``summary``: the "Scored customers" table of docs/DATA.md.

    Returns the summary's columns plus ``p_alive``, ``expected_purchases`` (over the whole
    horizon), ``expected_spend``, ``clv`` and ``clv_at_risk`` (= clv * (1 - p_alive)), indexed
    like ``summary``; ``attrs`` are kept and the horizon and discounting recorded in them.
    """
    ts, discount = _steps(transaction_model, spend_model, horizon, horizon_unit, discount_rate,
                          discount_unit)
    _require_frame(summary)
    spend = spend_model.expected_spend(summary).to_numpy()
    p_alive = transaction_model.probability_alive(summary).to_numpy()
    clv = transaction_model.discounted_purchases(ts, discount, summary) * spend
    horizon_purchases = transaction_model.expected_purchases(summary, horizon=ts[-1]).to_numpy()
    out = summary.copy()
    out["p_alive"] = p_alive
    out["expected_purchases"] = horizon_purchases
    out["expected_spend"] = spend
    out["clv"] = clv
    out["clv_at_risk"] = clv * (1.0 - p_alive)
    out.attrs.update(summary.attrs)
    out.attrs.update({"horizon": horizon, "horizon_unit": horizon_unit,
                      "discount_rate": discount_rate, "discount_unit": discount_unit})
    return out


def clv_interval(transaction_model, spend_model, summary, *, horizon=12, horizon_unit="M",
                 discount_rate=0.01, discount_unit="M", level=0.9, n_draws=200,
                 seed=0) -> pd.DataFrame:
    """CLV with a per-customer interval combining parameter draws of both models.

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


def clv_total_draws(transaction_model, spend_model, summary, groups=None, *, horizon=12,
                    horizon_unit="M", discount_rate=0.01, discount_unit="M", n_draws=200,
                    seed=0) -> pd.DataFrame:
    """Total CLV of each group of customers under parameter draws of both models.

    For a headline such as "12-month value 219,334 (95 % interval …)" the interval of the
    *total* is needed, not a sum of per-customer intervals: one parameter draw moves every
    customer together. Draws are taken as in :func:`clv_interval`; each row is one draw, each
    column a group's total (``groups``: a Series of labels indexed like ``summary``; None: one
    column ``total``). A spend draw with no finite mean is left out (a row of NaN).

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
    uniq, inverse = unique_rows(np.column_stack([x, t_x, T, m, code]))
    ux, utx, uT, um, ucode = uniq.T
    weight = np.bincount(inverse, minlength=len(uniq)).astype(float)
    onehot = np.zeros((len(uniq), len(names)))
    onehot[np.arange(len(uniq)), ucode.astype(int)] = weight
    t_draws = transaction_model.sample_params(n_draws, seed).to_numpy()
    s_draws = spend_model.sample_params(n_draws, seed + 1).to_numpy()
    out = np.full((n_draws, len(names)), np.nan)
    for i in range(n_draws):
        try:
            clv = (transaction_model.with_params(t_draws[i]).discounted_purchases(
                ts, discount, ux, utx, uT)
                * np.asarray(spend_model.with_params(s_draws[i]).expected_spend(ux, um)))
        except ModelError:
            continue
        out[i] = clv @ onehot
    frame = pd.DataFrame(out, columns=names)
    if "total" not in frame.columns:
        frame["total"] = frame.sum(axis=1, min_count=1)
    return frame
