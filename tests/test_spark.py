"""The Spark engine agrees with the pandas engine (local[2] session; run in CI, never skipped)."""
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from clvkit import config as clvconfig
from clvkit import pipeline
from clvkit.datasets import load_cdnow, simulate
from clvkit.errors import DataError
from clvkit.rfm import calibration_holdout, rfm_summary

pytestmark = pytest.mark.spark
ROOT = Path(pipeline.__file__).parents[2]


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
    # one purchase model: both engines choose among the registry's the same way (one function)
    return dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, simulate=sim),
                               summary=dataclasses.replace(cfg.summary, **summary),
                               model=dataclasses.replace(cfg.model, transaction="bgnbd"))


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
    earlier = dataclasses.replace(  # the previous run: data to mid-2024, no holdout split then
        cfg, cleaning=dataclasses.replace(cfg.cleaning, observation_end=pd.Timestamp("2024-06-30")),
        summary=dataclasses.replace(cfg.summary, calibration_end=None, calibration=None))
    pipeline.score_scenario(earlier, tmp_path / "previous", run_date="2024-07-01")
    cfg = dataclasses.replace(cfg, previous_run=tmp_path / "previous" / "tiers.parquet")
    pipeline.score_scenario(_engine(cfg, "pandas"), tmp_path / "pandas", run_date="2025-01-01")
    done = score_scenario(_engine(cfg, "spark"), tmp_path / "spark", run_date="2025-01-01")
    assert [Path(p).name for p in done] == ["cleaning_ledger.csv", "tiers.parquet",
                                            "watchlist.csv", "watchlist.parquet",
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
def test_unreachable_master_is_one_clvkit_line_and_the_log_in_a_file(java, tmp_path):
    import re

    import yaml

    params = yaml.safe_load((ROOT / "params" / "retail.yaml").read_text(encoding="utf-8"))
    params["summary"]["engine"] = "spark"
    params["spark"] = {"master": "spark://127.0.0.1:9"}  # Spark gives up after its retries
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(params))
    env = {k: v for k, v in os.environ.items() if k != "PYSPARK_GATEWAY_PORT"}
    run = subprocess.run([sys.executable, "-m", "clvkit.cli", "score", str(tmp_path / "p.yaml"),
                          "--out", str(tmp_path / "out")], capture_output=True, text=True,
                         timeout=600, env=env)
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr[-2000:]
    assert lines[0].startswith("clvkit: cannot start Spark with master 'spark://127.0.0.1:9'")
    log = Path(re.search(r"Spark's log: (\S+?);", lines[0]).group(1))
    assert "127.0.0.1:9" in log.read_text()  # Spark's own account of the failure is there


# ----------------------------------------------------------- a standalone cluster on 127.0.0.1


def _free_port(preferred: int = 0) -> int:
    import socket

    for port in (preferred, 0):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise RuntimeError("no free port")


def _master_state(ui_port: int) -> dict:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/json/", timeout=5) as r:
        return json.loads(r.read())


def _wait_for(check, what: str, timeout: float = 240.0):
    import time

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(1.0)
    pytest.fail(f"the standalone {what} did not come up in {timeout:.0f} s")


@pytest.fixture(scope="module")
def standalone(java, tmp_path_factory):
    """A Spark standalone master and one worker on 127.0.0.1, from the pyspark installation."""
    import pyspark

    home = Path(pyspark.__file__).parent
    work = tmp_path_factory.mktemp("standalone")
    port, ui, worker_ui = _free_port(7077), _free_port(), _free_port()
    env = {**os.environ, "SPARK_HOME": str(home), "SPARK_LOCAL_IP": "127.0.0.1",
           "SPARK_WORKER_DIR": str(work / "work"), "SPARK_LOG_DIR": str(work)}
    spark_class = [str(home / "bin" / "spark-class")]
    procs = []
    try:
        with open(work / "master.log", "wb") as log:
            procs.append(subprocess.Popen(
                [*spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                 "--port", str(port), "--webui-port", str(ui)], stdout=log,
                stderr=subprocess.STDOUT, env=env))
        _wait_for(lambda: _master_state(ui)["status"] == "ALIVE", "master")
        with open(work / "worker.log", "wb") as log:
            procs.append(subprocess.Popen(
                [*spark_class, "org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1",
                 "--cores", "2", "--memory", "2g", "--webui-port", str(worker_ui),
                 f"spark://127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT, env=env))
        _wait_for(lambda: _master_state(ui)["aliveworkers"] >= 1, "worker")
        yield dataclasses.make_dataclass("Cluster", ["url", "state"])(
            f"spark://127.0.0.1:{port}", lambda: _master_state(ui))
    finally:
        for proc in reversed(procs):
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def _readme_spark_blocks():
    import re

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Scale out with Spark"):]
    section = section[:section.index("\n## ", 3)]
    return (re.search(r"```yaml\n(.*?)```", section, re.S).group(1),
            re.search(r"```bash\n(.*?)```", section, re.S).group(1))


def test_readme_spark_submit_runs_on_a_standalone_cluster(standalone, tmp_path):
    """The README's params and spark-submit command, as written, on the cluster (s3a:// and
    yarn replaced by file:// and the standalone master): the job runs there, --master wins over
    the params' local[2], and the outputs equal the pandas engine's."""
    import yaml

    from clvkit import export
    from clvkit.clean import clean_transactions

    params_text, command = _readme_spark_blocks()
    params = yaml.safe_load(params_text)
    tx = simulate(1000, seed=11, start="2024-01-01", observation_end="2025-06-30",
                  programme=False).transactions
    tx, _ = clean_transactions(tx, observation_end="2025-06-30", returns="drop")  # curated
    lake = tx[["customer_id", "date", "amount"]].rename(
        columns={"customer_id": "member_id", "date": "order_ts", "amount": "net_amount"})
    folder = tmp_path / "lake" / "transactions"
    folder.mkdir(parents=True)
    half = len(lake) // 2  # a folder of part files whose names do not end in .parquet
    lake.iloc[:half].to_parquet(folder / "part-00000-a.snappy", index=False)
    lake.iloc[half:].to_parquet(folder / "part-00001-b.snappy", index=False)
    lake_uri = "s3a://lake/curated/transactions.parquet"
    assert params["data"]["transactions"]["path"] == lake_uri
    params["data"]["transactions"]["path"] = folder.as_uri()
    (tmp_path / "params").mkdir()
    (tmp_path / "params" / "lake.yaml").write_text(yaml.safe_dump(params))
    out = (tmp_path / "out").as_uri() + "/"
    venv_python = "/opt/clvkit/.venv/bin/python"
    assert command.count(venv_python) == 2 and "--master yarn" in command
    command = (command.replace("--master yarn", f"--master {standalone.url}")
               .replace(venv_python, sys.executable)
               .replace("s3a://lake/clvkit/2025-06-30/", out))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "SPARK_LOCAL_IP": "127.0.0.1"}
    env.pop("PYSPARK_GATEWAY_PORT", None)
    run = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    assert f"Spark master: {standalone.url}" in run.stdout
    info = json.loads((tmp_path / "out" / "spark_fit.json").read_text())
    assert info["master"] == standalone.url  # not the params' local[2]
    apps = standalone.state()["completedapps"] + standalone.state()["activeapps"]
    assert apps and all(app["cores"] > 0 for app in apps)  # executors ran on the worker
    got = export.read_assignments(tmp_path / "out" / "tiers.parquet")
    # the pandas engine on the same curated table
    lake.to_parquet(tmp_path / "lake.parquet", index=False)
    params["data"]["transactions"]["path"] = str(tmp_path / "lake.parquet")
    params["summary"]["engine"] = "pandas"
    cfg = clvconfig.Config.from_dict(params)
    want = pipeline.score(cfg, pipeline.load_data(cfg), run_date=got["run_date"].iloc[0])
    want = export.read_assignments(export.write_assignments(
        want.assignments, tmp_path / "pandas")["parquet"])
    numbers = ["clv", "p_alive", "expected_purchases", "clv_at_risk"]
    got, want = _sorted(got), _sorted(want)
    pd.testing.assert_frame_equal(got.drop(columns=numbers), want.drop(columns=numbers))
    # the fit sums the distinct rows in the order they came from the cluster's partitions, so
    # the optimiser stops a hair away (seen: 1.7e-8 relative); every label above is identical
    np.testing.assert_allclose(got[numbers], want[numbers], rtol=1e-6)


def test_uri_without_a_filesystem_is_one_line_naming_the_connector(spark):
    with pytest.raises(DataError, match=r"^s3a://lake/t\.parquet: this Spark has no filesystem "
                                        r"for scheme 's3a'; fix: add hadoop-aws"):
        rfm_summary("s3a://lake/t.parquet", engine="spark")
    with pytest.raises(DataError, match=r"file:///nowhere/t\.parquet: file not found"):
        rfm_summary("file:///nowhere/t.parquet", engine="spark")


def test_missing_mapped_column_names_the_file_and_the_params_key(spark, tmp_path):
    from clvkit.spark import score_scenario

    path = tmp_path / "tx.parquet"
    pd.DataFrame({"cust": [1, 2], "order_ts": pd.to_datetime(["2024-01-01", "2024-02-01"]),
                  "net_amount": [3.0, 4.0]}).to_parquet(path)
    cfg = clvconfig.Config.from_dict({
        "scenario": "lake", "summary": {"engine": "spark"},
        "cleaning": {"observation_end": "2024-06-30"},
        "data": {"source": "files", "transactions": {
            "path": str(path), "customer_id": "member_id", "date": "order_ts",
            "amount": "net_amount"}},
        "satisfaction": {"enabled": False}, "impact": {"enabled": False}})
    with pytest.raises(DataError, match=r"tx\.parquet: no customer_id column 'member_id'.*"
                                        r"fix: set data\.transactions\.customer_id"):
        score_scenario(cfg, tmp_path / "out")
    missing = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, transactions=(
        dataclasses.replace(cfg.data.transactions, path=tmp_path / "nowhere.parquet"))))
    with pytest.raises(DataError, match=r"nowhere\.parquet: file not found; fix: check the "
                                        r"data\.transactions\.path"):
        score_scenario(missing, tmp_path / "out")
