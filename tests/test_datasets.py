"""Tests for clvkit.datasets: real-data loaders and the simulator."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from clvkit import DataError
from clvkit.datasets import cdnow, load_cdnow, load_donations


# --- real data read from the installed lifetimes package ---------------------------------------

def test_cdnow_sample_matches_published_size_fhl2005():
    tx = load_cdnow("sample")
    # Fader, Hardie and Lee (2005): the 1/10th sample holds 2,357 customers, all first buying in
    # the first 12 weeks of 1997; the log runs to the end of June 1998.
    assert tx["customer_id"].nunique() == 2357
    assert sorted(tx["customer_id"].unique()) == list(range(1, 2358))
    assert len(tx) == 6919  # lines in the shipped file
    assert tx.groupby("customer_id")["date"].min().max() < pd.Timestamp("1997-03-26")
    assert tx["date"].min() == pd.Timestamp("1997-01-01")
    assert tx["date"].max() == pd.Timestamp("1998-06-30")


def test_cdnow_schema():
    tx = load_cdnow()
    assert list(tx.columns[:3]) == ["customer_id", "date", "amount"]
    assert tx["customer_id"].dtype == np.int64
    assert pd.api.types.is_datetime64_dtype(tx["date"]) and tx["date"].dt.tz is None
    assert tx["amount"].dtype == np.float64
    assert tx["quantity"].dtype == np.int64
    assert (tx["quantity"] >= 1).all()


def test_cdnow_master_matches_published_size():
    tx = load_cdnow("master")
    assert tx["customer_id"].nunique() == 23570  # the full CDNOW cohort
    assert len(tx) == 69659
    assert set(tx.columns) == {"customer_id", "date", "amount", "quantity"}


def test_cdnow_sample_is_a_subset_of_master():
    sample, master = load_cdnow("sample"), load_cdnow("master")
    key = ["master_id", "date", "quantity", "amount"]
    merged = sample[key].merge(master.rename(columns={"customer_id": "master_id"}), how="left",
                               on=key, indicator=True)
    assert (merged["_merge"] == "both").all()


def test_first_sample_line_is_read_exactly():
    # first line of CDNOW_sample.txt: " 00004 0001 19970101  2   29.33"
    row = load_cdnow("sample").iloc[0]
    assert (row["master_id"], row["customer_id"], row["date"], row["quantity"], row["amount"]) == (
        4, 1, pd.Timestamp("1997-01-01"), 2, 29.33)


def test_donations_as_shipped():
    d = load_donations()
    assert list(d.columns) == ["frequency", "recency", "periods", "weights"]
    assert len(d) == 22
    assert d["weights"].sum() == 11104  # donors in Fader, Hardie and Shang (2010)
    assert (d["periods"] == 6).all()


def test_loaders_do_not_import_lifetimes():
    # a fresh interpreter: other tests in this session may import lifetimes to compare with it
    code = ("import sys; from clvkit.datasets import load_cdnow, load_donations; "
            "load_cdnow(); load_donations(); print('lifetimes' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_unknown_cdnow_variant():
    with pytest.raises(DataError, match=r"unknown CDNOW data set which='full'.*'sample' or 'master'"):
        load_cdnow("full")


def test_missing_lifetimes_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(cdnow.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(DataError, match=r"'lifetimes' package that ships it is not installed.*"
                                        r"pip install lifetimes"):
        load_cdnow()


def test_lifetimes_without_the_file_is_a_clear_error(monkeypatch, tmp_path):
    class Spec:
        submodule_search_locations = [str(tmp_path)]
    monkeypatch.setattr(cdnow.importlib.util, "find_spec", lambda name: Spec())
    with pytest.raises(DataError, match=r"has no datasets/donations.csv"):
        load_donations()


# --- the simulator --------------------------------------------------------------------------------

from clvkit import ConfigError  # noqa: E402
from clvkit.datasets import (DEFAULT_PARAMS, SimulatedData, simulate,  # noqa: E402
                             simulate_bgnbd_purchases)
from clvkit.datasets.simulate import (BULK_PROB, BULK_SIZE, season_clock,  # noqa: E402
                                      simulate_purchases)

TABLES = ["transactions", "customers", "surveys", "complaints", "programme", "survey_invites"]


@pytest.fixture(scope="module")
def sim():
    return simulate(4000, seed=11, programme=False)


def test_simulation_is_deterministic_for_a_seed(sim):
    again = simulate(4000, seed=11, programme=False)
    for name in TABLES:
        pd.testing.assert_frame_equal(getattr(sim, name), getattr(again, name))
    pd.testing.assert_frame_equal(sim.truth.customers, again.truth.customers)
    other = simulate(4000, seed=12, programme=False)
    assert not other.transactions["amount"].equals(sim.transactions["amount"])


def test_simulated_tables_follow_the_data_contract(sim):
    assert isinstance(sim, SimulatedData)
    tx, cust = sim.transactions, sim.customers
    assert list(tx.columns) == ["customer_id", "date", "amount"]
    assert pd.api.types.is_string_dtype(tx["customer_id"]) and tx["customer_id"].notna().all()
    assert tx["date"].dtype == "datetime64[us]" and tx["amount"].dtype == np.float64
    assert (tx["amount"] > 0).all() and tx["date"].is_monotonic_increasing
    assert tx["date"].min() >= pd.Timestamp("2023-01-01")
    assert tx["date"].max() <= sim.observation_end == pd.Timestamp("2024-12-31")
    assert list(cust.columns) == ["customer_id", "signup_date", "region", "city_tier", "age_band",
                                  "gender", "income_band", "channel", "interactions"]
    assert cust["customer_id"].tolist() == [f"C{i:06d}" for i in range(1, 4001)]
    assert cust["signup_date"].is_monotonic_increasing  # ids follow signup order
    assert cust["customer_id"].is_unique and set(tx["customer_id"]) <= set(cust["customer_id"])
    first = tx.groupby("customer_id")["date"].min()
    assert (cust.set_index("customer_id").loc[first.index, "signup_date"] <= first).all()
    # without the programme the other tables are empty but carry the contract columns
    assert list(sim.surveys.columns) == ["customer_id", "date", "csat", "nps"]
    assert str(sim.surveys["csat"].dtype) == "Int64" and str(sim.surveys["nps"].dtype) == "Int64"
    assert list(sim.complaints.columns) == ["customer_id", "date", "category", "resolved",
                                            "resolution_days"]
    assert list(sim.programme.columns) == ["customer_id", "eligible", "treated"]
    assert all(len(getattr(sim, t)) == 0 for t in ["surveys", "complaints", "programme"])


def test_truth_follows_the_data_contract(sim):
    assert sim.truth.params == DEFAULT_PARAMS and sim.truth.future_horizon_days == 365
    tc = sim.truth.customers
    assert tc["customer_id"].equals(sim.customers["customer_id"])
    for col in ["lam", "p_dropout", "mu", "bulk_buyer", "dropout_date", "mean_spend",
                "future_purchases", "future_value", "first_purchase", "prospect"]:
        assert col in tc.columns
    buyers = tc[~tc["prospect"]]
    assert (buyers["lam"] > 0).all() and buyers["p_dropout"].between(0, 1).all()
    assert (buyers["mu"] > 0).all()
    bulk = np.where(buyers["bulk_buyer"], 1 + BULK_PROB * (BULK_SIZE - 1), 1.0)
    np.testing.assert_allclose(buyers["mean_spend"], DEFAULT_PARAMS["p"] / buyers["nu"] * bulk)
    # nobody buys after dropping out, nor before the first purchase
    last = sim.transactions.groupby("customer_id")["date"].max()
    t = tc.set_index("customer_id").loc[last.index]
    assert (t["dropout_date"].isna() | (last <= t["dropout_date"])).all()
    assert (t["first_purchase"] == sim.transactions.groupby("customer_id")["date"].min()).all()
    gone = t["dropout_date"] <= sim.observation_end
    assert gone.any() and (t.loc[gone, "future_purchases"] == 0).all()
    assert (t.loc[gone, "future_value"] == 0).all() and tc["future_purchases"].sum() > 0
    # customers can leave before any repeat purchase (not the BG/NBD story: issue 12.3c)
    n_seen = sim.transactions.groupby("customer_id").size()
    repeat = (n_seen.reindex(t.index) > 1) | (t["future_purchases"] > 0)
    left_early = t["dropout_date"].notna() & ~repeat
    assert left_early.mean() > 0.1


def test_prospects_are_customers_without_transactions(sim):
    tc = sim.truth.customers
    prospects = tc.loc[tc["prospect"], "customer_id"]
    assert len(prospects) == 400  # prospect_share 0.1 of 4,000
    assert not set(prospects) & set(sim.transactions["customer_id"])
    assert set(sim.transactions["customer_id"]) == set(tc.loc[~tc["prospect"], "customer_id"])
    assert tc.loc[tc["prospect"], ["lam", "first_purchase"]].isna().all().all()
    assert (tc.loc[tc["prospect"], "future_purchases"] == 0).all()


def test_spend_matches_gamma_gamma_theory():
    big = simulate(20000, seed=5, programme=False, future_days=0, bulk_share=0.0)
    # E[amount] = E[p / nu] = p * gamma / (q - 1) with nu ~ Gamma(q, rate gamma), independent of λ
    theory = DEFAULT_PARAMS["p"] * DEFAULT_PARAMS["gamma"] / (DEFAULT_PARAMS["q"] - 1)
    assert big.transactions["amount"].mean() == pytest.approx(theory, rel=0.03)
    lam_week = big.truth.customers["lam"].dropna() * 7
    assert lam_week.mean() == pytest.approx(DEFAULT_PARAMS["r"] / DEFAULT_PARAMS["alpha"], rel=0.03)
    # each customer's average order tracks their true mean spend
    per = big.transactions.groupby("customer_id")["amount"].agg(["mean", "size"])
    truth = big.truth.customers.set_index("customer_id").loc[per.index, "mean_spend"]
    many = per["size"] >= 5
    assert np.corrcoef(per.loc[many, "mean"], truth[many])[0, 1] > 0.9


def test_attributes_lean_on_value():
    big = simulate(20000, seed=6, programme=False, future_days=0)
    tc = big.truth.customers.set_index("customer_id")
    value = np.log(tc["lam"] * tc["mean_spend"])
    by_income = value.groupby(big.customers.set_index("customer_id")["income_band"]).mean()
    assert by_income["100k+"] > by_income["60-100k"] > by_income["30-60k"] > by_income["<30k"]
    shares = big.customers["gender"].value_counts(normalize=True)
    assert shares["female"] == pytest.approx(0.52, abs=0.02)


def test_transaction_volume_is_about_three_per_customer(sim):
    # the benchmark's sizes (100k customers ~ 0.3M rows) rely on it
    assert 2.5 < len(sim.transactions) / len(sim.customers) < 4.0


@pytest.mark.slow
def test_simulated_base_recovers_bgnbd_and_gamma_gamma_with_lifetimes():
    from lifetimes import BetaGeoFitter, GammaGammaFitter

    from clvkit.rfm import rfm_summary

    # the pure BG/NBD + Gamma-Gamma story (the default base is deliberately not that story)
    big = simulate(30000, seed=3, programme=False, future_days=0, lifetime=False,
                   seasonality=0.0, bulk_share=0.0, acquisition_share=0.5,
                   params={"alpha": 7.0})
    s = rfm_summary(big.transactions, observation_end=big.observation_end)
    bg = BetaGeoFitter().fit(s["frequency"], s["recency"], s["T"]).params_
    # daily dates merge a few same-day purchases, so a sanity band rather than a tight one
    true = {**DEFAULT_PARAMS, "alpha": 7.0}
    for name, rel in [("r", 0.1), ("alpha", 0.15), ("a", 0.2), ("b", 0.2)]:
        assert bg[name] == pytest.approx(true[name], rel=rel), name
    rep = s[s["frequency"] > 0]
    gg = GammaGammaFitter().fit(rep["frequency"], rep["monetary_value"]).params_
    assert gg["p"] * gg["v"] / (gg["q"] - 1) == pytest.approx(50.0, rel=0.03)
    for ours, theirs in [("p", "p"), ("q", "q"), ("gamma", "v")]:
        assert gg[theirs] == pytest.approx(DEFAULT_PARAMS[ours], rel=0.2), ours


def test_customers_are_acquired_throughout_the_window(sim):
    first = sim.transactions.groupby("customer_id")["date"].min()
    recent = first > sim.observation_end - pd.Timedelta(days=90)
    # uniform acquisition over two years: ~ 90 / 731 of buyers are new in the last 90 days
    assert recent.mean() == pytest.approx(90 / 731, abs=0.03)


def test_purchases_are_seasonal():
    # a settled base that (almost) never leaves, so only the season moves the monthly counts
    big = simulate(20000, seed=8, programme=False, future_days=0, acquisition_share=0.02,
                   lifetime=False, params={"a": 0.01, "b": 100.0})
    tx = big.transactions[big.transactions["date"] >= "2024-01-01"]
    by_month = tx.groupby(tx["date"].dt.month).size()
    # November (near the peak, factor ~1.24) over May (near the trough, ~0.76)
    fwd, _ = season_clock("2023-01-01", 800, 0.25)
    month = lambda a, b: (fwd(b) - fwd(a)) / (b - a)  # noqa: E731
    expected = month(365 + 305, 365 + 335) / month(365 + 121, 365 + 152)
    assert expected > 1.5
    assert by_month[11] / by_month[5] == pytest.approx(expected, rel=0.08)


def test_bulk_buyers_place_occasional_large_orders():
    big = simulate(20000, seed=4, programme=False, future_days=0, bulk_share=0.05)
    tc = big.truth.customers.set_index("customer_id")
    tx = big.transactions.assign(bulk=big.transactions["customer_id"].map(tc["bulk_buyer"]))
    ratio = tx.groupby("bulk")["amount"].mean()
    # E[order | bulk buyer] / E[order | other] = 1 + BULK_PROB (BULK_SIZE − 1) = 3.7
    assert ratio[True] / ratio[False] == pytest.approx(1 + BULK_PROB * (BULK_SIZE - 1), rel=0.15)
    assert tc["bulk_buyer"].mean() == pytest.approx(0.05 * 0.9, abs=0.01)


def test_lifetime_dropout_is_exponential_and_can_precede_any_repeat():
    rng = np.random.default_rng(3)
    n, mu = 40000, 0.01
    idx, days, dropout = simulate_purchases(np.full(n, 1e-9), np.zeros(n), np.full(n, mu), 0.0,
                                            1e6, rng)
    assert idx.size == 0                                 # nobody buys again, yet they leave
    assert np.isfinite(dropout).all() and dropout.mean() == pytest.approx(1 / mu, rel=0.03)


def test_season_clock_is_a_time_change_with_the_right_rate():
    fwd, inv = season_clock("2023-01-01", 800, 0.25)
    d = np.linspace(0, 790, 50)
    np.testing.assert_allclose(inv(fwd(d)), d, atol=1e-3)
    # the rate dΛ/dd peaks at day-of-year 330 at 1.25 and bottoms out half a year away at 0.75
    rate = np.gradient(fwd(np.arange(0, 730.0)))
    assert rate.max() == pytest.approx(1.25, abs=1e-3) and rate.min() == pytest.approx(0.75,
                                                                                   abs=1e-3)
    assert abs(int(np.argmax(rate[:365])) - 329) <= 1


# --- the BG/NBD purchase primitive ---------------------------------------------------------------

def test_primitive_without_dropout_is_a_poisson_process():
    rng = np.random.default_rng(0)
    n, lam = 20000, 0.05
    idx, days, dropout = simulate_bgnbd_purchases(np.full(n, lam), np.zeros(n), 100.0, 300.0, rng)
    counts = np.bincount(idx, minlength=n)
    assert counts.mean() == pytest.approx(lam * 200, rel=0.02)        # Poisson mean 10
    assert counts.var() == pytest.approx(lam * 200, rel=0.05)         # ... and variance 10
    assert ((days > 100) & (days < 300)).all() and np.isinf(dropout).all()
    hist = np.histogram(days, bins=4, range=(100, 300))[0]            # uniform in the window
    assert hist.min() / hist.max() > 0.95


def test_primitive_dropout_is_geometric_in_purchases():
    rng = np.random.default_rng(1)
    n, p = 20000, 0.25
    idx, days, dropout = simulate_bgnbd_purchases(np.full(n, 1.0), np.full(n, p), 0.0, 1e6, rng)
    counts = np.bincount(idx, minlength=n)
    assert counts.min() >= 1 and counts.mean() == pytest.approx(1 / p, rel=0.03)
    assert np.isfinite(dropout).all()
    last = np.full(n, -np.inf)
    np.maximum.at(last, idx, days)
    np.testing.assert_array_equal(dropout, last)  # dropout happens at the last purchase


def test_primitive_edge_cases():
    rng = np.random.default_rng(2)
    idx, days, dropout = simulate_bgnbd_purchases([0.0, 10.0], [0.5, 1.0], [0.0, 5.0],
                                                  [10.0, 5.0], rng)
    assert idx.size == 0 and days.size == 0 and np.isinf(dropout).all()
    idx, days, dropout = simulate_bgnbd_purchases([5.0, 5.0], [1.0, 1.0], 0.0, 100.0, rng)
    assert sorted(idx.tolist()) == [0, 1] and (dropout == days[np.argsort(idx)]).all()


@pytest.mark.slow
def test_primitive_recovers_bgnbd_parameters_with_lifetimes():
    from lifetimes import BetaGeoFitter

    rng = np.random.default_rng(1)
    n = 30000
    lam = rng.gamma(0.5, 1 / 7.0, n) / 7          # r = 0.5, alpha = 7 (weeks), per day
    p = rng.beta(0.8, 2.5, n)
    start = rng.random(n) * 365
    idx, t, _ = simulate_bgnbd_purchases(lam, p, start, 730.0, rng)
    x = np.bincount(idx, minlength=n)
    last = np.full(n, -np.inf)
    np.maximum.at(last, idx, t)
    t_x = np.where(x > 0, last - start, 0.0)
    fit = BetaGeoFitter().fit(x, t_x / 7, (730.0 - start) / 7)
    se = fit.summary["se(coef)"]
    for name, true in [("r", 0.5), ("alpha", 7.0), ("a", 0.8), ("b", 2.5)]:
        assert abs(fit.params_[name] - true) < 4 * se[name], name


# --- the programme hook and argument checks ------------------------------------------------------

def test_programme_hook_receives_base_and_generator(monkeypatch):
    from clvkit.datasets import programme

    seen = {}

    def fake_add_programme(base, rng):
        seen["base"], seen["rng"] = base, rng
        return "with programme"

    monkeypatch.setattr(programme, "add_programme", fake_add_programme)
    assert simulate(300, seed=1, programme=True) == "with programme"
    base = seen["base"]
    assert isinstance(base, SimulatedData) and isinstance(seen["rng"], np.random.Generator)
    pd.testing.assert_frame_equal(base.transactions,
                                  simulate(300, seed=1, programme=False).transactions)


@pytest.mark.parametrize("kwargs,match", [
    (dict(n_customers=0), r"n_customers: must be a positive integer"),
    (dict(prospect_share=1.0), r"prospect_share: must be in \[0, 1\)"),
    (dict(future_days=-1), r"future_days: must be >= 0"),
    (dict(observation_end="2022-12-31"), r"observation_end: 2022-12-31 is not after start 2023-01-01"),
    (dict(start="soon"), r"start: start and observation_end must be dates"),
    (dict(params={"alfa": 3.0}), r"params.alfa: unknown parameter 'alfa'; did you mean 'alpha'"),
    (dict(params={"r": -1}), r"params.r: must be a positive number, got -1"),
    (dict(acquisition_share=0), r"acquisition_share: must be in \(0, 1\]"),
])
def test_bad_simulation_arguments(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        simulate(**{"n_customers": 100, "programme": False, **kwargs})
