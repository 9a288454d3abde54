import itertools

import numpy as np
import pandas as pd
import pytest

from clvkit.errors import ConfigError, DataError
from clvkit.tiers import (DEFAULT_SEGMENTS, kmeans_segments, parse_segments, quantile_score,
                          rfm_scores, rfm_segments)
from clvkit.tiers.rfm import _matches


def test_quantile_score_of_distinct_values_is_quintiles():
    s = quantile_score(pd.Series([3.0, 1, 4, 1.5, 9, 2, 6, 5, 8, 7]))
    # sorted positions 0..9 -> scores 1,1,2,2,3,3,4,4,5,5
    assert s.tolist() == [2, 1, 3, 1, 5, 2, 4, 3, 5, 4]


def test_ties_share_a_score_and_take_their_lowest_position():
    values = pd.Series([0, 0, 0, 0, 0, 0, 1, 2, 3, 4])
    s = quantile_score(values)
    assert s[:6].eq(1).all()  # every one-time buyer: F = 1
    assert s[6:].tolist() == [4, 4, 5, 5]


def test_constant_column_gets_the_middle_score():
    assert quantile_score(pd.Series([7.0] * 4)).eq(3).all()
    assert quantile_score(pd.Series([7.0] * 4), bins=3).eq(2).all()


def test_missing_value_is_an_error():
    with pytest.raises(DataError, match=r"column 'monetary_value': 1 customers have no value"):
        quantile_score(pd.Series([1.0, np.nan], name="monetary_value"))


def test_rfm_scores_directions(scored):
    scores = rfm_scores(scored)
    # C10: bought most recently (gap 5 weeks), most often, highest spend
    assert scores.loc["C10"].tolist() == [5, 5, 5, 555]
    assert scores.loc["C01"].tolist() == [1, 1, 1, 111]
    assert scores["rfm_score"].equals(100 * scores.r_score + 10 * scores.f_score + scores.m_score)


def test_default_segments_partition_every_cell():
    for r, f, m in itertools.product(range(1, 6), repeat=3):
        hits = [rule.name for rule in DEFAULT_SEGMENTS if _matches(rule, r, f, m)]
        assert len(hits) == 1, (r, f, m, hits)
    names = {rule.name for rule in DEFAULT_SEGMENTS}
    assert names == {"champions", "loyal", "potential loyalist", "new", "promising",
                     "need attention", "at risk", "can't lose", "hibernating", "lost"}


def test_default_segment_names():
    scores = pd.DataFrame({"r_score": [5, 5, 1, 1, 2, 4, 3],
                           "f_score": [5, 1, 1, 5, 3, 1, 2],
                           "m_score": [1, 1, 5, 1, 1, 1, 1]})
    seg = rfm_segments(scores).segment.astype(str).tolist()
    assert seg == ["champions", "new", "lost", "can't lose", "at risk", "promising",
                   "need attention"]


def test_pattern_mapping_from_params_first_match_wins():
    mapping = {"5": "recent", "[1-4][4-5]": "frequent", ".": "other"}
    scores = pd.DataFrame({"r_score": [5, 4, 2], "f_score": [5, 5, 1], "m_score": [3, 3, 3]})
    result = rfm_segments(scores, mapping)
    assert result.segment.astype(str).tolist() == ["recent", "frequent", "other"]
    assert result.definitions["customers"].tolist() == [1, 1, 1]


def test_range_mapping_in_code():
    rules = parse_segments({"top": {"r": [4, 5], "f": "4-5"}, "rest": {}})
    assert rules[0].r == (4, 5) and rules[0].f == (4, 5) and rules[1].m == (1, 5)


@pytest.mark.parametrize("mapping, match", [
    ({"5": "recent"}, r"segments.mapping: no segment covers R=1, F=1, M=1"),
    ({"[": "bad", ".": "x"}, r"segments.mapping.\[: '\[' is not a valid pattern"),
    ({"9": "never", ".": "x"}, r"segments.mapping.9: pattern '9' matches no R F M score"),
    ({"top": {"r": [4, 7]}, "rest": {}}, r"segments.mapping.top.r: expected a score range"),
])
def test_bad_segment_mappings(mapping, match):
    with pytest.raises(ConfigError, match=match):
        parse_segments(mapping)


def _planted(n_per=60, seed=3):
    """Three well-separated groups of buyers: loyal big spenders, casual, lapsed one-timers."""
    rng = np.random.default_rng(seed)
    groups = []
    for freq, gap, spend, clv in ((20, 1, 200, 2000), (4, 10, 40, 150), (0, 60, 0, 2)):
        g = pd.DataFrame({"frequency": rng.poisson(freq, n_per) if freq else np.zeros(n_per),
                          "gap": gap * rng.uniform(0.8, 1.25, n_per),
                          "monetary_value": spend * rng.uniform(0.8, 1.25, n_per),
                          "clv": clv * rng.uniform(0.8, 1.25, n_per)})
        groups.append(g)
    frame = pd.concat(groups, ignore_index=True)
    frame["T"] = 80.0
    frame["recency"] = frame["T"] - frame.pop("gap")
    frame["p_alive"] = 0.5
    frame.index = pd.Index([f"C{i:03d}" for i in range(len(frame))], name="customer_id")
    return frame


def test_kmeans_recovers_planted_groups_and_describes_them():
    frame = _planted()
    result = kmeans_segments(frame)
    assert result.k == 3
    assert result.silhouette.idxmax() == 3 and set(result.silhouette.index) == set(range(2, 9))
    truth = np.repeat([1, 2, 3], 60)  # clusters are numbered by mean CLV, highest first
    assert (result.cluster.to_numpy() == truth).all()
    desc = result.profiles.set_index("cluster")["description"]
    assert {"recent", "frequent", "high spend", "high CLV"} <= set(desc[1].split(", "))
    assert {"lapsed", "infrequent", "low spend", "low CLV"} <= set(desc[3].split(", "))
    assert result.profiles["customers"].sum() == len(frame)
    again = kmeans_segments(frame.sample(frac=1.0, random_state=0))
    assert again.cluster.reindex(frame.index).equals(result.cluster)


def test_kmeans_needs_enough_distinct_customers(scored):
    with pytest.raises(DataError, match="too few to cluster"):
        kmeans_segments(pd.concat([scored.iloc[:1]] * 5))
