"""The score step end to end: simulated data with known truth, CDNOW, the CLI and its export."""
import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from clvkit import cli, pipeline
from clvkit.config import load
from clvkit.errors import ConfigError
from clvkit.export import ASSIGNMENT_COLUMNS, read_assignments

PARAMS = Path(__file__).resolve().parents[2] / "params"


@pytest.fixture(scope="module")
def retail():
    cfg = load(PARAMS / "retail.yaml")
    data = pipeline.load_data(cfg)
    return cfg, data, pipeline.score(cfg, data, run_date="2025-01-31")


def _truth(data):
    return data.truth.customers.set_index("customer_id")


def test_top_tier_has_the_highest_true_future_value(retail):
    cfg, data, result = retail
    tier = result.assignments.set_index("customer_id")["tier"]
    truth = _truth(data)
    mean_future = truth["future_value"].groupby(tier.reindex(truth.index), observed=True).mean()
    assert mean_future.idxmax() == "VIP"
    # and the buyer tiers are ordered by true future value, as by predicted CLV
    assert mean_future["VIP"] > mean_future["regular"] > mean_future["potential"]


def test_tier_shares_within_one_customer_and_one_tier_each(retail):
    cfg, data, result = retail
    a = result.assignments
    assert a["customer_id"].is_unique
    assert set(a["customer_id"]) == set(data.customers["customer_id"])  # prospects included
    assert a["tier"].notna().all() and set(a["tier"]) <= set(cfg.tiers.labels)
    buyers = a[a["tier"] != cfg.tiers.prospect_label]
    for rule in cfg.tiers.rules:
        assert abs((buyers["tier"] == rule.label).sum() - rule.share * len(buyers)) <= 1
    truth = _truth(data)
    prospects = a.set_index("customer_id").loc[truth.index[truth["prospect"]]]
    assert (prospects["tier"] == "prospect").all() and (prospects["stage"] == "prospect").all()
    assert (prospects["action"] == cfg.playbook.tiers["prospect"]).all()
    assert prospects["clv"].isna().all() and prospects["r_score"].isna().all()


def test_stages_and_warning_agree_with_the_true_dropouts(retail):
    cfg, data, result = retail
    truth = _truth(data)
    end = data.observation_end
    alive = truth["dropout_date"].isna() | (truth["dropout_date"] > end)
    stage = result.assignments.set_index("customer_id")["stage"]
    share_alive = alive.groupby(stage.reindex(alive.index), observed=True).mean()
    assert share_alive["lost"] < share_alive["dormant"] < share_alive["loyal"]
    flagged = result.warning.watchlist["customer_id"]
    assert alive[flagged].mean() < alive[~truth["prospect"]].mean()


def test_watchlist_is_ranked_by_clv_at_risk(retail):
    cfg, data, result = retail
    w = result.warning.watchlist
    assert 0 < len(w) <= cfg.churn_warning.top_n
    assert w["clv_at_risk"].is_monotonic_decreasing
    assert (w["p_alive"] < cfg.churn_warning.p_alive_below).all()  # no previous run: only level
    assert w["tier"].notna().all() and w["action"].notna().all()


def test_migration_against_a_changed_previous_run(retail):
    cfg, data, result = retail
    prev = result.assignments.copy()
    prev = prev.iloc[100:]                      # 100 customers are new this run
    prev.loc[prev.index[:50], "tier"] = "VIP"  # 50 were VIP before
    prev = pd.concat([prev, prev.iloc[:3].assign(customer_id=["X1", "X2", "X3"])])
    again = pipeline.score(cfg, data, run_date="2025-02-28", previous=prev)
    m = again.migration
    assert m.counts.to_numpy().sum() == len(result.assignments) + 3
    assert m.summary[["new", "vanished"]].tolist() == [100, 3]
    now = result.assignments.iloc[100:150]["tier"].astype(str)
    assert m.summary["downgraded"] == (now != "VIP").sum() > 0
    assert m.summary["upgraded"] == 0
    assert m.summary["stayed"] == len(result.assignments) - 100 - (now != "VIP").sum()


def test_kmeans_segments_and_grid_on_simulated_data(retail):
    cfg, data, _ = retail
    cfg = dataclasses.replace(cfg, segments=dataclasses.replace(cfg.segments, method="kmeans"))
    result = pipeline.score(cfg, data, run_date="2025-01-31")
    seg = result.segments
    assert 2 <= seg.k <= 8 and seg.silhouette.idxmax() == seg.k
    assert seg.profiles["customers"].sum() == len(result.scored)
    # numbered by mean (standardised) log CLV, highest first; with heavy-tailed spend (bulk
    # buyers in the simulator) the raw-CLV means need not follow the same order
    log_clv = np.log1p(result.scored["clv"].clip(lower=0)).groupby(seg.cluster).mean()
    assert log_clv.is_monotonic_decreasing
    assert result.grid.counts.to_numpy().sum() == len(result.assignments)


def test_unknown_score_or_second_dimension_column_names_the_key(retail):
    cfg, data, _ = retail
    bad = dataclasses.replace(cfg, tiers=dataclasses.replace(cfg.tiers, score="lifetime_value"))
    with pytest.raises(ConfigError, match=r"tiers.score: unknown score column 'lifetime_value'"):
        pipeline.score(bad, data)
    second = dataclasses.replace(cfg.tiers.second_dimension, column="mood")
    bad = dataclasses.replace(cfg, tiers=dataclasses.replace(cfg.tiers, second_dimension=second))
    with pytest.raises(ConfigError, match=r"tiers.second_dimension.column: unknown column 'mood'"):
        pipeline.score(bad, data)


def test_score_on_an_attribute_and_revenue(retail):
    cfg, data, _ = retail
    rules = (dataclasses.replace(cfg.tiers.rules[0], share=0.5),
             dataclasses.replace(cfg.tiers.rules[1], share=0.5))
    tiers = dataclasses.replace(cfg.tiers, score="revenue", rules=rules)
    playbook = dataclasses.replace(cfg.playbook, tiers={"VIP": "call", "regular": "coupons",
                                                        "prospect": "welcome"})
    result = pipeline.score(dataclasses.replace(cfg, tiers=tiers, playbook=playbook), data)
    tx = data.transactions.groupby("customer_id")["amount"].sum()
    tier = result.tiers.tier.drop(result.prospects)
    assert tx[tier == "VIP"].min() >= tx[tier == "regular"].max()


@pytest.mark.slow
def test_cli_score_round_trips_chinese_labels(tmp_path):
    out = tmp_path / "run1"
    proc = subprocess.run([Path(sys.executable).parent / "clvkit", "score",
                           str(PARAMS / "retail_zh.yaml"), "--out", str(out),
                           "--run-date", "2025-01-31"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    raw = (out / "tiers.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # report.language zh: a BOM by default, for Excel
    back = read_assignments(out / "tiers.csv")
    assert list(back.columns) == list(ASSIGNMENT_COLUMNS)
    zh = load(PARAMS / "retail_zh.yaml")
    assert set(back["tier"]) == set(zh.tiers.labels)
    assert {"VIP客户", "普通客户", "潜在客户"} <= set(back["tier"])
    assert back["action"].str.contains("专属客户经理").any()
    assert (back["run_date"] == pd.Timestamp("2025-01-31")).all()
    parquet = read_assignments(out / "tiers.parquet")
    pd.testing.assert_frame_equal(back, parquet, check_dtype=False)
    # second run: the BOM switched off explicitly, and the first run as previous_run -> migration
    params = yaml.safe_load((PARAMS / "retail_zh.yaml").read_text(encoding="utf-8"))
    params["export"] = {"csv_bom": False}
    params["previous_run"] = str(out / "tiers.csv")
    path = tmp_path / "zh_bom.yaml"
    path.write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")
    assert cli.main(["score", str(path), "--out", str(tmp_path / "run2")]) == 0
    raw = (tmp_path / "run2" / "tiers.csv").read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf")
    again = read_assignments(tmp_path / "run2" / "tiers.csv")
    assert again["tier"].tolist() == back["tier"].tolist()
    matrix = pd.read_csv(tmp_path / "run2" / "migration.csv", encoding="utf-8-sig")
    assert matrix.set_index("from_tier").to_numpy().sum() == len(back)
    assert np.trace(matrix.set_index("from_tier").loc[:, matrix["from_tier"][:-1]].to_numpy()) \
        == len(back)  # same data, same params: everyone stayed
