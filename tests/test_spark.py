"""The Spark engine agrees with the pandas engine (local[2] session; run in CI, never skipped)."""
import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from clvkit import config as clvconfig
from clvkit import pipeline
from clvkit.datasets import load_cdnow, simulate
from clvkit.errors import ClvkitError, DataError
from clvkit.rfm import calibration_holdout, rfm_summary

pytestmark = pytest.mark.spark


def _require_java():
    if shutil.which("java") is None:
        if os.environ.get("CLVKIT_REQUIRE_SPARK"):
            pytest.fail("java is missing but CLVKIT_REQUIRE_SPARK is set (CI must run Spark tests)")
        pytest.skip("no java on this machine (CI installs it and sets CLVKIT_REQUIRE_SPARK)")


@pytest.fixture(scope="session")
def spark():
    _require_java()
    pytest.importorskip("pyspark") if not os.environ.get("CLVKIT_REQUIRE_SPARK") else None
    from clvkit.spark import get_session

    session = get_session()
    yield session
    session.stop()


@pytest.fixture(scope="module")
def cdnow():
    return load_cdnow()


def test_rfm_summary_spark_equals_pandas_on_cdnow(spark, cdnow):
    expected = rfm_summary(cdnow, observation_end="1997-09-30", engine="pandas")
    got = rfm_summary(spark.createDataFrame(cdnow), observation_end="1997-09-30", engine="spark")
    pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-12)
    assert got.attrs["time_unit"] == "W"


def test_calibration_holdout_spark_equals_pandas_on_cdnow(spark, cdnow):
    kw = dict(calibration_end="1997-09-30", observation_end="1998-06-30")
    expected = calibration_holdout(cdnow, engine="pandas", **kw)
    got = calibration_holdout(spark.createDataFrame(cdnow), engine="spark", **kw)
    pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-12)


def test_spark_summary_from_parquet_equals_pandas_on_simulated(spark, tmp_path):
    from clvkit.spark import summary_frame

    tx = simulate(1500, seed=3, programme=False).transactions
    path = tmp_path / "tx.parquet"
    tx.to_parquet(path)
    for period, unit in (("D", "W"), ("W", "D"), ("M", "M")):
        expected = rfm_summary(tx, observation_end="2024-12-31", period=period, time_unit=unit)
        got = rfm_summary(str(path), observation_end="2024-12-31", period=period, time_unit=unit,
                          engine="spark")
        pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-12)
    distributed = (summary_frame(str(path), observation_end="2024-12-31").toPandas()
                   .set_index("customer_id").sort_index())
    expected = rfm_summary(tx, observation_end="2024-12-31")
    pd.testing.assert_frame_equal(distributed, expected, check_exact=False, rtol=1e-12,
                                  check_dtype=False)


def _retail(customers=2000, **summary):
    cfg = clvconfig.load(pipeline.__file__.replace("src/clvkit/pipeline.py", "params/retail.yaml"))
    sim = dataclasses.replace(cfg.data.simulate, customers=customers, programme=False)
    return dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, simulate=sim),
                               summary=dataclasses.replace(cfg.summary, **summary))


def _engine(cfg, engine, **changes):
    return dataclasses.replace(cfg, summary=dataclasses.replace(cfg.summary, engine=engine),
                               **changes)


def _sorted(table):
    return table.sort_values("customer_id", kind="mergesort").reset_index(drop=True)


def test_spark_score_writes_the_pandas_engine_outputs(spark, tmp_path):
    """Same export schema and rows (tier, tier_2d, stage, segment, RFM scores, action,
    run_date), the same watchlist and the same migration against a previous run."""
    from clvkit import export
    from clvkit.spark import score_scenario

    cfg = _retail()
    earlier = dataclasses.replace(cfg, cleaning=dataclasses.replace(
        cfg.cleaning, observation_end=pd.Timestamp("2024-06-30")))
    pipeline.score_scenario(earlier, tmp_path / "previous", run_date="2024-07-01")
    cfg = dataclasses.replace(cfg, previous_run=tmp_path / "previous" / "tiers.parquet")
    pipeline.score_scenario(_engine(cfg, "pandas"), tmp_path / "pandas", run_date="2025-01-01")
    done = score_scenario(_engine(cfg, "spark"), tmp_path / "spark", run_date="2025-01-01")
    assert [Path(p).name for p in done] == ["tiers.parquet", "watchlist.csv", "watchlist.parquet",
                                            "migration.csv", "migration_moves.csv",
                                            "spark_fit.json"]
    info = json.loads((tmp_path / "spark" / "spark_fit.json").read_text())
    assert 0 < info["distinct_purchase_rows"] <= info["customers"] == 1800
    assert info["master"] == spark.sparkContext.master
    # partitioned by tier: one folder per tier label, prospects included
    assert {p.name for p in (tmp_path / "spark" / "tiers.parquet").iterdir() if p.is_dir()} == \
        {f"tier={label}" for label in ("VIP", "regular", "potential", "prospect")}
    got = _sorted(export.read_assignments(tmp_path / "spark" / "tiers.parquet"))
    want = _sorted(export.read_assignments(tmp_path / "pandas" / "tiers.parquet"))
    assert list(got.columns) == list(export.ASSIGNMENT_COLUMNS)
    numbers = ["clv", "p_alive", "expected_purchases", "clv_at_risk"]
    pd.testing.assert_frame_equal(got.drop(columns=numbers), want.drop(columns=numbers))
    np.testing.assert_allclose(got[numbers], want[numbers], rtol=1e-9)
    assert got["tier_2d"].notna().all() and (got["segment"] != "prospect").sum() == 1800
    n = 1800  # tier shares within one customer of the configured shares (the documented bound)
    for rule in cfg.tiers.rules:
        assert abs((got["tier"] == rule.label).sum() - rule.share * n) <= 1
    for name in ("watchlist.csv", "migration.csv"):
        a = pd.read_csv(tmp_path / "spark" / name)
        b = pd.read_csv(tmp_path / "pandas" / name)
        pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-9)
    watch = pd.read_csv(tmp_path / "spark" / "watchlist.csv")
    assert len(watch) == cfg.churn_warning.top_n and watch["reason"].str.contains("fell").any()
    moves = pd.concat(pd.read_csv(p) for p in
                      sorted((tmp_path / "spark" / "migration_moves.csv").glob("part-*.csv")))
    want_moves = pd.read_csv(tmp_path / "pandas" / "migration_moves.csv")
    pd.testing.assert_frame_equal(_sorted(moves), _sorted(want_moves), check_exact=False,
                                  rtol=1e-9)
    assert set(want_moves["movement"]) >= {"upgraded", "downgraded", "stayed"}


def test_tier_cuts_exact_with_ties_and_coarse_sketch(spark):
    from clvkit.spark import tier_cuts
    from clvkit.tiers import assign_tiers, tier_codes

    rng = np.random.default_rng(7)
    score = np.round(rng.lognormal(2.0, 1.0, 3000), 1)  # many ties
    frame = pd.DataFrame({"customer_id": rng.permutation(3000), "clv": score})
    cfg = _retail()
    cfg = dataclasses.replace(cfg, spark=dataclasses.replace(cfg.spark, quantile_error=0.05))
    cuts = tier_cuts(spark.createDataFrame(frame), cfg)
    codes = tier_codes(frame["clv"].to_numpy(), frame["customer_id"].to_numpy(), cuts)
    expected = assign_tiers(frame.set_index("customer_id"), cfg.tiers.rules).tier
    labels = np.asarray(cfg.tiers.labels)[codes]
    assert (labels == expected.reindex(frame["customer_id"]).astype(str).to_numpy()).all()


def test_compressed_statistics_report_distinct_rows(spark):
    from clvkit.spark import compressed_statistics, summary_frame

    tx = simulate(800, seed=5, programme=False).transactions
    summary = summary_frame(spark.createDataFrame(tx), observation_end="2024-12-31")
    purchases, spend, info = compressed_statistics(summary)
    local = rfm_summary(tx, observation_end="2024-12-31")
    assert info["customers"] == len(local) == purchases["weights"].sum()
    assert info["distinct_purchase_rows"] == len(local[["frequency", "recency", "T"]]
                                                 .drop_duplicates())
    assert spend["weights"].sum() == (local["frequency"] > 0).sum()


def test_bad_parquet_path_and_missing_column_are_one_clear_error(spark, tmp_path):
    bad = tmp_path / "not.parquet"
    bad.write_text("customer_id,date,amount\n1,2024-01-01,3\n")
    with pytest.raises(DataError, match=r"not\.parquet: Spark cannot read it as Parquet"):
        rfm_summary(str(bad), engine="spark")
    with pytest.raises(DataError, match=r"missing\.parquet: file not found"):
        rfm_summary(str(tmp_path / "missing.parquet"), engine="spark")
    frame = spark.createDataFrame(pd.DataFrame({"cust": [1], "date": [pd.Timestamp("2024-01-01")],
                                                "amount": [3.0]}))
    with pytest.raises(DataError, match=r"no customer_id column 'customer_id'.*cust"):
        rfm_summary(frame, engine="spark")


@pytest.mark.slow
def test_unreachable_master_is_one_clear_error(tmp_path):
    _require_java()
    code = ("from clvkit.spark import get_session\n"
            "from types import SimpleNamespace as S\n"
            "get_session(S(master='spark://127.0.0.1:9', app_name='t', "
            "conf={'spark.network.timeout': '5s'}))\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert run.returncode != 0
    assert "ClvkitError: cannot start Spark with master 'spark://127.0.0.1:9'" in run.stderr
