"""The simulated programme: schema, determinism, randomisation, and true effects that follow the levers."""
import numpy as np
import pandas as pd
import pytest

from clvkit.datasets import simulate
from clvkit.datasets.programme import add_programme


@pytest.fixture(scope="module")
def base():
    return simulate(4000, seed=11, programme=False)


@pytest.fixture(scope="module")
def sim(base):
    return add_programme(base, np.random.default_rng(5))


def test_tables_follow_the_data_contract(sim):
    assert list(sim.surveys.columns) == ["customer_id", "date", "csat", "nps"]
    assert str(sim.surveys["csat"].dtype) == "Int64" and str(sim.surveys["nps"].dtype) == "Int64"
    assert sim.surveys["csat"].dropna().between(1, 5).all()
    assert sim.surveys["nps"].dropna().between(0, 10).all()
    assert sim.surveys["csat"].isna().any() and sim.surveys["nps"].isna().any()
    assert list(sim.complaints.columns) == ["customer_id", "date", "category", "resolved",
                                            "resolution_days"]
    unresolved = ~sim.complaints["resolved"]
    assert sim.complaints.loc[unresolved, "resolution_days"].isna().all()
    assert sim.complaints.loc[~unresolved, "resolution_days"].notna().all()
    assert list(sim.programme.columns) == ["customer_id", "eligible", "treated"]
    assert len(sim.programme) == len(sim.customers)
    for t in (sim.surveys, sim.complaints, sim.survey_invites, sim.transactions):
        assert t["date"].max() <= sim.observation_end
        assert t["customer_id"].isin(sim.customers["customer_id"]).all()
    assert sim.transactions["date"].dtype == sim.surveys["date"].dtype


def test_deterministic_for_a_seed(base, sim):
    again = add_programme(base, np.random.default_rng(5))
    pd.testing.assert_frame_equal(again.transactions, sim.transactions)
    pd.testing.assert_frame_equal(again.surveys, sim.surveys)
    assert again.truth.programme.effects == sim.truth.programme.effects


def test_eligible_top_half_by_pre_spend_and_random_half_treated(sim):
    pt = sim.truth.programme
    pre = sim.transactions[sim.transactions["date"] < pt.start]
    spend = pre.groupby("customer_id")["amount"].sum()
    prog = sim.programme.set_index("customer_id")
    assert prog["eligible"].sum() == round(0.5 * len(spend))
    assert spend[prog.loc[spend.index, "eligible"]].min() >= spend[~prog.loc[spend.index,
                                                                            "eligible"]].max()
    assert prog["treated"].sum() == prog["eligible"].sum() // 2
    assert not (prog["treated"] & ~prog["eligible"]).any()
    # randomised: treated and comparison alike before the start
    treated = spend[prog.loc[spend.index, "treated"]]
    comp = spend[prog.loc[spend.index, "eligible"] & ~prog.loc[spend.index, "treated"]]
    assert abs(treated.mean() - comp.mean()) < 0.15 * comp.mean()


def test_only_treated_post_start_purchases_change(base, sim):
    pt = sim.truth.programme
    treated = set(sim.programme.loc[sim.programme["treated"], "customer_id"])
    before, after = base.transactions, sim.transactions
    def keep(t):
        t = t[(t["date"] < pt.start) | ~t["customer_id"].isin(treated)]
        return t.sort_values(["date", "customer_id", "amount"], ignore_index=True)
    pd.testing.assert_frame_equal(keep(before), keep(after))
    assert len(after) > len(before)  # treated customers buy more after the start


def test_windows_and_default_start(sim):
    pt = sim.truth.programme
    assert pt.post_end == sim.observation_end + pd.Timedelta(days=1)
    assert pt.start - pt.pre_start == pt.post_end - pt.start
    first = sim.transactions["date"].min()
    assert pt.start == (first + (sim.observation_end - first) * 0.6).normalize()


def test_no_levers_means_zero_true_effects(base):
    null = add_programme(base, np.random.default_rng(5), effects={
        "purchase_rate": 1.0, "dropout": 1.0, "spend": 1.0, "satisfaction": 0.0})
    assert null.truth.programme.effects == pytest.approx(dict.fromkeys(
        ["repurchase", "conversion", "churn", "spend", "csat", "nps"], 0.0), abs=1e-12)


def test_true_effects_have_the_levers_signs(sim):
    e = sim.truth.programme.effects
    assert e["csat"] > 0 and e["nps"] > 0 and e["spend"] > 0 and e["repurchase"] > 0
    assert e["churn"] < 0


def test_higher_value_customers_answer_more_and_churners_complain_more(sim):
    tc = sim.truth.customers.set_index("customer_id")
    buyers = tc[~tc["prospect"]]
    value = buyers["lam"] * buyers["mean_spend"]
    top = value >= value.median()
    resp = sim.surveys.groupby("customer_id").size().reindex(buyers.index, fill_value=0)
    assert resp[top].mean() > resp[~top].mean()
    churned = buyers["dropout_date"] <= sim.observation_end
    comp = sim.complaints.groupby("customer_id").size().reindex(buyers.index, fill_value=0)
    assert comp[churned].mean() > comp[~churned].mean()


def test_simulate_calls_add_programme(sim):
    s = simulate(600, seed=2)
    assert s.truth.programme is not None and s.programme["treated"].any()
