"""Satisfaction: hand-computed CSAT / top-2-box / NPS, published interval formulas, group tables."""
import warnings

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.proportion import proportion_confint

from clvkit.errors import DataError, StatisticalWarning
from clvkit.satisfaction import (by_group, by_month, complaints_by_group, csat, link_to_retention,
                                 nps, response_rates, top2box)


def test_csat_hand_computed():
    # mean 3.6; sd = sqrt(11.2 / 4); t(0.975, 4) = 2.776445 (printed t tables)
    e = csat([5, 4, 3, 5, 1])
    half = 2.776445 * np.sqrt(2.8) / np.sqrt(5)
    assert e.value == pytest.approx(3.6)
    assert e.low == pytest.approx(3.6 - half, abs=1e-5)
    assert e.high == 5.0  # 3.6 + 2.08 clipped to the scale
    assert e.n == 5


def test_csat_missing_scores_are_non_responses():
    e = csat(pd.Series([4, pd.NA, 4, 2], dtype="Int64"))
    assert (e.value, e.n) == (pytest.approx(10 / 3), 3)


def test_top2box_hand_computed_and_wilson_matches_statsmodels():
    e = top2box([5, 4, 3, 5, 1, 2, 4, 4, 3, 5])  # 6 of 10 are 4 or 5
    assert e.value == pytest.approx(0.6)
    lo, hi = proportion_confint(6, 10, alpha=0.05, method="wilson")
    assert (e.low, e.high) == (pytest.approx(lo), pytest.approx(hi))
    # Wilson by hand: centre (0.6 + z²/20) / (1 + z²/10)
    z = 1.959964
    centre = (0.6 + z * z / 20) / (1 + z * z / 10)
    assert (e.low + e.high) / 2 == pytest.approx(centre, abs=1e-6)


def test_nps_hand_computed():
    scores = [10, 9, 8, 7, 6, 0, 10, 3, 9, 10]  # 5 promoters, 2 passives, 3 detractors
    e = nps(scores)
    assert e.value == pytest.approx(20.0)
    se = 100 * np.sqrt((0.5 + 0.3 - 0.2 ** 2) / 10)
    assert e.low == pytest.approx(20 - 1.959964 * se, abs=1e-4)
    assert e.high == pytest.approx(20 + 1.959964 * se, abs=1e-4)


def test_nps_all_promoters_is_100_with_interval_inside_scale():
    e = nps([9, 10, 10])
    assert e.value == 100.0 and e.high == 100.0 and e.low <= 100.0


@pytest.mark.parametrize("fn, scores, match", [
    (csat, [1, 6], "csat scores outside the whole numbers 1–5"),
    (csat, [1, 2.5], "outside the whole numbers 1–5"),
    (nps, [11], "nps scores outside the whole numbers 0–10"),
    (nps, ["ten"], "nps scores are not numbers"),
    (csat, [], "no csat responses"),
    (top2box, [pd.NA, pd.NA], "no csat responses"),
])
def test_bad_scores_raise_one_clear_error(fn, scores, match):
    with pytest.raises(DataError, match=match):
        fn(scores)


@pytest.fixture
def surveys():
    return pd.DataFrame({
        "customer_id": ["a", "a", "b", "c", "d", "x"],
        "date": pd.to_datetime(["2024-01-03", "2024-02-01", "2024-01-10", "2024-02-11",
                                "2024-02-20", "2024-02-21"]),
        "csat": pd.array([5, 4, 2, 3, pd.NA, 5], dtype="Int64"),
        "nps": pd.array([10, 9, 3, 7, 8, pd.NA], dtype="Int64"),
    })


@pytest.fixture
def tiers():
    return pd.Series({"a": "VIP", "b": "regular", "c": "regular", "d": "regular",
                      "e": "potential"}, name="tier")


def test_by_group_hand_computed_keeps_unassigned_and_flags_empty_tier(surveys, tiers):
    with pytest.warns(StatisticalWarning, match="no survey responses in group.*potential"):
        out = by_group(surveys, tiers).set_index("group")
    assert out.loc["VIP", "csat"] == pytest.approx(4.5)
    assert out.loc["regular", "csat"] == pytest.approx(2.5)   # b=2, c=3, d missing
    assert out.loc["regular", "nps"] == pytest.approx(100 * (0 - 1 / 3))  # 3, 7, 8
    assert out.loc["(unassigned)", "csat_n"] == 1              # x is not in the tier table
    assert out.loc["potential", "csat_n"] == 0
    assert np.isnan(out.loc["potential", "csat"])
    assert out.loc["potential", "note"] == "no survey responses"


def test_by_month(surveys):
    out = by_month(surveys)
    assert list(out["month"].astype(str)) == ["2024-01", "2024-02"]
    assert out["csat_n"].tolist() == [2, 3]


def test_response_rates_warn_when_they_differ():
    tiers = pd.Series(["VIP"] * 100 + ["regular"] * 100,
                      index=[f"c{i}" for i in range(200)])
    ids = [f"c{i}" for i in range(60)] + [f"c{i}" for i in range(100, 110)]
    s = pd.DataFrame({"customer_id": ids, "date": pd.Timestamp("2024-01-01"),
                      "csat": pd.array([4] * 70, dtype="Int64")})
    with pytest.warns(StatisticalWarning, match="response rates differ across groups"):
        out = response_rates(s, tiers).set_index("group")
    assert out.loc["VIP", "response_rate"] == pytest.approx(0.6)
    assert out.loc["regular", "response_rate"] == pytest.approx(0.1)
    assert out.loc["VIP", "basis"] == "customers in the group"


def test_response_rates_use_invites_and_stay_quiet_when_similar():
    tiers = pd.Series(["A", "A", "B", "B"], index=["p", "q", "r", "s"])
    s = pd.DataFrame({"customer_id": ["p", "r"], "date": pd.Timestamp("2024-01-01"),
                      "nps": pd.array([9, 9], dtype="Int64")})
    inv = pd.DataFrame({"customer_id": ["p", "q", "r", "s"], "date": pd.Timestamp("2024-01-01")})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = response_rates(s, tiers, inv).set_index("group")
    assert out["response_rate"].tolist() == [0.5, 0.5]
    assert out.loc["A", "basis"] == "invited customers"


def test_surveys_with_bad_column_or_values_raise():
    with pytest.raises(DataError, match="survey table needs customer_id, date"):
        by_group(pd.DataFrame({"customer_id": [1], "score": [3]}))
    bad = pd.DataFrame({"customer_id": [1, 2], "date": pd.Timestamp("2024-01-01"), "csat": [3, 7]})
    with pytest.raises(DataError, match="column 'csat': 1 csat values outside"):
        by_group(bad)


def test_complaints_by_group_hand_computed(tiers):
    c = pd.DataFrame({"customer_id": ["a", "b", "b", "c"], "date": pd.Timestamp("2024-01-01"),
                      "category": "delivery", "resolved": [True, True, False, True],
                      "resolution_days": [2.0, 4.0, np.nan, 8.0]})
    out = complaints_by_group(c, tiers).set_index("group")
    assert out.loc["regular", "complaints"] == 3
    assert out.loc["regular", "complaint_rate"] == pytest.approx(100.0)  # 3 per 3 customers
    assert out.loc["regular", "median_resolution_days"] == pytest.approx(6.0)
    assert out.loc["regular", "share_resolved"] == pytest.approx(2 / 3)
    assert out.loc["potential", "complaints"] == 0
    with pytest.raises(DataError, match="complaints table lacks resolved"):
        complaints_by_group(c.drop(columns="resolved"), tiers)


def test_link_to_retention_hand_computed(surveys):
    tx = pd.DataFrame({"customer_id": ["a", "b", "c"],
                       "date": pd.to_datetime(["2024-03-01", "2023-12-01", "2024-03-01"]),
                       "amount": 1.0})
    p_alive = pd.Series({"a": 0.9, "b": 0.2, "c": 0.5, "x": 0.7})
    out = link_to_retention(surveys, tx, p_alive).set_index("band")
    # a: mean 4.5 high, bought after; x: 5 high, never bought; b: 2 low, bought before only;
    # c: 3 neutral, bought after.
    assert out.loc["high", "respondents"] == 2
    assert out.loc["high", "repurchase_rate"] == pytest.approx(0.5)
    assert out.loc["high", "mean_p_alive"] == pytest.approx(0.8)
    assert out.loc["low", "repurchase_rate"] == 0.0
    assert out.loc["neutral", "repurchase_rate"] == 1.0
