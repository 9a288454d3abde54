"""Satisfaction: hand-computed CSAT / top-2-box / NPS, published interval formulas, group tables."""
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from clvkit.errors import DataError, StatisticalWarning
from clvkit.satisfaction import (by_group, by_month, complaints_by_group, csat, design_effect,
                                 link_to_retention, mean_score_interval, nps, nps_interval,
                                 response_rates, top2box, wilson_cc)


def test_csat_hand_computed():
    # counts of 1..5: 1, 0, 1, 1, 2; Dirichlet(0.2) posterior: alpha = 1.2, .2, 1.2, 1.2, 2.2
    e = csat([5, 4, 3, 5, 1])
    alpha = np.array([1.2, 0.2, 1.2, 1.2, 2.2])
    theta = alpha / 6.0
    k = np.arange(1, 6)
    m = theta @ k
    var = (theta @ k ** 2 - m * m) / 7.0
    u, vu = (m - 1) / 4, var / 16
    shape = u * (1 - u) / vu - 1
    lo, hi = 1 + 4 * stats.beta.ppf([0.025, 0.975], u * shape, (1 - u) * shape)
    assert e.value == pytest.approx(3.6)
    assert (e.low, e.high) == (pytest.approx(lo), pytest.approx(hi))
    assert 1.0 < e.low < 3.6 < e.high < 5.0
    assert e.n == 5


def test_csat_of_three_fives_is_not_zero_width():
    e = csat([5, 5, 5])
    assert e.value == 5.0 and e.high == 5.0 and e.low < 4.5


def test_csat_missing_scores_are_non_responses():
    e = csat(pd.Series([4, pd.NA, 4, 2], dtype="Int64"))
    assert (e.value, e.n) == (pytest.approx(10 / 3), 3)


def test_top2box_is_wilson_with_continuity_correction_as_scipy():
    e = top2box([5, 4, 3, 5, 1, 2, 4, 4, 3, 5])  # 6 of 10 are 4 or 5
    assert e.value == pytest.approx(0.6)
    ref = stats.binomtest(6, 10).proportion_ci(0.95, method="wilsoncc")
    assert (e.low, e.high) == (pytest.approx(ref.low), pytest.approx(ref.high))
    for k, n in [(0, 5), (5, 5), (1, 30), (29, 30)]:
        ref = stats.binomtest(k, n).proportion_ci(0.95, method="wilsoncc")
        assert wilson_cc(k, n) == (pytest.approx(ref.low), pytest.approx(ref.high))


def test_nps_hand_computed():
    scores = [10, 9, 8, 7, 6, 0, 10, 3, 9, 10]  # 5 promoters, 2 passives, 3 detractors
    e = nps(scores)
    assert e.value == pytest.approx(20.0)
    a, b = 6 / 13, 4 / 13                          # one pseudo-response of each kind
    half = 1.959964 * np.sqrt((a + b - (a - b) ** 2) / 13) + 0.05
    assert e.low == pytest.approx(100 * (a - b - half), abs=1e-3)
    assert e.high == pytest.approx(100 * (a - b + half), abs=1e-3)


def test_nps_of_one_promoter_is_not_zero_width():
    e = nps([10])
    assert e.value == 100.0 and e.high == 100.0 and e.low < 0
    e = nps([9, 10, 10])
    assert e.value == 100.0 and e.high == 100.0 and e.low < 50


def _multinomial(n, k):
    """Every count vector of ``n`` responses over ``k`` categories."""
    from itertools import combinations
    return np.array([np.diff(np.r_[-1, c, n + k - 1]) - 1
                     for c in combinations(range(n + k - 1), k - 1)])


def _coverage(counts, probs, inside):
    from scipy.special import gammaln
    n = counts[0].sum()
    logp = (gammaln(n + 1) - gammaln(counts + 1).sum(1)
            + np.where(counts > 0, counts * np.log(np.where(probs > 0, probs, 1)), 0).sum(1))
    w = np.where(((counts > 0) & (probs == 0)).any(1), 0.0, np.exp(logp))
    return float(w[inside].sum())


@pytest.mark.parametrize("n", [5, 10, 30])
def test_small_sample_intervals_keep_their_coverage_at_the_edges(n):
    """Exact coverage (every possible sample, weighted by its probability) at true values near
    the scale's ends, where Wald / Student t collapse (e.g. NPS 95: Wald covers 23 % at n = 5)."""
    # NPS: (promoter, passive, detractor) shares; true NPS 95, 90, -90, 0 and a polarised base
    c3 = _multinomial(n, 3)
    for pp, pd_ in [(0.95, 0.0), (0.975, 0.025), (0.9, 0.0), (0.0, 0.9), (0.5, 0.5), (0.3, 0.1)]:
        probs = np.array([pp, 1 - pp - pd_, pd_])
        iv = np.array([nps_interval(c[0], c[2], n) for c in c3])
        t = pp - pd_
        cov = _coverage(c3, probs, (iv[:, 0] <= t + 1e-12) & (t - 1e-12 <= iv[:, 1]))
        assert cov >= 0.93, (n, pp, pd_, cov)
    # top-2-box: a share near 0 or 1
    for p in (0.02, 0.05, 0.1, 0.9, 0.95, 0.98):
        k = np.arange(n + 1)
        iv = np.array([wilson_cc(x, n) for x in k])
        cov = stats.binom.pmf(k, n, p)[(iv[:, 0] <= p) & (p <= iv[:, 1])].sum()
        assert cov >= 0.95 - 1e-9, (n, p, cov)
    # CSAT mean: bases piled at the top or bottom of the scale (Student t covers 4.98 in 10 %)
    if n <= 10:
        c5 = _multinomial(n, 5)
        for probs in ([0, 0, 0, 0.1, 0.9], [0, 0, 0, 0.02, 0.98], [0.9, 0.1, 0, 0, 0],
                      [0.02, 0.02, 0.04, 0.1, 0.82], [0.1, 0.2, 0.4, 0.2, 0.1]):
            probs = np.array(probs)
            mu = probs @ np.arange(1, 6)
            iv = np.array([mean_score_interval(c) for c in c5])
            cov = _coverage(c5, probs, (iv[:, 0] <= mu + 1e-12) & (mu - 1e-12 <= iv[:, 1]))
            assert cov >= 0.90, (n, probs, cov)


def test_design_effect_is_the_cluster_robust_variance_ratio_of_statsmodels():
    import statsmodels.api as sm
    rng = np.random.default_rng(3)
    cust = np.repeat(np.arange(60), rng.integers(1, 6, 60))
    y = (rng.normal(size=60)[cust] + rng.normal(size=cust.size) > 0.3).astype(float)
    fit = sm.OLS(y, np.ones(y.size)).fit(cov_type="cluster",
                                         cov_kwds={"groups": cust, "use_correction": False})
    iid = ((y - y.mean()) ** 2).sum() / y.size ** 2
    assert design_effect(y, cust) == pytest.approx(fit.bse[0] ** 2 / iid)
    assert design_effect(y, np.arange(y.size)) == 1.0


def test_clustered_intervals_keep_coverage_when_customers_answer_several_times():
    """Each customer answers 3 times with a shared customer effect: intervals that treat the
    responses as independent are too narrow; the clustered ones keep ~95 %."""
    rng = np.random.default_rng(12)
    hits, naive_hits, runs = 0, 0, 300
    p_true = None
    for _ in range(runs):
        u = rng.normal(0, 1.0, 40)
        latent = u[:, None] + rng.normal(0, 0.6, (40, 3))
        y = (latent > 0.0).astype(int).ravel()
        cust = np.repeat(np.arange(40), 3)
        scores = np.where(y == 1, 5, 2)
        p_true = 0.5
        e = top2box(scores, cust)
        naive = top2box(scores)
        hits += e.low <= p_true <= e.high
        naive_hits += naive.low <= p_true <= naive.high
        assert e.high - e.low >= naive.high - naive.low
    assert hits / runs >= 0.93 and naive_hits / runs < hits / runs


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
