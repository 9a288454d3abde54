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


def test_stage_action_takes_precedence_over_tier_action_except_for_the_top_tier():
    tier, stage = _series()
    stage.iloc[3] = "dormant"                   # a dormant potential customer
    result = assign_actions(tier, stage, tiers=TIERS,
                            stages={"dormant": "win-back", "prospect": "welcome"},
                            prospect_label="prospect")
    # the dormant VIP keeps the VIP action (a generic stage rule never downgrades the top tier)
    assert result.action.tolist() == ["account manager", "account manager", "coupons",
                                      "win-back", "welcome"]
    assert result.source.tolist() == ["tier", "tier", "tier", "stage", "stage"]
    assert len(result.table) == 5


def test_table_cells_come_first_and_protection_can_be_chosen():
    tier, stage = _series()
    table = {"VIP": {"dormant": "personal save call"}}
    r = assign_actions(tier, stage, tiers=TIERS, stages={"dormant": "win-back",
                                                         "prospect": "welcome"},
                       table=table, prospect_label="prospect")
    assert r.action.tolist()[:2] == ["account manager", "personal save call"]
    assert r.source.tolist()[1] == "table"
    # protect nobody: the generic stage action applies to VIPs too (the old precedence)
    r = assign_actions(tier, stage, tiers=TIERS, stages={"dormant": "win-back",
                                                         "prospect": "welcome"},
                       prospect_label="prospect", protect=())
    assert r.action.tolist()[1] == "win-back"


def test_check_playbook_reports_every_combination_without_action():
    from clvkit.tiers import check_playbook, playbook_gaps
    labels = ["VIP", "regular", "prospect"]
    grid = check_playbook(labels, {"VIP": "call"}, {"dormant": "win-back"},
                          require_actions=False, prospect_label="prospect")
    gaps = playbook_gaps(grid)
    # regular has no action except when dormant: 5 of its 6 stages; the prospect tier: 1
    assert sorted(map(tuple, gaps.to_numpy())) == sorted(
        [("regular", s) for s in ("new", "one-time", "repeat", "loyal", "lost")]
        + [("prospect", "prospect")])
    assert len(grid) == 2 * 6 + 1
    with pytest.raises(ConfigError, match=r"playbook.tiers.regular: tier 'regular' has no action "
                                          r"\(6 tier × stage combinations have none: regular × "
                                          r"new, regular × one-time"):
        check_playbook(labels, {"VIP": "call"}, {"dormant": "win-back"}, require_actions=True,
                       prospect_label="prospect")


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


@pytest.mark.parametrize("kw, match", [
    (dict(table={"VIPP": {"lost": "x"}}), r"playbook.table.VIPP: 'VIPP' is not a tier label"),
    (dict(table={"VIP": {"gone": "x"}}), r"playbook.table.VIP.gone: 'gone' is not a stage"),
    (dict(table={"VIP": {"lost": ""}}), r"playbook.table.VIP.lost: empty action"),
    (dict(protect=["VIPs"]), r"playbook.protect: 'VIPs' is not a tier label"),
])
def test_bad_table_or_protect_name_the_key(kw, match):
    tier, stage = _series()
    with pytest.raises(ConfigError, match=match):
        assign_actions(tier, stage, tiers=TIERS, stages={"prospect": "w"},
                       prospect_label="prospect", **kw)
