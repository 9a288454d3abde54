import pandas as pd
import pytest

from clvkit.errors import ConfigError
from clvkit.tiers import assign_actions

TIERS = {"VIP": "account manager", "regular": "coupons", "potential": "offer"}


def _series():
    tier = pd.Series(pd.Categorical(["VIP", "VIP", "regular", "potential", "prospect"],
                                    categories=["VIP", "regular", "potential", "prospect"]),
                     index=list("abcde"))
    stage = pd.Series(["loyal", "dormant", "repeat", "new", "prospect"], index=list("abcde"))
    return tier, stage


def test_stage_action_takes_precedence_over_tier_action():
    tier, stage = _series()
    result = assign_actions(tier, stage, tiers=TIERS,
                            stages={"dormant": "win-back", "prospect": "welcome"},
                            prospect_label="prospect")
    assert result.action.tolist() == ["account manager", "win-back", "coupons", "offer", "welcome"]
    assert result.source.tolist() == ["tier", "stage", "tier", "tier", "stage"]
    assert len(result.table) == 5


def test_without_required_actions_missing_is_empty():
    tier, stage = _series()
    result = assign_actions(tier, stage, tiers={"VIP": "call"}, require_actions=False)
    assert result.action.isna().sum() == 3 and result.source.tolist()[2] == "none"


@pytest.mark.parametrize("tiers, stages, match", [
    ({"VIP": "x", "regular": "y"}, {}, r"playbook.tiers.potential: tier 'potential' has no action"),
    ({**TIERS, "VIPP": "x"}, {"prospect": "w"}, r"playbook.tiers.VIPP: 'VIPP' is not a tier label"),
    (TIERS, {"sleeping": "x"}, r"playbook.stages.sleeping: 'sleeping' is not a stage"),
    (TIERS, {"prospect": " "}, r"playbook.stages.prospect: empty action"),
])
def test_bad_playbooks_name_the_key(tiers, stages, match):
    tier, stage = _series()
    with pytest.raises(ConfigError, match=match):
        assign_actions(tier, stage, tiers=tiers, stages=stages, prospect_label="prospect")
