"""One owner per rule: config loading and the library give the same verdict on the same rules.

Each case is a params fragment and the library call that uses it; a bad fragment must fail at
config load with the library's own message (and the params file named), a good one must pass
both. So the rules cannot drift apart again (config once accepted stage thresholds that
``StageRules`` rejected only at scoring).
"""
from __future__ import annotations

import pytest
import yaml

from clvkit import config, impact, tiers
from clvkit.errors import ConfigError
from clvkit.models import registry

BASE = {"scenario": "t", "data": {"source": "cdnow"}, "satisfaction": {"enabled": False},
        "impact": {"enabled": False}}


def _cfg(**sections):
    return config.Config.from_dict({**BASE, **sections})


def _library_tiers(section):
    s = {"method": "quantile", "prospect_label": "prospect", **section}
    rules = s.get("rules", [{"label": "VIP", "share": 0.1}, {"label": "regular", "share": 0.4},
                            {"label": "potential", "share": 0.5}])
    tiers.parse_rules(rules, s["method"], "tiers", prospect_label=s["prospect_label"])


def _library_stages(section):
    tiers.StageRules.from_params(section, key="stages")


def _library_grid(section):
    tiers.check_grid_rules(section.get("method", "quantile"), section.get("rules", ()),
                           "tiers.second_dimension")


def _library_segments(section):
    tiers.parse_segments(section.get("mapping") or None, key="segments.mapping")


def _library_playbook(section):
    labels = ("VIP", "regular", "potential", "prospect")
    tiers.check_playbook(labels, section.get("tiers"), section.get("stages"),
                         require_actions=section.get("require_actions", False),
                         prospect_label="prospect", table=section.get("table"),
                         protect=section.get("protect"))


def _library_impact(section):
    impact.check_outcomes(section["outcomes"], key="impact.outcomes")


def _library_assignment(section):
    impact.check_assignment(section.get("assignment", "random"), section.get("rule"),
                            key="impact")


def _library_churn(section):
    from clvkit import retention
    retention.check_churn_definition(section["churn_definition"],
                                     key="retention.churn_definition")


def _library_model(section):
    registry.get(section["transaction"], kind="purchase")


CASES = [  # (section, fragment, library check, expected key or None when good)
    ("tiers", {"rules": [{"label": "A", "share": 0.3}, {"label": "B", "share": 0.7}]},
     _library_tiers, None),
    ("tiers", {"rules": [{"label": "A", "share": 0.3}, {"label": "B", "share": 0.6}]},
     _library_tiers, "tiers.rules"),
    ("tiers", {"rules": [{"label": "A", "share": 0.5}, {"label": "A", "share": 0.5}]},
     _library_tiers, r"tiers.rules\[1\].label"),
    ("tiers", {"method": "threshold", "rules": [{"label": "A", "min": 10}, {"label": "B", "min": 20}]},
     _library_tiers, r"tiers.rules\[1\].min"),
    ("tiers", {"method": "threshold", "rules": [{"label": "A", "share": 0.5}, {"label": "B"}]},
     _library_tiers, r"tiers.rules\[0\].share"),
    ("tiers", {"prospect_label": "VIP"}, _library_tiers, "tiers.prospect_label"),
    ("stages", {"loyal_min_p_alive": 0.3, "dormant_p_alive": 0.5}, _library_stages,
     "stages.loyal_min_p_alive"),
    ("stages", {"lost_p_alive": 0.6, "dormant_p_alive": 0.5}, _library_stages,
     "stages.lost_p_alive"),
    ("stages", {"new_days": 30, "dormant_days": 90}, _library_stages, None),
    ("segments", {"mapping": {"5[45]": "champions"}}, _library_segments, "segments.mapping"),
    ("playbook", {"tiers": {"VIP": "call"}, "stages": {"dormant": "win back"}},
     _library_playbook, None),
    ("playbook", {"stages": {"asleep": "win back"}}, _library_playbook, "playbook.stages.asleep"),
    ("playbook", {"table": {"VIP": {"lost": "save call"}}, "protect": ["VIP", "regular"]},
     _library_playbook, None),
    ("playbook", {"table": {"VIP": {"gone": "save call"}}}, _library_playbook,
     "playbook.table.VIP.gone"),
    ("playbook", {"protect": ["VIPs"]}, _library_playbook, "playbook.protect"),
    ("impact", {"enabled": False, "assignment": "rule", "rule": "top spenders"},
     _library_assignment, None),
    ("impact", {"enabled": False, "assignment": "rule"}, _library_assignment, "impact.rule"),
    ("retention", {"churn_definition": "p_alive"}, _library_churn, None),
    ("retention", {"churn_definition": "gone"}, _library_churn,
     "retention.churn_definition"),
    ("playbook", {"require_actions": True, "tiers": {"VIP": "call"}}, _library_playbook,
     "playbook.tiers.regular"),
    ("impact", {"enabled": False, "outcomes": ["csat", "csat"]}, _library_impact,
     "impact.outcomes"),
    ("impact", {"enabled": False, "outcomes": ["happiness"]}, _library_impact, "impact.outcomes"),
    ("model", {"transaction": "bgnbdd"}, _library_model, "model.transaction"),
    ("model", {"transaction": "paretonbd"}, _library_model, None),
]


@pytest.mark.parametrize("section, fragment, library, key", CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_config_and_library_give_the_same_verdict(section, fragment, library, key):
    if section == "tiers" and "rules" not in fragment:
        params = {section: fragment}
    elif section == "second_dimension":
        params = {"tiers": {"second_dimension": fragment}}
    else:
        params = {section: fragment}
    if key is None:
        _cfg(**params)
        library(fragment)
        return
    with pytest.raises(ConfigError, match=key) as lib_err:
        library(fragment)
    with pytest.raises(ConfigError, match=key) as cfg_err:
        _cfg(**params)
    assert cfg_err.value.problem == lib_err.value.problem


@pytest.mark.parametrize("fragment, key", [
    ({"column": "stage", "method": "categories", "rules": [{"label": "x", "share": 1.0}]},
     "tiers.second_dimension.rules"),
    ({"column": "frequency", "method": "quantile", "rules": [{"label": "hi", "share": 0.6},
                                                              {"label": "lo", "share": 0.6}]},
     "tiers.second_dimension.rules"),
])
def test_second_dimension_rules_have_one_owner(fragment, key):
    with pytest.raises(ConfigError, match=key) as lib_err:
        _library_grid(fragment)
    with pytest.raises(ConfigError, match=key) as cfg_err:
        _cfg(tiers={"second_dimension": fragment})
    assert cfg_err.value.problem == lib_err.value.problem


def test_a_bad_rule_names_the_params_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({**BASE, "stages": {"loyal_min_p_alive": 0.3}}))
    with pytest.raises(ConfigError, match="stages.loyal_min_p_alive") as err:
        config.load(path)
    assert "bad.yaml" in str(err.value)


def test_the_registry_is_what_config_pipeline_and_display_read():
    from clvkit import display, pipeline

    purchase = registry.purchase_models()
    assert list(purchase) == ["bgnbd", "paretonbd", "mbgnbd", "bgcnbd", "mbgcnbd", "ggomnbd"]
    for key, spec in registry.MODELS.items():
        assert display.MODEL_NAMES[key] == display.MODEL_NAMES[spec.cls.__name__] == spec.name
        assert registry.model_name(spec.cls) == spec.name
    from clvkit.datasets import load_cdnow
    from clvkit.rfm import rfm_summary

    summary = rfm_summary(load_cdnow(), observation_end="1998-06-30", time_unit="W")
    _, comparison = pipeline.fit_transaction_model(_cfg(model={"transaction": "best"}), summary)
    assert registry.default_candidates() == tuple(purchase)       # every purchase model
    # without litt in the summary the CNBD-k models are left out, with the reason
    assert sorted(comparison["model"]) == ["bgnbd", "ggomnbd", "mbgnbd", "paretonbd"]
    assert sorted(comparison.attrs["skipped"]) == ["bgcnbd", "mbgcnbd"]
    # listed candidates: one needing a column the summary lacks is left out, with the reason
    cfg = _cfg(model={"transaction": "best", "candidates": ["paretonbd", "ggomnbd", "bgcnbd"]})
    _, comparison = pipeline.fit_transaction_model(cfg, summary)
    assert sorted(comparison["model"]) == ["ggomnbd", "paretonbd"]
    assert list(comparison.attrs["skipped"]) == ["bgcnbd"]
    assert "no litt column" in comparison.attrs["skipped"]["bgcnbd"]
    with_litt = rfm_summary(load_cdnow(), observation_end="1998-06-30", time_unit="W", litt=True)
    cfg = _cfg(model={"transaction": "best", "candidates": ["bgnbd", "bgcnbd"]})
    _, comparison = pipeline.fit_transaction_model(cfg, with_litt)
    assert sorted(comparison["model"]) == ["bgcnbd", "bgnbd"]
    assert pipeline._needs_litt(cfg)
    with pytest.raises(ConfigError, match=r"model\.candidates\[1\]: unknown model 'bgnbx'"):
        _cfg(model={"transaction": "best", "candidates": ["bgnbd", "bgnbx"]})
