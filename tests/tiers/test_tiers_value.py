import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clvkit.errors import ConfigError, DataError
from clvkit.tiers import assign_tiers, tier_grid

RULES = [{"label": "VIP", "share": 0.1}, {"label": "regular", "share": 0.4},
         {"label": "potential", "share": 0.5}]


def test_quantile_tiers_follow_score_rank(scored):
    result = assign_tiers(scored, RULES)
    # 10 buyers: top 1 VIP, next 4 regular, last 5 potential (clv = 10 * id number)
    assert list(result.tier[result.tier == "VIP"].index) == ["C10"]
    assert sorted(result.tier[result.tier == "regular"].index) == ["C06", "C07", "C08", "C09"]
    assert list(result.definitions["customers"]) == [1, 4, 5]
    assert result.labels == ["VIP", "regular", "potential"]


def test_prospects_get_their_own_tier_last(scored):
    result = assign_tiers(scored, RULES, prospects=["P1", "P2"], prospect_label="潜在")
    assert result.tier.loc[["P1", "P2"]].tolist() == ["潜在", "潜在"]
    assert result.labels[-1] == "潜在" and len(result.tier) == 12
    assert result.definitions.iloc[-1]["customers"] == 2


def test_ties_broken_by_customer_id(scored):
    same = scored.assign(clv=5.0)
    result = assign_tiers(same, RULES)
    assert result.tier.loc["C01"] == "VIP"  # equal scores: lowest customer_id ranks first
    assert result.tier.loc[["C02", "C03", "C04", "C05"]].eq("regular").all()
    shuffled = same.sample(frac=1.0, random_state=1)
    again = assign_tiers(shuffled, RULES).tier.reindex(result.tier.index)
    assert again.astype(str).equals(result.tier.astype(str))


def test_chinese_labels_and_other_scores(scored):
    rules = [{"label": "VIP客户", "share": 0.2}, {"label": "普通客户", "share": 0.3},
             {"label": "潜在客户", "share": 0.5}]
    result = assign_tiers(scored, rules, score="frequency")
    assert result.tier.loc[["C09", "C10"]].eq("VIP客户").all()
    assert result.tier.loc["C01"] == "潜在客户"


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 400),
       cuts=st.lists(st.integers(1, 99), min_size=1, max_size=6, unique=True), seed=st.integers(0, 10))
def test_every_customer_in_one_tier_and_shares_within_one(n, cuts, seed):
    bounds = [0, *sorted(cuts), 100]
    shares = [(b - a) / 100 for a, b in zip(bounds, bounds[1:])]
    shares[-1] = 1.0 - sum(shares[:-1])
    rules = [{"label": f"t{i}", "share": s} for i, s in enumerate(shares)]
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"clv": rng.integers(0, 5, n).astype(float)},
                         index=[f"C{i:04d}" for i in range(n)])
    tier = assign_tiers(frame, rules, prospects=["X1"]).tier
    assert tier.index.is_unique and len(tier) == n + 1 and tier.notna().all()
    counts = tier.value_counts()
    for rule in rules:
        assert abs(counts[rule["label"]] - rule["share"] * n) <= 1
    # higher tiers never hold a lower score than lower tiers
    codes = tier.drop("X1").cat.codes
    worst_of = frame["clv"].groupby(codes).min()
    best_of = frame["clv"].groupby(codes).max()
    assert all(worst_of.iloc[i] >= best_of.iloc[i + 1] for i in range(len(worst_of) - 1))


def test_threshold_boundaries(scored):
    rules = [{"label": "A", "min": 80}, {"label": "B", "min": 30}, {"label": "C"}]
    tier = assign_tiers(scored, rules, method="threshold").tier
    assert tier.loc["C08"] == "A"  # clv 80 == min: in A
    assert tier.loc["C07"] == "B"  # clv 70
    assert tier.loc["C03"] == "B"  # clv 30 == min: in B
    assert tier.loc["C02"] == "C"  # clv 20
    assert tier.value_counts().to_dict() == {"A": 3, "B": 5, "C": 2}


def test_threshold_below_lowest_min_is_an_error(scored):
    with pytest.raises(DataError, match=r"2 customers score below the lowest threshold 30.*C01"):
        assign_tiers(scored, [{"label": "A", "min": 80}, {"label": "B", "min": 30}],
                     method="threshold")


@pytest.mark.parametrize("rules, method, kw, match", [
    ([{"label": "A", "share": 0.5}, {"label": "B", "share": 0.4}], "quantile", {},
     r"tiers.rules: quantile shares sum to 0.9, not 1"),
    ([{"label": "A", "share": 0.5}, {"label": "B"}], "quantile", {}, r"tiers.rules\[1\].share"),
    ([{"label": "A", "min": 10}, {"label": "B", "min": 10}], "threshold", {},
     r"tiers.rules\[1\].min: thresholds overlap"),
    ([{"label": "A"}, {"label": "B", "min": 1}], "threshold", {}, r"tiers.rules\[0\].min"),
    ([{"label": "A", "share": 0.5}, {"label": "A", "share": 0.5}], "quantile", {},
     r"tiers.rules\[1\].label: label 'A' is used twice"),
    (RULES, "quantile", {"score": "clvv"}, r"tiers.score: unknown score column 'clvv'"),
    (RULES, "median", {}, r"tiers.method: unknown method 'median'"),
    ([], "quantile", {}, r"tiers.rules: no tier rules"),
    (RULES, "quantile", {"prospect_label": "VIP", "prospects": ["P1"]}, r"tiers.prospect_label"),
])
def test_bad_params_name_the_key(scored, rules, method, kw, match):
    with pytest.raises(ConfigError, match=match):
        assign_tiers(scored, rules, method=method, **kw)


def test_missing_score_and_double_prospect_are_data_errors(scored):
    with pytest.raises(DataError, match=r"'clv': tier score: 1 customers have no value.*C03"):
        assign_tiers(scored.assign(clv=scored["clv"].where(scored.index != "C03")), RULES)
    with pytest.raises(DataError, match=r"1 customers are both scored buyers and prospects"):
        assign_tiers(scored, RULES, prospects=["C01"])


def test_grid_by_category_keeps_everyone(scored):
    tier = assign_tiers(scored, RULES, prospects=["P1"]).tier
    region = pd.Series(["N", "S"] * 5, index=scored.index)  # P1 has no region
    grid = tier_grid(tier, region, column="region")
    assert grid.tier_2d.loc["C10"] == "VIP / S"
    assert grid.tier_2d.loc["P1"] == "prospect / (missing)"
    assert grid.counts.to_numpy().sum() == 11
    assert grid.counts.loc["regular"].to_dict() == {"N": 2, "S": 2, "(missing)": 0}


def test_grid_by_quantile_of_engagement(scored):
    tier = assign_tiers(scored, RULES).tier
    interactions = pd.Series(np.arange(10), index=scored.index[::-1])  # C10 has 0
    grid = tier_grid(tier, interactions, column="interactions", method="quantile",
                     rules=[{"label": "high", "share": 0.5}, {"label": "low", "share": 0.5}])
    assert grid.second.loc["C10"] == "low" and grid.second.loc["C01"] == "high"
    assert grid.counts.loc["potential", "high"] == 5


def test_grid_bad_params(scored):
    tier = assign_tiers(scored, RULES).tier
    with pytest.raises(ConfigError, match=r"tiers.second_dimension.method: column 'region' is not"):
        tier_grid(tier, pd.Series("N", index=scored.index), column="region", method="quantile",
                  rules=RULES)
    with pytest.raises(ConfigError, match=r"tiers.second_dimension.rules: method 'threshold'"):
        tier_grid(tier, scored["frequency"], column="frequency", method="threshold")


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 300), shares=st.lists(st.integers(0, 5), min_size=2, max_size=5),
       seed=st.integers(0, 2**16), text_ids=st.booleans())
def test_tier_cuts_equal_a_plain_sort_reference(n, shares, seed, text_ids):
    """The shared cuts (clvkit.tiers.quantile_cuts / tier_codes, used by the Spark engine per
    partition) against sort_values + cumulative counts, with heavy ties and empty tiers."""
    from clvkit.tiers import quantile_cuts, ranked_cut, tier_bounds, tier_codes

    if sum(shares) == 0:
        shares = [1] + shares[1:]
    share = [s / sum(shares) for s in shares]
    rng = np.random.default_rng(seed)
    ids = rng.permutation(n) + 1000
    ids = np.array([f"c{i}" for i in ids], dtype=object) if text_ids else ids
    score = pd.Series(rng.integers(0, 5, n).astype(float), index=ids)  # many ties
    ranked = score.to_frame("s").assign(i=ids).sort_values(["s", "i"], ascending=[False, True])
    bounds = np.rint(np.cumsum(share) * n).astype(int)
    expected = pd.Series(np.searchsorted(bounds[:-1], np.arange(n), side="right"),
                         index=ranked.index).reindex(ids).to_numpy()
    cuts = quantile_cuts(score, share)
    assert (tier_codes(score.to_numpy(), ids, cuts) == expected).all()
    # a band around a cut ranks to the same cut (what the Spark engine does on the driver)
    for b, cut in zip(tier_bounds(share, n), cuts):
        if b > 0:
            lo = max(b - 1 - 3, 0)
            band = ranked.iloc[lo:b + 3]
            assert ranked_cut(band["s"].to_numpy(), band["i"].to_numpy(), b - 1 - lo) == cut
    if min(share) == 0:  # params need shares > 0; the cuts above allow empty tiers
        return
    labels = [f"t{k}" for k in range(len(share))]
    got = assign_tiers(score.to_frame("clv"), [{"label": lab, "share": s}
                                               for lab, s in zip(labels, share)])
    assert (got.tier.cat.codes.to_numpy() == expected).all()
