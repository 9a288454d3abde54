import pandas as pd
import pytest

from clvkit.errors import ConfigError
from clvkit.tiers import STAGES, StageRules, lifecycle_stages

RULES = StageRules(new_days=70, loyal_min_purchases=4, loyal_min_p_alive=0.7, dormant_days=140,
                   dormant_p_alive=0.5, lost_p_alive=0.2)


def _one(frequency, recency, T, p_alive, rules=RULES, unit="D"):
    frame = pd.DataFrame({"frequency": [frequency], "recency": [recency], "T": [T],
                          "p_alive": [p_alive]}, index=pd.Index(["C1"], name="customer_id"))
    return lifecycle_stages(frame, rules, time_unit=unit).stage.iloc[0]


@pytest.mark.parametrize("frequency, recency, T, p_alive, expected", [
    (5, 100, 120, 0.1999, "lost"),        # just below the floor
    (5, 100, 120, 0.2, "dormant"),        # at the floor: not lost, but below the dormant band
    (5, 100, 120, 0.4999, "dormant"),
    (5, 100, 120, 0.5, "repeat"),         # at the band's top: active; loyal needs 0.7
    (5, 0, 140, 0.9, "loyal"),            # exactly dormant_days since the last purchase: active
    (5, 0, 140.01, 0.9, "dormant"),       # one step more: dormant
    (0, 0, 70, 1.0, "new"),               # single purchase exactly new_days ago
    (0, 0, 70.01, 1.0, "one-time"),
    (0, 0, 141, 1.0, "dormant"),
    (3, 50, 60, 0.9, "loyal"),            # 4 purchases (frequency 3) and p_alive >= 0.7
    (2, 50, 60, 0.9, "repeat"),           # 3 purchases
    (3, 50, 60, 0.7, "loyal"),            # p_alive exactly at the loyal minimum
    (3, 50, 60, 0.6999, "repeat"),
])
def test_stage_boundaries(frequency, recency, T, p_alive, expected):
    assert _one(frequency, recency, T, p_alive) == expected


def test_days_come_from_the_time_unit():
    # 10 weeks = 70 days = new_days: still new; 10.01 weeks: not
    assert _one(0, 0, 10, 1.0, unit="W") == "new"
    assert _one(0, 0, 10.01, 1.0, unit="W") == "one-time"


def test_prospects_and_definitions(scored):
    result = lifecycle_stages(scored, prospects=["P1"])
    assert result.stage.loc["P1"] == "prospect"
    assert len(result.stage) == 11 and result.stage.notna().all()
    assert list(result.stage.cat.categories) == list(STAGES)
    defs = result.definitions
    assert defs["customers"].sum() == 11
    assert "P(alive) < 0.2" in defs.set_index("stage").loc["lost", "rule"]


@pytest.mark.parametrize("kw, match", [
    ({"lost_p_alive": 0.6}, r"stages.lost_p_alive: lost_p_alive 0.6 is above dormant_p_alive"),
    ({"loyal_min_p_alive": 0.3}, r"stages.loyal_min_p_alive: loyal_min_p_alive 0.3 is below"),
    ({"loyal_min_purchases": 1}, r"stages.loyal_min_purchases: must be a whole number >= 2"),
    ({"dormant_p_alive": 1.5}, r"stages.dormant_p_alive: expected a number between 0 and 1"),
    ({"new_days": -1}, r"stages.new_days: must be a number of days"),
])
def test_bad_stage_params(kw, match):
    with pytest.raises(ConfigError, match=match):
        StageRules.from_params(kw)


def test_unknown_time_unit_is_an_error(scored):
    scored.attrs.clear()
    with pytest.raises(ConfigError, match="summary.time_unit"):
        lifecycle_stages(scored)
