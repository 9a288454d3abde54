"""Retention: hand-computed cohort matrix, repeat rate, churn definitions, Kaplan–Meier, sBG projection."""
import numpy as np
import pandas as pd
import pytest
from scipy.special import betaln

from clvkit.errors import DataError
from clvkit.retention import (churn_by_tier, cohort_matrix, contract_retention,
                              repeat_purchase_rate, time_to_next_purchase)


@pytest.fixture
def tx():
    return pd.DataFrame({
        "customer_id": ["a", "a", "a", "b", "b", "c", "a"],
        "date": pd.to_datetime(["2024-01-05", "2024-02-10", "2024-04-01", "2024-01-20",
                                "2024-03-03", "2024-02-15", "2024-04-01"]),
        "amount": 1.0,
    })


def test_tiny_cohort_matrix_by_hand(tx):
    m = cohort_matrix(tx, "M")
    # January cohort a, b: Feb a; Mar b; Apr a. February cohort c: nothing after; April unseen.
    assert m.size.to_dict() == {pd.Period("2024-01", "M"): 2, pd.Period("2024-02", "M"): 1}
    jan = m.share.loc[pd.Period("2024-01", "M")].tolist()
    assert jan == [1.0, 0.5, 0.5, 0.5]
    feb = m.share.loc[pd.Period("2024-02", "M")]
    assert feb.iloc[:3].tolist() == [1.0, 0.0, 0.0] and np.isnan(feb.iloc[3])
    assert m.active.loc[pd.Period("2024-01", "M"), 0] == 2


def test_cohort_matrix_observation_end_extends_unobserved_cells(tx):
    m = cohort_matrix(tx, "Q", observation_end="2024-06-30")
    assert m.share.loc[pd.Period("2024Q1", "Q")].tolist() == [1.0, 1 / 3]


def test_cohort_matrix_errors(tx):
    with pytest.raises(DataError, match="unknown cohort period 'D'"):
        cohort_matrix(tx, "D")
    with pytest.raises(DataError, match="transactions lack date"):
        cohort_matrix(tx.drop(columns="date"))
    with pytest.raises(DataError, match="no transactions to analyse"):
        cohort_matrix(tx.iloc[:0])


def test_repeat_purchase_rate_counts_distinct_days(tx):
    tiers = pd.Series({"a": "VIP", "b": "VIP", "c": "regular"})
    out = repeat_purchase_rate(tx, tiers).set_index("group")
    assert out.loc["VIP", "repeat_rate"] == 1.0
    assert out.loc["regular", "repeat_rate"] == 0.0
    assert out.loc["regular", "buyers"] == 1
    # one customer buying twice on one day is not a repeat buyer
    same_day = pd.DataFrame({"customer_id": ["x", "x"], "date": pd.to_datetime(["2024-01-01"] * 2)})
    assert repeat_purchase_rate(same_day)["repeat_rate"].item() == 0.0


def test_churn_two_definitions_by_hand(tx):
    tiers = pd.Series({"a": "VIP", "b": "VIP", "c": "regular"})
    out = churn_by_tier(tx, tiers, window_days=45,
                        p_alive=pd.Series({"a": 0.9, "b": 0.3, "c": 0.1}), threshold=0.5)
    out = out.set_index("group")
    # last purchases a 04-01, b 03-03, c 02-15; window 45 days up to 04-01: from 02-17 on
    assert out.loc["VIP", "churn_no_purchase"] == 0.0
    assert out.loc["regular", "churn_no_purchase"] == 1.0
    assert out.loc["VIP", "churn_p_alive"] == 0.5
    assert "no purchase in the 45 days" in out.attrs["definitions"]["churn_no_purchase"]


def test_kaplan_meier_by_hand(tx):
    km = time_to_next_purchase(tx)
    c = km.curves
    # gaps: a 36, 51 (events); a's same-day repeat ignored; b 43 event, then 29 censored;
    # c 46 censored; a's last purchase is on the end day (no time at risk).
    assert c["days"].tolist() == [36.0, 43.0, 51.0]
    assert c["survival"].tolist() == pytest.approx([3 / 4, 3 / 4 * 2 / 3, 0.0])
    assert (c["low"] <= c["survival"]).all() and (c["survival"] <= c["high"]).all()
    assert km.medians["events"].item() == 3


def test_kaplan_meier_group_without_repeat_purchases_is_noted(tx):
    tiers = pd.Series({"a": "VIP", "b": "VIP", "c": "regular"})
    km = time_to_next_purchase(tx, tiers)
    reg = km.medians.set_index("group").loc["regular"]
    assert reg["note"] == "no second purchases in this group"
    assert set(km.curves["group"]) == {"VIP"}


def test_sbg_projection_matches_fader_hardie_2007():
    high_end = [1000, 869, 743, 653, 593, 551, 517, 491]   # FH 2007, Table 1
    r = contract_retention(pd.DataFrame({"cohort": "high end", "period": range(8),
                                         "active": high_end}), horizon=12)
    assert r.params["alpha"] == pytest.approx(0.668, abs=2e-3)
    assert r.params["beta"] == pytest.approx(3.806, abs=2e-3)
    a, b = r.params["alpha"], r.params["beta"]
    assert r.table["survival"].iloc[12] == pytest.approx(np.exp(betaln(a, b + 12) - betaln(a, b)))
    assert r.table["retention_rate"].iloc[5] == pytest.approx((b + 4) / (a + b + 4))
    assert r.table["observed_survival"].iloc[7] == pytest.approx(0.491)
    with pytest.raises(DataError, match="contract table lacks active"):
        contract_retention(pd.DataFrame({"cohort": [1], "period": [0]}))


# --- Greenwood from weighted counts (issue 12.1) and the cohort cut (12.9) -------------------

def test_greenwood_by_hand():
    from clvkit.retention import kaplan_meier
    # times 2, 3 (censored), 3, 5, 5, 8 (censored): at 2: 6 at risk, 1 event; at 3: 5 at risk,
    # 1 event (the censored 3 counts as at risk); at 5: 3 at risk, 2 events.
    km = kaplan_meier([2, 3, 3, 5, 5, 8], [1, 0, 1, 1, 1, 0])
    assert km["time"].tolist() == [2.0, 3.0, 5.0]
    assert km["at_risk"].tolist() == [6, 5, 3]
    s = [5 / 6, 5 / 6 * 4 / 5, 5 / 6 * 4 / 5 * 1 / 3]
    assert km["survival"].tolist() == pytest.approx(s)
    gw = np.cumsum([1 / (6 * 5), 1 / (5 * 4), 2 / (3 * 1)])
    assert km["se"].tolist() == pytest.approx(list(np.array(s) * np.sqrt(gw)))


def test_weighted_greenwood_equals_unweighted_statsmodels_on_expanded_gaps():
    from statsmodels.duration.survfunc import SurvfuncRight

    from clvkit.retention import kaplan_meier, km_quantile
    rng = np.random.default_rng(4)
    gap = np.round(rng.exponential(30, 3000)) + 1
    event = rng.random(3000) < 0.8
    frame = pd.DataFrame({"gap": gap, "event": event})
    w = frame.groupby(["gap", "event"]).size().reset_index(name="n")
    km = kaplan_meier(w["gap"], w["event"], w["n"])
    ref = SurvfuncRight(gap, event.astype(int))
    np.testing.assert_allclose(km["time"], ref.surv_times)
    np.testing.assert_allclose(km["survival"], ref.surv_prob, rtol=1e-12)
    ok = np.isfinite(ref.surv_prob_se) & (ref.surv_prob > 0)
    np.testing.assert_allclose(km["se"].to_numpy()[ok], ref.surv_prob_se[ok], rtol=1e-9)
    assert km_quantile(km, 0.5)[0] == ref.quantile(0.5)
    assert km_quantile(km, 0.5)[1:] == pytest.approx(ref.quantile_ci(0.5))
    # statsmodels' freq_weights give a different (wrong) standard error on the same data
    fw = SurvfuncRight(w["gap"].to_numpy(float), w["event"].to_numpy(int),
                       freq_weights=w["n"].to_numpy(float))
    assert not np.allclose(fw.surv_prob_se[:10], ref.surv_prob_se[:10], rtol=0.05)


def test_time_to_next_purchase_median_interval_is_greenwoods():
    from statsmodels.duration.survfunc import SurvfuncRight
    rng = np.random.default_rng(5)
    rows = []
    for c in range(400):
        days = np.cumsum(np.round(rng.exponential(25, rng.integers(1, 6))) + 1)
        rows += [(f"c{c}", pd.Timestamp("2024-01-01") + pd.Timedelta(days=int(d))) for d in days]
    tx = pd.DataFrame(rows, columns=["customer_id", "date"])
    end = pd.Timestamp("2024-12-31")
    res = time_to_next_purchase(tx, observation_end=end)
    d = tx.drop_duplicates().sort_values(["customer_id", "date"])
    nxt = d.groupby("customer_id")["date"].shift(-1)
    gap = ((nxt.fillna(end) - d["date"]).dt.days).to_numpy(float)
    ev = nxt.notna().to_numpy().astype(int)
    ref = SurvfuncRight(gap[gap > 0], ev[gap > 0])
    m = res.medians.iloc[0]
    assert m["median_days"] == ref.quantile(0.5)
    assert (m["median_low"], m["median_high"]) == pytest.approx(ref.quantile_ci(0.5))
    assert m["median_high"] - m["median_low"] < 15      # a few days wide, not hundreds


def test_cohort_matrix_cuts_at_the_observation_end_and_marks_partial_periods(tx):
    m = cohort_matrix(tx, "M", observation_end="2024-03-15")
    # a's purchase on 04-01 is after the end: not counted, and April is not a column
    assert m.share.columns.max() == 2
    jan = m.active.loc[pd.Period("2024-01", "M")].tolist()
    assert jan == [2, 1, 1]
    # March is observed to the 15th only: partial; January and February are complete
    assert m.partial.loc[pd.Period("2024-01", "M")].tolist() == [False, False, True]
    assert m.partial.loc[pd.Period("2024-02", "M")].tolist() == [False, True, False]
    full = cohort_matrix(tx, "M", observation_end="2024-04-30")
    assert not full.partial.to_numpy().any()
    assert "partial" in m.definitions


def test_churn_reconciliation_counts_every_definition_by_hand(tx):
    from clvkit.errors import ConfigError
    from clvkit.retention import churn_headline, churn_reconciliation
    ids = ["a", "b", "c"]
    stages = pd.Series(["loyal", "lost", "lost"], index=ids)
    segments = pd.Series(["champions", "lost", "hibernating"], index=ids)
    p_alive = pd.Series([0.9, 0.3, 0.1], index=ids)
    t = churn_reconciliation("p_alive", stages=stages, segments=segments, p_alive=p_alive,
                             transactions=tx, window_days=45)
    assert t["definition"].tolist() == ["p_alive", "stage_lost", "rfm_lost", "no_purchase"]
    assert t["churned"].tolist() == [2, 2, 1, 1]   # last purchases 04-01, 03-03, 02-15
    assert t["base"].tolist() == [3, 3, 3, 3]
    assert t["primary"].tolist() == [True, False, False, False]
    assert t.loc[0, "note"] == ""
    assert t.loc[3, "note"].startswith("also: 1 customers (33 %) by no purchase in the 45 days "
                                       "up to 2024-04-01")
    head, notes = churn_headline(t)
    assert head == "2 of 3 customers (67 %) have churned: model P(alive) below 0.5."
    assert len(notes) == 3
    with pytest.raises(ConfigError, match="retention.churn_definition: 'gone' is not a churn"):
        churn_reconciliation("gone", stages=stages)
    with pytest.raises(DataError, match="primary churn definition 'rfm_lost' has no data"):
        churn_reconciliation("rfm_lost", stages=stages)
