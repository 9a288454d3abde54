import pandas as pd
import pytest

from clvkit.errors import ConfigError
from clvkit.tiers import churn_warning


def test_flags_low_p_alive_ranked_by_clv_at_risk(scored):
    # p_alive = 0.05, 0.15, 0.25, ... ; clv = 10, 20, 30 ...
    result = churn_warning(scored, p_alive_below=0.3, drop_more_than=None)
    w = result.watchlist
    # value if alive = clv / p_alive: 200, 133.3, 120; at risk × (1 − p_alive): 190, 113.3, 90.
    # (clv × (1 − p_alive) would count P(alive) twice and put C03 first.)
    assert w["customer_id"].tolist() == ["C01", "C02", "C03"]
    assert w["rank"].tolist() == [1, 2, 3]
    assert w["clv_at_risk"].tolist() == pytest.approx([10 / 0.05 * 0.95, 20 / 0.15 * 0.85,
                                                       30 / 0.25 * 0.75])
    assert w["clv_if_alive"].tolist() == pytest.approx([200, 20 / 0.15, 120])
    assert result.flagged == 3


def test_threshold_is_strict(scored):
    at = scored.assign(p_alive=0.3)
    assert churn_warning(at, p_alive_below=0.3, drop_more_than=None).flagged == 0


def test_drop_since_previous_run_and_top_n(scored):
    scored.loc[["C05", "C09", "C10"], "p_alive"] = [0.25, 0.5, 0.5]  # exact binary fractions
    scored["clv_at_risk"] = scored["clv"] * (1 - scored["p_alive"])
    previous = scored["p_alive"].copy()
    previous[["C05", "C09", "C10"]] = [0.75, 0.8125, 0.75]
    previous = previous.drop("C08")  # not in the previous run: not compared
    result = churn_warning(scored, p_alive_below=0.1, drop_more_than=0.25, previous=previous,
                           top_n=2, extra=pd.DataFrame({"tier": ["VIP"]}, index=["C09"]))
    w = result.watchlist
    # C09 fell 0.3125 (> 0.25), C05 fell 0.5; C10 fell exactly 0.25 (not more); C01 below 0.1
    assert result.flagged == 3
    # at risk: C01 10 / 0.05 × 0.95 = 190, C05 50 / 0.25 × 0.75 = 150, C09 90 / 0.5 × 0.5 = 90
    assert w["customer_id"].tolist() == ["C01", "C05"]
    assert w.loc[1, "reason"] == "P(alive) fell by more than 0.25"
    assert w.loc[1, "p_alive_change"] == pytest.approx(-0.5)
    assert w.loc[0, "reason"] == "P(alive) < 0.1"
    full = churn_warning(scored, p_alive_below=0.1, drop_more_than=0.25, previous=previous,
                         extra=pd.DataFrame({"tier": ["VIP"]}, index=["C09"])).watchlist
    assert full["customer_id"].tolist() == ["C01", "C05", "C09"]
    assert full.loc[2, "tier"] == "VIP" and pd.isna(full.loc[1, "tier"])


@pytest.mark.parametrize("kw, match", [
    ({"p_alive_below": 2}, r"churn_warning.p_alive_below"),
    ({"drop_more_than": -0.1}, r"churn_warning.drop_more_than"),
    ({"top_n": 0}, r"churn_warning.top_n: must be a whole number >= 1"),
])
def test_bad_warning_params(scored, kw, match):
    with pytest.raises(ConfigError, match=match):
        churn_warning(scored, **kw)
