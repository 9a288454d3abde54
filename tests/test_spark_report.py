"""Reports at lake scale (``clvkit.spark_report``): the Spark engine's exact aggregates equal the
pandas engine's report numbers on the same small data, and the sampled parts say so."""
import dataclasses

import numpy as np
import pandas as pd
import pytest

from clvkit import briefing, pipeline, sections
from clvkit import config as clvconfig
from clvkit.result import ScenarioResult

pytestmark = pytest.mark.spark
RUN = "2025-01-01"


def _config(tmp_path):
    """The retail scenario on 1,500 simulated customers as a Parquet lake file (read by Spark
    itself; the pandas engine reads and cleans the same file), one purchase model, a previous
    run."""
    cfg = clvconfig.load(pipeline.__file__.replace("src/clvkit/pipeline.py", "params/retail.yaml"))
    sim = dataclasses.replace(cfg.data.simulate, customers=1500, programme=False)
    cfg = dataclasses.replace(
        cfg, data=dataclasses.replace(cfg.data, simulate=sim),
        model=dataclasses.replace(cfg.model, transaction="bgnbd"),
        satisfaction=dataclasses.replace(cfg.satisfaction, enabled=False),
        impact=dataclasses.replace(cfg.impact, enabled=False),
        spark=dataclasses.replace(cfg.spark, report_sample=400, sample_seed=3))
    earlier = dataclasses.replace(
        cfg, cleaning=dataclasses.replace(cfg.cleaning, observation_end=pd.Timestamp("2024-06-30")),
        summary=dataclasses.replace(cfg.summary, calibration_end=None, calibration=None))
    pipeline.score_scenario(earlier, tmp_path / "previous", run_date="2024-07-01")
    # the lake: the clean transactions as one Parquet file that Spark reads itself
    data = pipeline.load_data(cfg)
    path = tmp_path / "lake.parquet"
    data.transactions[["customer_id", "date", "amount"]].to_parquet(path, index=False)
    plain = cfg.to_dict()
    plain.pop("source", None)
    plain["data"] = {"source": "files", "transactions": {"path": str(path)}}
    plain["cleaning"]["observation_end"] = str(data.observation_end.date())
    plain["previous_run"] = str(tmp_path / "previous" / "tiers.parquet")
    return clvconfig.Config.from_dict(plain)


@pytest.fixture(scope="module")
def both(spark, tmp_path_factory):
    from clvkit.spark_report import lake_run

    tmp = tmp_path_factory.mktemp("lake")
    cfg = _config(tmp)
    single = pipeline.run(cfg, run_date=RUN)
    lake_cfg = dataclasses.replace(cfg, summary=dataclasses.replace(cfg.summary, engine="spark"))
    lake = lake_run(lake_cfg, tmp / "out", run_date=RUN)
    lake.save(tmp / "stored")
    return single, lake, ScenarioResult.load(tmp / "stored"), tmp


def _rel(a, b):
    np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), rtol=1e-9)


def test_lake_tier_counts_and_sums_equal_the_pandas_engine(both):
    single, lake, _, _ = both
    got, want = lake.tiers.definitions, single.tiers.definitions
    assert list(got["tier"]) == list(want["tier"])
    assert got["customers"].tolist() == want["customers"].tolist()
    _rel(got["share"], want["share"])
    _rel(got["score_min"].fillna(-1), want["score_min"].fillna(-1))
    g, w = lake.profiles.summary, single.profiles.summary
    assert list(g.columns) == list(w.columns) and g["customers"].tolist() == w["customers"].tolist()
    for col in ("customer_share", "revenue", "revenue_share", "clv_total", "clv_share",
                "clv_mean", "p_alive_mean", "expected_purchases_mean"):
        _rel(g[col].fillna(-1), w[col].fillna(-1))


def test_lake_stage_segment_action_and_grid_counts_equal(both):
    single, lake, _, _ = both
    for attr in ("stages", "segments"):
        g, w = getattr(lake, attr).definitions, getattr(single, attr).definitions
        assert g["customers"].tolist() == w["customers"].tolist(), attr
        _rel(g["share"], w["share"])
    want = single.playbook.action.value_counts()
    assert lake.lake.actions.sort_index().to_dict() == want.sort_index().to_dict()
    g, w = lake.grid.counts, single.grid.counts
    pd.testing.assert_frame_equal(g.loc[w.index, w.columns], w, check_names=False,
                                  check_dtype=False)
    assert int(g.to_numpy().sum()) == int(w.to_numpy().sum())


def test_lake_migration_and_watchlist_equal(both):
    single, lake, _, _ = both
    pd.testing.assert_frame_equal(lake.migration.counts, single.migration.counts,
                                  check_dtype=False)
    assert lake.migration.summary.to_dict() == single.migration.summary.to_dict()
    _rel(lake.migration.clv.to_numpy(), single.migration.clv.to_numpy())
    g, w = lake.warning.watchlist, single.warning.watchlist
    assert g["customer_id"].tolist() == w["customer_id"].tolist()
    _rel(g["clv_at_risk"], w["clv_at_risk"])
    assert lake.warning.flagged == single.warning.flagged


def test_lake_kpis_cohorts_months_and_distributions_equal(both):
    single, lake, _, _ = both
    g = {k.key: k.value for k in briefing.kpis(lake)}
    w = {k.key: k.value for k in briefing.kpis(single)}
    assert g.keys() == w.keys()
    _rel(list(g.values()), list(w.values()))
    pd.testing.assert_frame_equal(briefing.decisions(lake), briefing.decisions(single),
                                  check_exact=False, rtol=1e-9)
    assert briefing.what_changed(lake) == briefing.what_changed(single)
    pd.testing.assert_frame_equal(lake.cohorts.share, single.cohorts.share)
    pd.testing.assert_frame_equal(lake.monthly, single.monthly, check_dtype=False,
                                  check_freq=False)
    assert lake.coverage == single.coverage
    assert (lake.ledger.rows_in, lake.ledger.rows_out) == (single.ledger.rows_in,
                                                           single.ledger.rows_out)
    d, s = lake.lake.distributions, single.scored
    for col in ("p_alive", "clv", "frequency", "T"):
        ref = s[col].describe()
        _rel(d.loc[col, ["count", "mean", "std", "min", "max"]],
             ref[["count", "mean", "std", "min", "max"]])
        counts, _ = np.histogram(s[col].to_numpy(float),
                                 bins=len(lake.lake.histograms[col]))
        assert lake.lake.histograms[col]["customers"].tolist() == counts.tolist(), col
    top = single.scored.nlargest(10, "clv")
    assert lake.lake.top.index.tolist() == top.index.tolist()


def test_lake_sample_is_stated_and_labelled(both):
    single, lake, stored, _ = both
    info = lake.lake
    n_all = len(single.assignments)
    assert info.customers + info.prospects == n_all
    assert 0 < info.sample_customers == len(lake.assignments) < n_all
    assert set(lake.assignments["customer_id"]) <= set(single.assignments["customer_id"])
    assert len(lake.scored) == len(lake.summary) <= info.sample_customers
    # the sample's tiers are the exact ones (every customer's tier, not the sample's quantiles)
    exact = single.assignments.set_index("customer_id")["tier"].astype(str)
    got = lake.assignments.set_index("customer_id")["tier"].astype(str)
    assert (exact.reindex(got.index) == got).all()
    assert "holdout diagnostics" in info.sampled and "migration" in info.exact
    note = sections.lake_note(lake)
    assert f"{info.sample_customers:,}" in note and f"{n_all:,}" in note and "seed 3" in note
    assert note in sections.header(lake, "tiers").data
    assert sections.lake_note(single) == ""
    # stored and read back: the aggregates travel with the result
    assert stored.lake.totals == info.totals
    pd.testing.assert_frame_equal(stored.lake.by_tier, info.by_tier)


def test_spark_engine_report_runs_the_same_notebooks(both, tmp_path):
    """``clvkit report`` with the Spark engine: the shipped notebooks run on the lake result,
    every customer's tiers.parquet is Spark's, and the appendix says what is sampled."""
    import yaml

    from clvkit import export
    from clvkit.report import run_report

    single, _, _, tmp = both
    params = {"scenario": "lake_report", "summary": {"engine": "spark"},
              "data": {"source": "simulate", "simulate": {"customers": 1500, "seed": 7,
                                                           "programme": False}},
              "model": {"transaction": "bgnbd"}, "spark": {"report_sample": 400},
              "satisfaction": {"enabled": False}, "impact": {"enabled": False}}
    path = tmp_path / "lake.yaml"
    path.write_text(yaml.safe_dump(params))
    done = run_report(path, out=tmp_path / "reports", run_date=RUN)
    assert len(done.reports) == 4 and all(p.exists() for p in done.reports)
    tiers = export.read_assignments(done.path / "tiers.parquet")
    assert not (done.path / "tiers.csv").exists()
    stored = ScenarioResult.load(done.path / "result")
    assert len(tiers) == stored.lake.customers + stored.lake.prospects > len(stored.assignments)
    appendix = (done.path / "appendix.html").read_text(encoding="utf-8")
    assert "Sampled" in appendix and f"{stored.lake.sample_customers:,} of" in appendix
    page = (done.path / "03_tiers.html").read_text(encoding="utf-8")
    assert "random sample of" in page
