import pandas as pd
import pytest

from clvkit.tiers import assign_tiers, tier_profiles


def test_profiles_by_hand(scored):
    tier = assign_tiers(scored, [{"label": "top", "share": 0.2}, {"label": "rest", "share": 0.8}],
                        prospects=["P1", "P2"]).tier
    revenue = pd.Series(10.0, index=scored.index)
    revenue["C10"] = 110.0  # total revenue 200
    customers = pd.DataFrame({"customer_id": [*scored.index, "P1", "P2"],
                              "region": ["N"] * 5 + ["S"] * 5 + ["N", None]})
    result = tier_profiles(tier, scored, revenue=revenue, customers=customers)
    s = result.summary.set_index("tier")
    assert s["customers"].tolist() == [2, 8, 2]
    assert s.loc["top", "revenue_share"] == pytest.approx(120 / 200)
    assert s.loc["prospect", "revenue"] == 0.0
    assert s.loc["top", "clv_mean"] == pytest.approx(95.0)
    assert s.loc["top", "clv_share"] == pytest.approx(190 / 550)
    assert s.loc["rest", "p_alive_mean"] == pytest.approx(scored["p_alive"].iloc[:8].mean())
    assert pd.isna(s.loc["prospect", "clv_mean"])
    mix = result.mix.set_index(["tier", "attribute", "value"])
    assert mix.loc[("top", "region", "S"), "share"] == 1.0
    assert mix.loc[("prospect", "region", "(missing)"), "customers"] == 1
    assert mix.groupby("tier")["share"].sum().tolist() == pytest.approx([1.0, 1.0, 1.0])
