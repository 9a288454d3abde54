"""CLV and customer scoring: the defining sum, explicit units, lifetimes parity, errors."""
from __future__ import annotations

from pathlib import Path

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
    np.testing.assert_allclose(out["clv_at_risk"],
                               out["clv"] / out["p_alive"] * (1 - out["p_alive"]))
    assert out.attrs["time_unit"] == "W" and out.attrs["horizon"] == 12
    assert out.attrs["value"] == "discounted revenue"
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


def test_value_if_alive_is_bgnbd_expected_purchases_given_alive_by_closed_form(weekly):
    """E[X(t) | alive, x, t_x, T] (FHL 2005, eq. 10 without its P(alive) factor) × spend."""
    from scipy.special import hyp2f1
    s, bg, gg = weekly
    out = score_customers(bg, gg, s, horizon=1, horizon_unit="Y", discount_rate=0.0,
                          discount_unit="Y")
    r, alpha, a, b = (bg.params_[k] for k in ("r", "alpha", "a", "b"))
    t = 365.2425 / 7
    x, T = s["frequency"].to_numpy(float), s["T"].to_numpy(float)
    z = t / (alpha + T + t)
    given_alive = ((a + b + x - 1) / (a - 1)
                   * (1 - ((alpha + T) / (alpha + T + t)) ** (r + x)
                      * hyp2f1(r + x, b + x, a + b + x - 1, z)))
    np.testing.assert_allclose(out["clv_if_alive"], given_alive * gg.expected_spend(s), rtol=1e-7)
    np.testing.assert_allclose(out["clv_at_risk"], out["clv_if_alive"] * (1 - out["p_alive"]),
                               rtol=1e-12)
    # a one-time buyer has P(alive) = 1 under BG/NBD: nothing at risk, whatever their recency
    assert (out.loc[s["frequency"] == 0, "clv_at_risk"] == 0).all()


def test_value_at_risk_edge_and_margin(weekly):
    from clvkit.value import value_at_risk
    if_alive, at_risk = value_at_risk([0.0, 10.0, 10.0], [0.0, 1.0, 0.5])
    assert if_alive.tolist() == [0.0, 10.0, 20.0] and at_risk.tolist() == [0.0, 0.0, 10.0]
    s, bg, gg = weekly
    full = score_customers(bg, gg, s)
    half = score_customers(bg, gg, s, margin=0.3)
    np.testing.assert_allclose(half["clv"], 0.3 * full["clv"])
    np.testing.assert_allclose(half["clv_at_risk"], 0.3 * full["clv_at_risk"])
    assert "30 %" in half.attrs["value"]
    with pytest.raises(ConfigError, match=r"value.margin: margin=1.5 must be a share"):
        customer_lifetime_value(bg, gg, s, margin=1.5)


def test_one_time_buyer_note_says_what_bgnbd_implies(weekly):
    from clvkit.models import ParetoNBD
    from clvkit.value import one_time_buyer_note
    s, bg, gg = weekly
    scored = score_customers(bg, gg, s)
    note = one_time_buyer_note(scored, "BG/NBD")
    n_one = int((s["frequency"] == 0).sum())
    assert n_one == 1411                                # CDNOW 2,357: 1,411 never repeat
    assert f"its {n_one:,} one-time buyers (60 % of customers" in note
    assert "P(alive) = 1" in note and "watchlist" in note
    pnbd = ParetoNBD().fit(s)
    assert one_time_buyer_note(score_customers(pnbd, gg, s), "Pareto/NBD") == ""
    assert one_time_buyer_note(scored, "BG/NBD", min_share=0.7) == ""


def test_cdnow_watchlist_can_contain_one_time_buyers(weekly):
    """Acceptance 12: with a model that lets one-time buyers drop out (the CDNOW scenario's
    Pareto/NBD), one-time buyers long silent are flagged and ranked by value at risk."""
    from clvkit.config import load
    from clvkit.models import ParetoNBD
    from clvkit.tiers import churn_warning
    cfg = load(Path(__file__).resolve().parents[1] / "params" / "cdnow.yaml")
    assert cfg.model.transaction in ("paretonbd", "mbgnbd", "best")
    s, bg, gg = weekly
    scored = score_customers(ParetoNBD().fit(s), gg, s)
    w = churn_warning(scored, p_alive_below=0.3).watchlist
    one_time = w["customer_id"].isin(s.index[s["frequency"] == 0])
    assert one_time.sum() >= 50           # 80 of the 296 flagged (measured)
    assert w["clv_at_risk"].is_monotonic_decreasing
    # under BG/NBD none could be there
    bg_list = churn_warning(score_customers(bg, gg, s), p_alive_below=0.3).watchlist
    assert not bg_list["customer_id"].isin(s.index[s["frequency"] == 0]).any()


def test_predictive_interval_mean_is_the_clv(weekly):
    from clvkit.value import clv_predictive_interval
    s, bg, gg = weekly
    part = s.iloc[::25]
    pi = clv_predictive_interval(bg, gg, part, n_sims=4000, seed=1)
    clv = customer_lifetime_value(bg, gg, part)
    # the simulated mean of the realised value is the expected value (CLV), up to MC error
    assert pi["mean"].sum() == pytest.approx(clv.sum(), rel=0.02)
    assert (pi["lower"] <= pi["mean"]).all() and (pi["mean"] <= pi["upper"]).all()
    # far wider than the interval for the expected value
    ev = clv_interval(bg, gg, part, n_draws=60, seed=0)
    assert ((pi["upper"] - pi["lower"]) > (ev["upper"] - ev["lower"])).mean() > 0.9


@pytest.mark.slow
def test_predictive_interval_covers_the_realised_value_of_simulated_customers():
    """Pure BG/NBD + Gamma-Gamma data (the models are right): the 90 % predictive interval
    holds the realised next-year value of ~90 % of customers (the expected-value interval of
    clv_interval holds almost none — issue 12.6)."""
    from clvkit.datasets import simulate
    from clvkit.rfm import rfm_summary
    from clvkit.value import clv_predictive_interval
    sim = simulate(3000, seed=21, programme=False, lifetime=False, seasonality=0.0,
                   bulk_share=0.0, future_days=365)
    summary = rfm_summary(sim.transactions, observation_end=sim.observation_end, time_unit="W")
    bg, gg = BetaGeo().fit(summary), GammaGamma().fit(summary[summary["frequency"] > 0])
    pi = clv_predictive_interval(bg, gg, summary, horizon=365, horizon_unit="D",
                                 discount_rate=0.0, discount_unit="D", n_sims=1500, seed=3)
    real = sim.truth.customers.set_index("customer_id").loc[summary.index, "future_value"]
    covered = ((pi["lower"] <= real + 1e-9) & (real <= pi["upper"] + 1e-9)).mean()
    assert 0.85 <= covered <= 0.97, covered


def test_one_time_buyers_never_at_risk_counts_what_the_note_words():
    from clvkit.value import one_time_buyer_note, one_time_buyers_never_at_risk

    scored = pd.DataFrame({"frequency": [0, 0, 0, 2, 5], "T": [30.0, 50.0, 40.0, 52.0, 52.0],
                           "p_alive": [1.0, 1.0, 1.0, 0.4, 0.9]})
    assert one_time_buyers_never_at_risk(scored) == (3, 0.6, 40.0)
    assert "3 one-time buyers (60 % of customers, on average 40 weeks" in one_time_buyer_note(
        scored, "BG/NBD")
    # a model that lets one-time buyers leave (any P(alive) < 1 among them): nothing to say
    assert one_time_buyers_never_at_risk(scored.assign(p_alive=[1.0, 0.7, 1.0, 0.4, 0.9])) is None
    assert one_time_buyers_never_at_risk(scored, min_share=0.7) is None
