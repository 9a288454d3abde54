"""Model diagnostics as data: tables a report can print and ``clvkit.plots`` can draw.

Every function takes fitted models and data in and returns a tidy DataFrame; none draws.

* :func:`calibration_holdout_table` -- actual vs predicted holdout purchases by calibration
  frequency;
* :func:`tracking` -- actual vs expected repeat transactions per period, incremental and
  cumulative;
* :func:`holdout_errors` -- customer-level MAE / RMSE of holdout purchases;
* :func:`compare_models` -- log-likelihood, AIC, BIC and holdout error side by side;
* :func:`frequency_recency_matrix` -- expected purchases and P(alive) over a frequency x
  recency grid.

References
----------
Fader, Hardie and Lee (2005), "Counting your customers the easy way: an alternative to the
Pareto/NBD model", Marketing Science 24(2): the tracking and calibration/holdout checks.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from clvkit.errors import DataError
from clvkit.units import DAYS_PER_UNIT, check_unit

_HOLDOUT_COLUMNS = ("frequency", "recency", "T", "frequency_holdout", "duration_holdout")


def _check_holdout(holdout) -> pd.DataFrame:
    if not isinstance(holdout, pd.DataFrame):
        raise DataError(f"a calibration/holdout frame is needed, got {type(holdout).__name__}",
                        file="holdout", fix="build it with clvkit.rfm.calibration_holdout")
    missing = [c for c in _HOLDOUT_COLUMNS if c not in holdout.columns]
    if missing:
        raise DataError(f"missing column(s) {', '.join(missing)}", file="holdout",
                        column=missing[0], fix="build it with clvkit.rfm.calibration_holdout")
    duration = holdout["duration_holdout"].to_numpy(dtype=float)
    if len(duration) == 0:
        raise DataError("no customers in the holdout frame", file="holdout",
                        fix="choose a calibration_end with customers acquired before it")
    if not np.all(np.isfinite(duration)) or np.any(duration <= 0):
        bad = ~np.isfinite(duration) | (duration <= 0)
        raise DataError(f"{bad.sum()} holdout durations are missing or <= 0", file="holdout",
                        column="duration_holdout", rows=holdout.index[bad][:5],
                        fix="observation_end must follow calibration_end")
    return holdout


def _holdout_predictions(model, holdout) -> np.ndarray:
    """Conditional expected purchases of each customer over its own holdout duration."""
    duration = holdout["duration_holdout"].to_numpy(dtype=float)
    from clvkit.models.covariates import covariate_columns

    cal = holdout[["frequency", "recency", "T", *covariate_columns(model)]]
    cal.attrs = dict(holdout.attrs)
    if np.all(duration == duration[0]):
        return np.asarray(model.expected_purchases(cal, horizon=float(duration[0])), dtype=float)
    x, t_x, T = (holdout[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))
    return np.asarray(model.expected_purchases(x, t_x, T, horizon=duration), dtype=float)


def calibration_holdout_table(model, holdout: pd.DataFrame, *, max_frequency: int = 7
                              ) -> pd.DataFrame:
    """Mean actual and predicted holdout purchases by calibration frequency, 0 .. max_frequency+.

    Parameters
    ----------
    model : fitted purchase model (BetaGeo, ParetoNBD, ModifiedBetaGeo)
        Fitted on the calibration columns of ``holdout``.
    holdout : DataFrame
        From :func:`clvkit.rfm.calibration_holdout`: ``frequency, recency, T`` (calibration),
        ``frequency_holdout`` and ``duration_holdout``.
    max_frequency : int
        Calibration frequencies from ``max_frequency`` up are pooled in one bin "7+".

    Returns
    -------
    DataFrame
        One row per bin (index ``frequency``: "0", "1", ..., "7+"): ``customers``,
        ``actual`` and ``predicted`` (mean holdout purchases per customer).

    Examples
    --------
    >>> from clvkit.datasets import load_cdnow
    >>> from clvkit.models import BetaGeo
    >>> from clvkit.rfm import calibration_holdout
    >>> ch = calibration_holdout(load_cdnow(), calibration_end="1997-09-30",
    ...                          observation_end="1998-06-30", time_unit="W")
    >>> model = BetaGeo().fit(ch[["frequency", "recency", "T"]], time_unit="W")
    >>> calibration_holdout_table(model, ch)["customers"].tolist()
    [1411, 439, 214, 100, 62, 38, 29, 64]
    """
    holdout = _check_holdout(holdout)
    predicted = _holdout_predictions(model, holdout)
    freq = holdout["frequency"].to_numpy(dtype=float)
    labels = [str(k) for k in range(max_frequency)] + [f"{max_frequency}+"]
    bins = np.minimum(freq, max_frequency).astype(int)
    frame = pd.DataFrame({"bin": bins, "actual": holdout["frequency_holdout"].to_numpy(float),
                          "predicted": predicted})
    table = frame.groupby("bin").agg(customers=("actual", "size"), actual=("actual", "mean"),
                                     predicted=("predicted", "mean"))
    table = table.reindex(range(max_frequency + 1))
    table["customers"] = table["customers"].fillna(0).astype(np.int64)
    table.index = pd.Index(labels, name="frequency")
    return table


def tracking(model, transactions: pd.DataFrame, *, n_periods: int, period: str = "W",
             customer_id: str = "customer_id", date: str = "date",
             covariates: pd.DataFrame | None = None) -> pd.DataFrame:
    """Actual vs expected repeat transactions per period since the first purchase in the log.

    Each customer's first purchase day starts its clock; the expected repeat transactions of
    the base by day e are sum_d n_d E[X(e - d)], with n_d the customers acquired on day d and
    E[X(t)] the model's new-customer curve -- a convolution, computed at once for all days.
    Actual repeat transactions count the distinct purchase days of each customer after its
    first one (the ``period="D"`` convention of :func:`clvkit.rfm.rfm_summary`). As lifetimes'
    ``expected_cumulative_transactions`` (with ``freq="D"``), vectorised.

    Parameters
    ----------
    model : fitted purchase model with ``expected_purchases_new_customer`` and ``time_unit_``.
    transactions : DataFrame
        The transaction log (``customer_id``, ``date``), calibration and holdout together.
    n_periods : int
        Number of rows: periods from the first purchase date.
    period : {"D", "W", "M"}
        Row length; a month is the mean Gregorian month (row ends rounded to whole days).
    customer_id, date : str
        Column names.
    covariates : DataFrame, optional
        For a model with covariates: each customer's covariate columns, indexed by customer id.
        Customers are then grouped by covariate pattern and each group's acquisitions are
        convolved with its own new-customer curve.

    Returns
    -------
    DataFrame
        Index ``period`` 1..n_periods; ``period_end`` (date, exclusive), ``actual``,
        ``expected`` (repeat transactions within the period), ``actual_cumulative``,
        ``expected_cumulative``.

    Examples
    --------
    >>> from clvkit.datasets import load_cdnow
    >>> from clvkit.models import BetaGeo
    >>> from clvkit.rfm import rfm_summary
    >>> tx = load_cdnow()
    >>> model = BetaGeo().fit(rfm_summary(tx, observation_end="1997-09-30"))
    >>> tracking(model, tx, n_periods=78).loc[[39, 78], "actual_cumulative"].tolist()
    [2457, 4339]
    """
    check = [c for c in (customer_id, date) if c not in transactions.columns]
    if check:
        raise DataError(f"missing column {check[0]!r}", file="transactions", column=check[0],
                        fix="pass customer_id=/date= with the log's column names")
    try:
        step = DAYS_PER_UNIT[check_unit(period)]
    except ValueError as exc:
        raise DataError(str(exc), column="period", fix="use D, W or M") from None
    if period == "Y" or int(n_periods) != n_periods or n_periods < 1:
        raise DataError(f"period={period!r}, n_periods={n_periods!r}: need period D, W or M and "
                        "a whole number of periods >= 1", column="n_periods", fix="e.g. 78, 'W'")
    dates = pd.to_datetime(transactions[date])
    if dates.isna().any():
        raise DataError(f"{int(dates.isna().sum())} missing dates", file="transactions",
                        column=date, rows=transactions.index[dates.isna()][:5],
                        fix="clean the log with clvkit.clean first")
    start = dates.min().normalize()
    day = ((dates.dt.normalize() - start) // pd.Timedelta(days=1)).to_numpy(np.int64)
    visits = pd.DataFrame({"c": transactions[customer_id].to_numpy(), "d": day}).drop_duplicates()
    first = visits.groupby("c")["d"].transform("min").to_numpy()
    ends = np.rint(np.arange(1, n_periods + 1) * step).astype(np.int64)   # exclusive, in days
    horizon = int(ends[-1])
    repeat_days = visits["d"].to_numpy()[visits["d"].to_numpy() != first]
    actual_daily = np.bincount(repeat_days[repeat_days < horizon], minlength=horizon)
    first_days = visits.groupby("c")["d"].min()                     # one per customer
    born = first_days.to_numpy()
    days_per_unit = DAYS_PER_UNIT[model.time_unit_]
    if getattr(model, "covariates_", None) is None:
        groups, pattern = [model], np.zeros(len(first_days), dtype=np.int64)
    elif covariates is None:
        raise DataError(f"{type(model).__name__} has covariates: pass covariates= (each "
                        "customer's covariate columns, indexed by customer id)",
                        column="covariates", fix="e.g. the summary the model was fitted on")
    else:
        cov = covariates.reindex(pd.Index(first_days.index))
        cov.attrs = {}
        groups, pattern = model.pattern_models(cov)
    grid = np.arange(horizon + 1) / days_per_unit
    expected_cum = np.zeros(len(ends))
    for g, plain in enumerate(groups):  # expected repeat transactions made before day e by
        born_g = born[pattern == g]      # customers born on day d < e, per covariate pattern
        births_g = np.bincount(born_g[born_g < horizon], minlength=horizon).astype(float)
        curve = np.asarray(plain.expected_purchases_new_customer(horizon=grid), dtype=float)
        expected_cum += np.convolve(births_g, curve)[ends]
    actual_cum = np.concatenate([[0], np.cumsum(actual_daily)])[ends]
    out = pd.DataFrame({
        "period_end": start + pd.to_timedelta(ends, unit="D"),
        "actual": np.diff(actual_cum, prepend=0), "expected": np.diff(expected_cum, prepend=0.0),
        "actual_cumulative": actual_cum, "expected_cumulative": expected_cum,
    }, index=pd.RangeIndex(1, n_periods + 1, name="period"))
    out.attrs.update(period=period, start=start, time_unit=model.time_unit_)
    return out


def holdout_errors(model, holdout: pd.DataFrame) -> pd.Series:
    """Customer-level error of predicted holdout purchases: n, MAE, RMSE, bias, totals."""
    holdout = _check_holdout(holdout)
    predicted = _holdout_predictions(model, holdout)
    actual = holdout["frequency_holdout"].to_numpy(dtype=float)
    err = predicted - actual
    return pd.Series({"customers": float(len(err)), "mae": np.mean(np.abs(err)),
                      "rmse": np.sqrt(np.mean(err ** 2)), "bias": np.mean(err),
                      "actual_total": actual.sum(), "predicted_total": predicted.sum()})


def _fingerprint(model):
    return getattr(model, "data_fingerprint_", None) or model._fingerprint()


def compare_models(models, holdout: pd.DataFrame | None = None) -> pd.DataFrame:
    """Fitted models side by side: log-likelihood, AIC, BIC and (with a holdout) holdout error.

    Parameters
    ----------
    models : list of fitted models, or dict name -> model
        Fitted on the same customers (checked by the data fingerprint), so their likelihoods
        are comparable.
    holdout : DataFrame, optional
        A calibration/holdout frame (see :func:`calibration_holdout_table`).

    Returns
    -------
    DataFrame
        One row per model, sorted by BIC: ``n_params``, ``log_likelihood``, ``aic``
        (2k - 2 LL), ``bic`` (k log n - 2 LL, n customers) and, with a holdout, ``mae``,
        ``rmse``, ``bias``, ``predicted_total`` and ``actual_total``.

    Raises
    ------
    DataError
        When the models were fitted on different data.

    Examples
    --------
    >>> from clvkit.datasets.cdnow import lifetimes_data_path
    >>> from clvkit.models import BetaGeo
    >>> from clvkit.models.paretonbd import ParetoNBD
    >>> s = pd.read_csv(lifetimes_data_path("cdnow_customers_summary.csv"), index_col="ID")
    >>> fits = [BetaGeo().fit(s, time_unit="W"), ParetoNBD().fit(s, time_unit="W")]
    >>> table = compare_models(fits)
    >>> table["log_likelihood"].round(1).to_dict()
    {'BetaGeo': -9582.4, 'ParetoNBD': -9595.0}
    """
    if isinstance(models, dict):
        named = list(models.items())
    else:
        names = [type(m).__name__ for m in models]
        named = [(n if names.count(n) == 1 else f"{n}[{i}]", m)
                 for i, (n, m) in enumerate(zip(names, models))]
    if not named:
        raise DataError("no models to compare", fix="pass a list of fitted models")
    for _, m in named:
        m._check_fitted()
    prints = {_fingerprint(m) for _, m in named}
    if len(prints) > 1:
        raise DataError("the models were fitted on different customers, so their "
                        "log-likelihoods are not comparable", fix="fit every model on the same "
                        "summary (the calibration columns of the holdout frame)")
    rows = []
    for name, m in named:
        k, n, ll = len(m.param_names), m.n_customers_, m.log_likelihood_
        row = {"model": name, "n_params": k, "log_likelihood": ll, "aic": 2 * k - 2 * ll,
               "bic": k * np.log(n) - 2 * ll}
        if holdout is not None:
            e = holdout_errors(m, holdout)
            row.update(mae=e["mae"], rmse=e["rmse"], bias=e["bias"],
                       predicted_total=e["predicted_total"], actual_total=e["actual_total"])
        rows.append(row)
    return pd.DataFrame(rows).set_index("model").sort_values("bic", kind="stable")


def frequency_recency_matrix(model, *, T: float, max_frequency: int, horizon: float = 1.0,
                             recency_step: float = 1.0) -> pd.DataFrame:
    """Expected purchases over ``horizon`` and P(alive) on a frequency x recency grid at age T.

    Returns a tidy frame with one row per valid cell (frequency 0 only at recency 0):
    ``frequency``, ``recency``, ``expected_purchases``, ``p_alive``; pivot it to draw the
    matrices of lifetimes' ``plot_frequency_recency_matrix``.
    """
    if not (np.isfinite(T) and T > 0) or max_frequency < 0 or recency_step <= 0:
        raise DataError(f"T={T!r}, max_frequency={max_frequency!r}, recency_step="
                        f"{recency_step!r}: need T > 0, max_frequency >= 0, recency_step > 0",
                        column="T", fix="e.g. T=39, max_frequency=20")
    recency = np.arange(0.0, T + 1e-9, recency_step)
    f, r = np.meshgrid(np.arange(max_frequency + 1, dtype=float), recency, indexing="ij")
    keep = (f > 0) | (r == 0)
    f, r = f[keep], r[keep]
    T_ = np.full_like(f, float(T))
    expected = np.asarray(model.expected_purchases(f, r, T_, horizon=horizon))
    return pd.DataFrame({"frequency": f.astype(np.int64), "recency": r,
                         "expected_purchases": expected,
                         "p_alive": np.asarray(model.probability_alive(f, r, T_))})
