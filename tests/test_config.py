"""Params files: typed config, one clear ConfigError per bad key (issue 2 item 6, issue 4 bad params)."""
from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import pandas as pd
import pytest
import yaml

from clvkit import config
from clvkit.config import Config
from clvkit.errors import ConfigError

PARAMS = Path(__file__).resolve().parents[1] / "params"
MINIMAL = {"scenario": "demo", "data": {"source": "simulate"}}


def make(**sections) -> dict:
    d = copy.deepcopy(MINIMAL)
    d.update(sections)
    return d


def build(d, source=None):
    return Config.from_dict(d, source=source)


# ------------------------------------------------------------------------ shipped scenarios
@pytest.mark.parametrize("name", sorted(p.stem for p in PARAMS.glob("*.yaml")))
def test_every_shipped_params_file_validates(name):
    cfg = config.load(PARAMS / f"{name}.yaml")
    assert cfg.scenario == name
    assert cfg.source == (PARAMS / f"{name}.yaml").resolve()


def test_retail_is_simulated_with_fixed_seed_and_10_40_50_tiers():
    cfg = config.load(PARAMS / "retail.yaml")
    assert cfg.data.source == "simulate"
    assert cfg.data.simulate.seed == 42 and cfg.data.simulate.customers == 5000
    assert [(r.label, r.share) for r in cfg.tiers.rules] == [
        ("VIP", 0.10), ("regular", 0.40), ("potential", 0.50)]
    assert cfg.playbook.require_actions and set(cfg.playbook.tiers) == set(cfg.tiers.labels)


def test_retail_zh_has_chinese_labels_with_actions():
    cfg = config.load(PARAMS / "retail_zh.yaml")
    assert [r.label for r in cfg.tiers.rules] == ["VIP客户", "普通客户", "潜在客户"]
    assert cfg.playbook.tiers["普通客户"]


def test_cdnow_is_weekly_with_published_calibration_split_and_no_survey_sections():
    cfg = config.load(PARAMS / "cdnow.yaml")
    assert cfg.data.source == "cdnow"
    assert cfg.summary.time_unit == "W"
    assert cfg.summary.calibration_end == pd.Timestamp("1997-09-30")
    assert cfg.cleaning.observation_end == pd.Timestamp("1998-06-30")
    assert not cfg.satisfaction.enabled and not cfg.impact.enabled


# ------------------------------------------------------------------------------ defaults
def test_minimal_config_has_documented_defaults():
    cfg = build(MINIMAL)
    assert cfg.value.horizon == 12.0 and cfg.value.horizon_unit == "M"
    assert cfg.summary.time_unit == "W" and cfg.summary.engine == "pandas"
    assert cfg.spark.master == "local[2]"
    assert cfg.display_title == "demo"
    assert sum(r.share for r in cfg.tiers.rules) == pytest.approx(1.0, abs=1e-12)


def test_config_is_frozen():
    cfg = build(MINIMAL)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.scenario = "other"  # type: ignore[misc]


def test_dates_are_parsed_from_yaml_dates_and_iso_strings():
    cfg = build(make(cleaning={"observation_end": "2024-06-30"},
                     summary={"calibration_end": yaml.safe_load("d: 2024-01-31")["d"]}))
    assert cfg.cleaning.observation_end == pd.Timestamp("2024-06-30")
    assert cfg.summary.calibration_end == pd.Timestamp("2024-01-31")


def test_relative_paths_resolve_against_the_params_folder(tmp_path):
    (tmp_path / "sub").mkdir()
    p = tmp_path / "sub" / "shop.yaml"
    p.write_text(yaml.safe_dump({
        "scenario": "shop", "previous_run": "../old/tiers.csv",
        "data": {"source": "files", "transactions": {"path": "data/tx.csv", "customer_id": "cid"}},
        "satisfaction": {"enabled": False}, "impact": {"enabled": False}}))
    cfg = config.load(p)
    assert cfg.data.transactions.path == (tmp_path / "sub" / "data" / "tx.csv").resolve()
    assert cfg.data.transactions.location == cfg.data.transactions.path
    assert cfg.data.transactions.customer_id == "cid"
    assert cfg.previous_run == (tmp_path / "old" / "tiers.csv").resolve()


def test_absolute_path_and_database_url_are_kept():
    cfg = build(make(data={"source": "files",
                           "transactions": {"url": "postgresql://bob@db/shop", "table": "orders"},
                           "customers": {"path": "/abs/customers.parquet"},
                           "surveys": {"url": "sqlite:////abs/shop.db", "table": "s"}},
                     satisfaction={"enabled": False}, impact={"enabled": False}))
    assert cfg.data.transactions.location == "postgresql://bob@db/shop"
    assert cfg.data.customers.path == Path("/abs/customers.parquet")
    assert cfg.data.surveys.location == "sqlite:////abs/shop.db"


def test_relative_sqlite_url_resolves_like_a_path():
    """issue 11 item 13: like ``path:``, against the params file's folder (here the cwd)."""
    cfg = build(make(data={"source": "files",
                           "transactions": {"url": "sqlite:///data/shop.db?mode=ro", "table": "o"}},
                     satisfaction={"enabled": False}, impact={"enabled": False}))
    assert cfg.data.transactions.location == f"sqlite:///{Path.cwd() / 'data' / 'shop.db'}?mode=ro"


def test_to_dict_round_trips():
    cfg = config.load(PARAMS / "retail.yaml")
    d = cfg.to_dict()
    yaml.safe_dump(d)  # plain python only
    d.pop("source")
    again = Config.from_dict(d, source=cfg.source)
    assert again == cfg


def test_spark_conf_accepts_scalars():
    cfg = build(make(spark={"conf": {"spark.sql.shuffle.partitions": 4,
                                     "spark.ui.enabled": False}}))
    assert cfg.spark.conf == {"spark.sql.shuffle.partitions": 4, "spark.ui.enabled": False}


def test_threshold_tiers_with_catch_all_last_rule():
    cfg = build(make(tiers={"method": "threshold", "score": "clv", "rules": [
        {"label": "core", "min": 1000}, {"label": "important", "min": 200},
        {"label": "general"}]}))
    assert [r.min for r in cfg.tiers.rules] == [1000.0, 200.0, None]


def test_second_dimension_by_categories_and_by_quantile():
    cfg = build(make(tiers={"second_dimension": {"column": "stage", "method": "categories"}}))
    assert cfg.tiers.second_dimension.column == "stage"
    cfg = build(make(tiers={"second_dimension": {"column": "interactions", "rules": [
        {"label": "engaged", "share": 0.3}, {"label": "quiet", "share": 0.7}]}}))
    assert cfg.tiers.second_dimension.rules[1].label == "quiet"


# ---------------------------------------------------------------------- errors: structure
BAD = [
    # (dict, regex the single-line message must match)
    ({"data": {"source": "simulate"}}, r"scenario: required key is missing"),
    ({"scenario": "x"}, r"data: required key is missing"),
    ({"scenario": "x", "data": {}}, r"data\.source: required key is missing"),
    (make(tier={}), r"tier: unknown key; did you mean 'tiers'\?"),
    (make(tiers={"rules": [{"label": "a", "share": 0.5}, {"label": "b", "sahre": 0.5}]}),
     r"tiers\.rules\[1\]\.sahre: unknown key; did you mean 'share'\?"),
    (make(model={"zzz": 1}), r"model\.zzz: unknown key \(valid: transaction, candidates, spend, penalizer, ci_level, covariates\)"),
    (make(tiers={"rules": [{"label": "a", "share": 0.5}, {"label": "b", "share": "half"}]}),
     r"tiers\.rules\[1\]\.share: must be a number, got 'half'"),
    (make(tiers={"rules": [{"share": 1.0}]}), r"tiers\.rules\[0\]\.label: required key is missing"),
    (make(tiers={"rules": {"label": "a"}}), r"tiers\.rules: must be a list, got a mapping"),
    (make(tiers="VIP"), r"tiers: must be a mapping of keys, got text 'VIP'"),
    (make(tiers={"rules": [{"label": 1, "share": 1.0}]}),
     r"tiers\.rules\[0\]\.label: must be text, got an integer 1; fix: put it in quotes"),
    (make(data={"source": "simulat"}),
     r"data\.source: 'simulat' is not one of simulate, files, cdnow; did you mean 'simulate'\?"),
    (make(summary={"time_unit": "Q"}), r"summary\.time_unit: 'Q' is not one of D, W, M, Y"),
    (make(export={"csv_bom": "yes"}), r"export\.csv_bom: must be true or false, got 'yes'"),
    (make(stages={"new_days": 30.5}), r"stages\.new_days: must be an integer, got 30\.5"),
    (make(stages={"new_days": True}), r"stages\.new_days: must be an integer, got True"),
    (make(model={"penalizer": -0.1}), r"model\.penalizer: -0\.1 out of range: must be >= 0"),
    (make(model={"ci_level": 1.0}), r"model\.ci_level: 1\.0 out of range: must be < 1"),
    (make(value={"horizon": float("inf")}), r"value\.horizon: must be a finite number"),
    (make(tiers={"rules": [{"label": "a", "share": 1.5}]}),
     r"tiers\.rules\[0\]\.share: 1\.5 out of range: must be <= 1"),
    (make(cleaning={"observation_end": "05/01/2024"}),
     r"cleaning\.observation_end: '05/01/2024' is not an ISO date; fix: write it as YYYY-MM-DD"),
    (make(previous_run=""), r"previous_run: must be a file path"),
    (make(tiers={"score": None}), r"tiers\.score: must not be empty"),
    (make(impact={"outcomes": ["csat", "happiness"]}),
     r"impact\.outcomes\[1\]: 'happiness' is not one of"),
]


@pytest.mark.parametrize("d, match", BAD, ids=[m[:40] for _, m in BAD])
def test_bad_params_raise_one_line_config_error_naming_the_key(d, match):
    with pytest.raises(ConfigError, match=match) as info:
        build(d, source="params/x.yaml")
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith("params/x.yaml: ")


# ------------------------------------------------------------------- errors: cross-field
def rules(*shares):
    return [{"label": f"t{i}", "share": s} for i, s in enumerate(shares)]


CROSS = [
    (make(tiers={"rules": rules(0.1, 0.4, 0.4)}),
     r"tiers\.rules: quantile shares sum to 0\.9, not 1"),
    (make(tiers={"rules": rules(0.1, 0.4, 0.5 + 1e-6)}), r"tiers\.rules: quantile shares sum to 1\.000001, not 1"),
    (make(tiers={"rules": []}), r"tiers\.rules: no tier rules given"),
    (make(tiers={"rules": [{"label": "a", "share": 0.5}, {"label": "a", "share": 0.5}]}),
     r"tiers\.rules\[1\]\.label: label 'a' is used twice"),
    (make(tiers={"rules": [{"label": " ", "share": 1.0}]}), r"tiers\.rules\[0\]\.label: rule has no label"),
    (make(tiers={"rules": [{"label": "a", "share": 0.5}, {"label": "b"}]}),
     r"tiers\.rules\[1\]\.share: share must be a number in \(0, 1\], got None"),
    (make(tiers={"rules": [{"label": "a", "share": 1.0, "min": 3}]}),
     r"tiers\.rules\[0\]\.min: 'min' is for method 'threshold'; fix: use 'share'"),
    (make(tiers={"method": "threshold", "rules": [{"label": "a", "min": 100},
                                                  {"label": "b", "min": 100}]}),
     r"tiers\.rules\[1\]\.min: thresholds overlap: min 100 is not below the previous rule's min 100"),
    (make(tiers={"method": "threshold", "rules": [{"label": "a", "min": 10},
                                                  {"label": "b", "min": 50}, {"label": "c"}]}),
     r"tiers\.rules\[1\]\.min: thresholds overlap: min 50 .*; fix: list rules from the highest"),
    (make(tiers={"method": "threshold", "rules": [{"label": "a"}, {"label": "b", "min": 5}]}),
     r"tiers\.rules\[0\]\.min: threshold rule has no min \(only the last rule may omit it\)"),
    (make(tiers={"method": "threshold", "rules": [{"label": "a", "share": 0.5}]}),
     r"tiers\.rules\[0\]\.share: 'share' is for method 'quantile'; fix: use 'min'"),
    (make(tiers={"prospect_label": "VIP"}),
     r"tiers\.prospect_label: prospect label 'VIP' is also a tier label"),
    (make(tiers={"second_dimension": {"column": "stage", "method": "categories",
                                      "rules": rules(1.0)}}),
     r"tiers\.second_dimension\.rules: rules are not used with method 'categories'"),
    (make(tiers={"second_dimension": {"column": "interactions", "rules": rules(0.5, 0.4)}}),
     r"tiers\.second_dimension\.rules: quantile shares sum to 0\.9"),
    (make(playbook={"require_actions": True, "tiers": {"VIP": "call", "regular": "coupon",
                                                       "prospect": "welcome"}}),
     r"playbook\.tiers\.potential: tier 'potential' has no action"),
    (make(playbook={"tiers": {"VIp": "call"}}),
     r"playbook\.tiers\.VIp: 'VIp' is not a tier label.*; fix: did you mean 'VIP'\?"),
    (make(playbook={"stages": {"dormnt": "win back"}}),
     r"playbook\.stages\.dormnt: 'dormnt' is not a stage.*; fix: did you mean 'dormant'\?"),
    (make(stages={"lost_p_alive": 0.6, "dormant_p_alive": 0.5}),
     r"stages\.lost_p_alive: lost_p_alive 0\.6 is above dormant_p_alive 0\.5"),
    (make(satisfaction={"nps_detractor_max": 9}),
     r"satisfaction\.nps_detractor_max: 9 must be below nps_promoter_min \(9\)"),
    (make(impact={"outcomes": []}), r"impact\.outcomes: no outcome listed"),
    (make(impact={"outcomes": ["csat", "csat"]}), r"impact\.outcomes\[1\]: 'csat' is listed twice"),
    (make(data={"source": "simulate", "simulate": {"start": "2024-01-01",
                                                  "observation_end": "2023-12-31"}}),
     r"data\.simulate\.observation_end: 2023-12-31 is not after start 2024-01-01"),
    (make(cleaning={"observation_end": "2025-06-30"}),
     r"cleaning\.observation_end: 2025-06-30 is after the simulated data ends"),
    (make(summary={"calibration_end": "2025-01-01"}),
     r"summary\.calibration_end: 2025-01-01 is not before the observation end 2024-12-31"),
    (make(data={"source": "files"}), r"data\.transactions: required when data\.source is 'files'"),
    (make(data={"source": "simulate", "transactions": {"path": "tx.csv"}}),
     r"data\.transactions: is set but data\.source is 'simulate'; fix: set data\.source: files"),
    (make(data={"source": "files", "transactions": {}}),
     r"data\.transactions: give exactly one of 'path' \(a file\) or 'url'"),
    (make(data={"source": "files", "transactions": {"path": "a.csv", "url": "sqlite:///x.db"}}),
     r"data\.transactions: give exactly one of 'path'"),
    (make(data={"source": "files", "transactions": {"url": "sqlite:///x.db"}}),
     r"data\.transactions\.url: a database URL needs 'table' or 'query'"),
    (make(data={"source": "files", "transactions": {"url": "sqlite:///x.db", "table": "t",
                                                    "query": "select 1"}}),
     r"data\.transactions\.query: give 'table' or 'query', not both"),
    (make(data={"source": "files", "transactions": {"path": "a.csv", "timezone": "Mars/Base"}}),
     r"data\.transactions\.timezone: unknown time zone 'Mars/Base'"),
    (make(data={"source": "files", "transactions": {"path": "a.csv"},
                "programme": {"path": "p.csv", "date": "day"}}),
     r"data\.programme\.date: not used for the programme table; remove it"),
    (make(data={"source": "files", "transactions": {"path": "a.csv"},
                "customers": {"path": "c.csv", "amount": "spend"}}),
     r"data\.customers\.amount: not used for the customers table"),
    (make(data={"source": "files", "transactions": {"path": "a.csv"},
                "surveys": {"path": "s.csv", "columns": {"cast": "score"}}}),
     r"data\.surveys\.columns\.cast: unknown column for the surveys table; did you mean 'csat'\?"),
    (make(data={"source": "files", "transactions": {"path": "a.csv", "columns": {"x": "y"}}}),
     r"data\.transactions\.columns\.x: unknown column for the transactions table \(this table"),
    (make(data={"source": "cdnow"}, satisfaction={"enabled": True}),
     r"satisfaction\.enabled: the CDNOW data has no surveys table; fix: set satisfaction\.enabled: false"),
    (make(data={"source": "cdnow"}, satisfaction={"enabled": False}, impact={"enabled": True}),
     r"impact\.enabled: the CDNOW data has no programme table"),
    (make(data={"source": "files", "transactions": {"path": "a.csv"}},
          satisfaction={"enabled": True}),
     r"satisfaction\.enabled: needs data\.surveys; fix: add data\.surveys, or set"),
    (make(data={"source": "files", "transactions": {"path": "a.csv"},
                "programme": {"path": "p.csv"}}, satisfaction={"enabled": False}),
     r"impact\.programme_start: required for file data"),
    (make(data={"source": "simulate", "simulate": {"programme": False}},
          satisfaction={"enabled": True}),
     r"satisfaction\.enabled: data\.simulate\.programme is false, so the simulated data has no "
     r"surveys; fix: set data\.simulate\.programme: true, or set satisfaction\.enabled: false"),
    (make(data={"source": "simulate", "simulate": {"programme": False}},
          satisfaction={"enabled": False}, impact={"enabled": True}),
     r"impact\.enabled: data\.simulate\.programme is false, so the simulated data has no programme"),
    (make(scenario="my shop/2024"), r"scenario: 'my shop/2024' is not usable as a folder name"),
]


@pytest.mark.parametrize("d, match", CROSS, ids=[m[:40] for _, m in CROSS])
def test_cross_field_rules_raise_config_error_naming_the_key(d, match):
    with pytest.raises(ConfigError, match=match) as info:
        build(d)
    assert "\n" not in str(info.value)


def test_shares_summing_to_one_within_1e_9_are_accepted():
    cfg = build(make(tiers={"rules": rules(0.1, 0.2, 0.7 + 5e-10)}))
    assert len(cfg.tiers.rules) == 3


# --------------------------------------------------------------------------- file errors
def test_missing_params_file(tmp_path):
    with pytest.raises(ConfigError, match=r"nope\.yaml: params file not found; fix: check the path"):
        config.load(tmp_path / "nope.yaml")


def test_empty_params_file(tmp_path):
    p = tmp_path / "empty.yaml"
    p.write_text("# nothing here\n")
    with pytest.raises(ConfigError, match=r"empty\.yaml: params file is empty"):
        config.load(p)


def test_invalid_yaml_names_the_line(tmp_path):
    p = tmp_path / "broken.yaml"
    p.write_text("scenario: x\ndata:\n  source: simulate\n   bad: [1\n")
    with pytest.raises(ConfigError, match=r"broken\.yaml: not valid YAML at line 4"):
        config.load(p)


def test_top_level_list_is_rejected(tmp_path):
    p = tmp_path / "list.yaml"
    p.write_text("- scenario: x\n")
    with pytest.raises(ConfigError, match=r"list\.yaml: expected a mapping of keys at the top, got list"):
        config.load(p)


def test_non_utf8_params_file(tmp_path):
    p = tmp_path / "latin.yaml"
    p.write_bytes("scenario: café\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"latin\.yaml: params file is not UTF-8 text"):
        config.load(p)


def test_error_names_the_file_it_came_from(tmp_path):
    p = tmp_path / "shop.yaml"
    p.write_text("scenario: shop\ndata: {source: simulate}\nvalue: {horizon: -3}\n")
    with pytest.raises(ConfigError, match=r"shop\.yaml: value\.horizon: -3\.0 out of range") as info:
        config.load(p)
    assert info.value.key == "value.horizon"


# ------------------------------------------------------------- durations in *_days keys (#15.3)

@pytest.mark.parametrize("value, days", [(120, 120), ("90D", 90), ("26W", 182), ("6M", 183),
                                         ("1Y", 365), ("2y", 730)])
def test_days_keys_take_a_duration_in_any_time_unit(value, days):
    cfg = build(make(stages={"dormant_days": value}, retention={"churn_window_days": value}))
    assert cfg.stages.dormant_days == days and cfg.retention.churn_window_days == days


@pytest.mark.parametrize("value", ["6Q", "0W", "soon"])
def test_days_keys_reject_what_is_not_a_duration_naming_the_key(value):
    with pytest.raises(ConfigError, match=r"stages\.new_days.*whole number of days"):
        build(make(stages={"new_days": value}))
