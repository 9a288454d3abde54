"""Diagnostics tables on CDNOW, checked against lifetimes' own computations on identical inputs."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clvkit.datasets import load_cdnow
from clvkit.errors import DataError
from clvkit.models import BetaGeo
from clvkit.models import diagnostics as dg
from clvkit.models.paretonbd import ParetoNBD
from clvkit.rfm import calibration_holdout


@pytest.fixture(scope="module")
def tx():
    return load_cdnow()


@pytest.fixture(scope="module")
def holdout(tx):
    return calibration_holdout(tx, calibration_end="1997-09-30", observation_end="1998-06-30",
                               time_unit="W")


@pytest.fixture(scope="module")
def models(holdout):
    cal = holdout[["frequency", "recency", "T"]]
    cal.attrs = dict(holdout.attrs)
    return BetaGeo().fit(cal), ParetoNBD().fit(cal)


@pytest.fixture(scope="module")
def lifetimes_frame(holdout):
    """The holdout frame in lifetimes' column names (its calibration_and_holdout_data does not
    run under pandas 3; the frame itself is tested in tests/test_rfm*)."""
    return holdout.rename(columns={"frequency": "frequency_cal", "recency": "recency_cal",
                                   "T": "T_cal"})


def lifetimes_twin(model):
    import lifetimes
    twin = {"BetaGeo": lifetimes.BetaGeoFitter, "ParetoNBD": lifetimes.ParetoNBDFitter}[
        type(model).__name__]()
    twin.params_ = model.params_.copy()
    return twin


def test_calibration_holdout_table_matches_lifetimes_on_cdnow(models, holdout, lifetimes_frame):
    lf = lifetimes_frame
    for model in models:
        table = dg.calibration_holdout_table(model, holdout)
        pred = lifetimes_twin(model).conditional_expected_number_of_purchases_up_to_time(
            lf["duration_holdout"].iloc[0], lf["frequency_cal"], lf["recency_cal"], lf["T_cal"])
        ref = pd.DataFrame({"bin": lf["frequency_cal"].clip(upper=7), "actual": lf["frequency_holdout"],
                            "predicted": pred}).groupby("bin").agg(["size", "mean"])
        assert table.index.tolist() == ["0", "1", "2", "3", "4", "5", "6", "7+"]
        np.testing.assert_array_equal(table["customers"], ref[("actual", "size")])
        np.testing.assert_allclose(table["actual"], ref[("actual", "mean")], rtol=1e-12)
        np.testing.assert_allclose(table["predicted"], ref[("predicted", "mean")], rtol=1e-9)
    assert table["customers"].sum() == 2357


def test_tracking_matches_lifetimes_expected_cumulative_transactions(models, tx):
    from lifetimes.utils import expected_cumulative_transactions
    for model in models:
        ours = dg.tracking(model, tx, n_periods=78, period="W")
        ref = expected_cumulative_transactions(lifetimes_twin(model), tx, "date", "customer_id",
                                               546, freq="D", freq_multiplier=7)
        np.testing.assert_array_equal(ours["actual_cumulative"], ref["actual"])
        np.testing.assert_allclose(ours["expected_cumulative"], ref["predicted"], rtol=1e-9)
        np.testing.assert_allclose(ours["expected"].cumsum(), ours["expected_cumulative"])
    # FHL (2005): 2,457 repeat transactions in the 39-week calibration period, 4,339 by week 78
    assert ours.loc[39, "actual_cumulative"] == 2457 and ours.loc[78, "actual_cumulative"] == 4339
    assert ours.loc[1, "period_end"] == pd.Timestamp("1997-01-08")


def test_holdout_errors_by_hand(models, holdout, lifetimes_frame):
    bg = models[0]
    errs = dg.holdout_errors(bg, holdout)
    lf = lifetimes_frame
    pred = lifetimes_twin(bg).conditional_expected_number_of_purchases_up_to_time(
        39.0, lf["frequency_cal"], lf["recency_cal"], lf["T_cal"]).to_numpy()
    e = pred - lf["frequency_holdout"].to_numpy()
    assert errs["mae"] == pytest.approx(np.abs(e).mean(), rel=1e-9)
    assert errs["rmse"] == pytest.approx(np.sqrt((e ** 2).mean()), rel=1e-9)
    assert errs["actual_total"] == 1882 and errs["customers"] == 2357


def test_compare_models_information_criteria(models, holdout):
    table = dg.compare_models(list(models), holdout)
    bg, pn = models
    assert list(table.index) == ["BetaGeo", "ParetoNBD"]            # BG/NBD has the higher LL
    row = table.loc["ParetoNBD"]
    assert row["aic"] == pytest.approx(8 - 2 * pn.log_likelihood_)
    assert row["bic"] == pytest.approx(4 * np.log(2357) - 2 * pn.log_likelihood_)
    assert row["mae"] == pytest.approx(dg.holdout_errors(pn, holdout)["mae"])
    named = dg.compare_models({"bg": bg, "pareto": pn})
    assert set(named.index) == {"bg", "pareto"} and "mae" not in named.columns


def test_compare_models_refuses_models_fitted_on_different_data(models, holdout):
    other = BetaGeo().fit(holdout.iloc[:1500][["frequency", "recency", "T"]], time_unit="W")
    with pytest.raises(DataError, match="fitted on different customers"):
        dg.compare_models([models[0], other])


def test_frequency_recency_matrix_matches_lifetimes(models):
    pn = models[1]
    grid = dg.frequency_recency_matrix(pn, T=39, max_frequency=10, horizon=1.0)
    assert not ((grid["frequency"] == 0) & (grid["recency"] > 0)).any()
    assert len(grid) == 1 + 10 * 40
    twin = lifetimes_twin(pn)
    f, r = grid["frequency"].to_numpy(float), grid["recency"].to_numpy()
    np.testing.assert_allclose(grid["p_alive"], twin.conditional_probability_alive(f, r, 39.0),
                               rtol=1e-9)
    np.testing.assert_allclose(
        grid["expected_purchases"],
        twin.conditional_expected_number_of_purchases_up_to_time(1.0, f, r, 39.0), rtol=1e-9)


def test_diagnostics_bad_input(models, holdout, tx):
    with pytest.raises(DataError, match="missing column.*frequency_holdout"):
        dg.calibration_holdout_table(models[0], holdout.drop(columns="frequency_holdout"))
    with pytest.raises(DataError, match="need period D, W or M"):
        dg.tracking(models[0], tx, n_periods=3, period="Y")
    with pytest.raises(DataError, match="missing column 'when'"):
        dg.tracking(models[0], tx, n_periods=3, date="when")
    with pytest.raises(DataError, match="need T > 0"):
        dg.frequency_recency_matrix(models[0], T=0, max_frequency=3)
