"""CLV and customer scoring: the defining sum, explicit units, lifetimes parity, errors."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clvkit.datasets.cdnow import lifetimes_data_path
from clvkit.errors import ConfigError, DataError, ModelError
from clvkit.models import BetaGeo, GammaGamma
from clvkit.value import SCORE_COLUMNS, clv_interval, customer_lifetime_value, score_customers

DAYS_PER_MONTH = 365.2425 / 12          # the mean Gregorian month


def _cdnow(unit="W"):
    s = pd.read_csv(lifetimes_data_path("cdnow_customers_summary_with_transactions.csv"),
                    index_col="ID")
    s = s.rename(columns={"x": "frequency", "t_x": "recency", "zbar": "monetary_value"})
    s.index.name = "customer_id"
    if unit == "D":
        s["recency"], s["T"] = s["recency"] * 7, s["T"] * 7
    s.attrs["time_unit"] = unit
    return s


@pytest.fixture(scope="module")
def weekly():
    s = _cdnow("W")
    return s, BetaGeo().fit(s), GammaGamma().fit(s)


def test_undiscounted_clv_is_expected_purchases_over_12_mean_months_times_spend(weekly):
    s, bg, gg = weekly
    clv = customer_lifetime_value(bg, gg, s, horizon=12, horizon_unit="M", discount_rate=0.0)
    weeks = 12 * DAYS_PER_MONTH / 7                          # 52.18 weeks, not 48 or 51.4
    assert weeks == pytest.approx(52.1775)
    expected = bg.expected_purchases(s, horizon=weeks) * gg.expected_spend(s)
    np.testing.assert_allclose(clv, expected, rtol=1e-10)
    assert clv.index.equals(s.index) and clv.name == "clv"


def test_discounted_clv_is_the_defining_sum(weekly):
    s, bg, gg = weekly
    d = 0.02
    clv = customer_lifetime_value(bg, gg, s, horizon=6, horizon_unit="M", discount_rate=d)
    total, prev = 0.0, 0.0
    for i in range(1, 7):
        cum = bg.expected_purchases(s, horizon=i * DAYS_PER_MONTH / 7)
        total = total + (cum - prev) / (1 + d) ** i
        prev = cum
    np.testing.assert_allclose(clv, total * gg.expected_spend(s), rtol=1e-10)


def test_weekly_discounting_over_a_year_of_52_weeks(weekly):
    s, bg, gg = weekly
    a = customer_lifetime_value(bg, gg, s, horizon=52, horizon_unit="W", discount_rate=0.0,
                                discount_unit="W")
    np.testing.assert_allclose(a, bg.expected_purchases(s, horizon=52.0) * gg.expected_spend(s), rtol=1e-10)


def test_models_fitted_in_days_or_weeks_give_the_same_clv(weekly):
    s, bg, gg = weekly
    sd = _cdnow("D")
    bg_d, gg_d = BetaGeo().fit(sd), GammaGamma().fit(sd)
    np.testing.assert_allclose(customer_lifetime_value(bg_d, gg_d, sd),
                               customer_lifetime_value(bg, gg, s), rtol=1e-5)


def test_clv_matches_lifetimes_with_its_month_made_equal_to_ours(weekly):
    """lifetimes steps 30 "days" per month; give it a unit u = (mean month / 30) days so that
    its month equals ours, with identical parameters and histories re-expressed in u."""
    import lifetimes  # only here: it sets a global pandas option
    sd = _cdnow("D")
    bg_d, gg = BetaGeo().fit(sd), GammaGamma().fit(sd)
    k = 30.0 / DAYS_PER_MONTH                                  # u per day
    lf = lifetimes.BetaGeoFitter()
    r, alpha, a, b = bg_d.params_
    lf.params_ = pd.Series({"r": r, "alpha": alpha * k, "a": a, "b": b})
    lf.predict = lf.conditional_expected_number_of_purchases_up_to_time   # as lifetimes' fit does
    spend = gg.expected_spend(sd)
    ref = lifetimes.utils._customer_lifetime_value(
        lf, sd["frequency"], sd["recency"] * k, sd["T"] * k, spend, time=12, discount_rate=0.01,
        freq="D")
    ours = customer_lifetime_value(bg_d, gg, sd, horizon=12, horizon_unit="M", discount_rate=0.01)
    np.testing.assert_allclose(ours, ref.to_numpy(), rtol=1e-6)


def test_score_customers_has_the_scored_customers_contract(weekly):
    s, bg, gg = weekly
    out = score_customers(bg, gg, s, horizon=12, horizon_unit="M", discount_rate=0.01,
                          discount_unit="M")
    assert out.index.equals(s.index)
    assert list(out.columns) == list(s.columns) + SCORE_COLUMNS
    np.testing.assert_allclose(out["p_alive"], bg.probability_alive(s))
    np.testing.assert_allclose(out["expected_purchases"], bg.expected_purchases(s, horizon=12 * DAYS_PER_MONTH / 7))
    np.testing.assert_allclose(out["expected_spend"], gg.expected_spend(s))
    np.testing.assert_allclose(out["clv"], customer_lifetime_value(bg, gg, s))
    np.testing.assert_allclose(out["clv_at_risk"], out["clv"] * (1 - out["p_alive"]))
    assert out.attrs["time_unit"] == "W" and out.attrs["horizon"] == 12
    assert (out["clv"] >= 0).all()


def test_clv_interval_brackets_the_point_estimate(weekly):
    s, bg, gg = weekly
    iv = clv_interval(bg, gg, s, n_draws=60, seed=0)
    np.testing.assert_allclose(iv["estimate"], customer_lifetime_value(bg, gg, s))
    assert ((iv["lower"] <= iv["estimate"] * (1 + 1e-9)) & (iv["estimate"] <= iv["upper"] * (1 + 1e-9))).all()
    assert (iv["upper"] > iv["lower"]).all()


def test_horizon_not_a_whole_number_of_discount_steps_is_a_config_error(weekly):
    s, bg, gg = weekly
    with pytest.raises(ConfigError, match=r"horizon: a horizon of 1 M is 4.348 discount periods .*not a whole"):
        customer_lifetime_value(bg, gg, s, horizon=1, horizon_unit="M", discount_unit="W")
    with pytest.raises(ConfigError, match="horizon_unit: unknown time unit 'months'"):
        customer_lifetime_value(bg, gg, s, horizon_unit="months")
    with pytest.raises(ConfigError, match="discount_rate=-2 must be > -1"):
        customer_lifetime_value(bg, gg, s, discount_rate=-2)


def test_models_in_different_time_units_are_an_error(weekly):
    s, bg, _ = weekly
    gg_days = GammaGamma().fit(_cdnow("D"))
    with pytest.raises(ModelError, match="fitted in 'W' but the spend model in 'D'"):
        customer_lifetime_value(bg, gg_days, s)
    with pytest.raises(DataError, match="summary is in 'D' but BetaGeo was fitted in 'W'"):
        score_customers(bg, GammaGamma().fit(s.assign()), _cdnow("D"))


def test_fast_discounted_purchases_equal_the_generic_path_form(weekly):
    from clvkit.models import Model
    s, bg, _ = weekly
    ts, disc = np.arange(1, 13) * 4.348, 1.01 ** -np.arange(1, 13)
    np.testing.assert_allclose(bg.discounted_purchases(ts, disc, s),
                               Model.discounted_purchases(bg, ts, disc, s), rtol=1e-12)
