"""pipeline.load_data: every scenario source ends as clean tables with a ledger and a fingerprint."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from clvkit import config, pipeline
from clvkit.config import Config
from clvkit.datasets import lifetimes_data_path
from clvkit.errors import DataError

ROOT = Path(__file__).resolve().parents[1]
OFF = {"satisfaction": {"enabled": False}, "impact": {"enabled": False}}


def cdnow_config(**extra) -> Config:
    return Config.from_dict({"scenario": "cd", "data": {"source": "cdnow"}, **OFF, **extra})


@pytest.fixture(scope="module")
def cdnow():
    return pipeline.load_data(config.load(ROOT / "params" / "cdnow.yaml"))


def test_cdnow_scenario_has_the_published_customers_and_every_row_accounted(cdnow):
    # the shipped file itself, counted without clvkit: one purchase line per text line
    lines = lifetimes_data_path("CDNOW_sample.txt").read_text().strip().splitlines()
    assert cdnow.ledger.rows_in == len(lines)
    assert cdnow.ledger.rows_in == cdnow.ledger.rows_out + cdnow.ledger.rows_dropped
    assert len(cdnow.transactions) == cdnow.ledger.rows_out
    assert cdnow.transactions["customer_id"].nunique() == 2357  # FHL (2005)
    assert cdnow.observation_end == pd.Timestamp("1998-06-30")
    assert cdnow.truth is None and cdnow.customers is None and cdnow.surveys is None
    assert cdnow.source.startswith("CDNOW sample")


def test_observation_end_defaults_to_the_last_purchase_day():
    data = pipeline.load_data(cdnow_config())
    assert data.observation_end == data.transactions["date"].max().normalize()


def test_configured_observation_end_drops_later_rows_into_the_ledger():
    data = pipeline.load_data(cdnow_config(cleaning={"observation_end": "1997-12-31"}))
    assert data.transactions["date"].max() <= pd.Timestamp("1997-12-31 23:59:59")
    table = data.ledger.table.set_index("reason")
    assert table.loc["date after observation end", "rows"] > 0
    assert data.ledger.rows_in == data.ledger.rows_out + data.ledger.rows_dropped


def test_fingerprint_is_stable_across_processes_and_sensitive_to_data(cdnow):
    assert pipeline.load_data(config.load(ROOT / "params" / "cdnow.yaml")).fingerprint \
        == cdnow.fingerprint
    code = ("from clvkit import config, pipeline; "
            f"print(pipeline.load_data(config.load({str(ROOT / 'params' / 'cdnow.yaml')!r}))"
            ".fingerprint)")
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=300)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == cdnow.fingerprint
    changed = cdnow.transactions.copy()
    changed.loc[changed.index[0], "amount"] += 0.01
    assert pipeline.fingerprint(changed) != cdnow.fingerprint


def write_shop(folder: Path) -> Path:
    """A small shop with its own column names, written by hand."""
    (folder / "data").mkdir()
    (folder / "data" / "orders.csv").write_text(
        "cust;day;total\n"
        "A;2024-01-05;10.0\n"
        "A;2024-01-05;10.0\n"      # exact duplicate: the ledger drops it
        "A;2024-02-01;5.5\n"
        "B;2024-03-10;20.0\n"
        "C;2024-03-11;-4.0\n"      # a return: dropped with returns: drop
        "C;2024-03-12;8.0\n", encoding="utf-8")
    (folder / "data" / "people.csv").write_text(
        "cust,joined,region\nA,2023-12-01,north\nB,2024-03-01,south\nC,2024-03-01,south\n"
        "D,2024-03-20,north\n", encoding="utf-8")
    (folder / "data" / "survey.csv").write_text(
        "cust,date,score,nps\nA,2024-02-02,5,9\nB,2024-03-15,3,\n", encoding="utf-8")
    params = folder / "shop.yaml"
    params.write_text(yaml.safe_dump({
        "scenario": "shop",
        "data": {"source": "files",
                 "transactions": {"path": "data/orders.csv", "customer_id": "cust", "date": "day",
                                  "amount": "total", "sep": ";"},
                 "customers": {"path": "data/people.csv", "customer_id": "cust",
                               "date": "joined"},
                 "surveys": {"path": "data/survey.csv", "customer_id": "cust",
                             "columns": {"csat": "score"}}},
        "impact": {"enabled": False}}), encoding="utf-8")
    return params


def test_file_scenario_maps_columns_and_reads_optional_tables(tmp_path):
    data = pipeline.load_data(config.load(write_shop(tmp_path)))
    tx = data.transactions
    assert list(tx[["customer_id", "amount"]].itertuples(index=False, name=None)) == [
        ("A", 10.0), ("A", 5.5), ("B", 20.0), ("C", 8.0)]
    assert data.ledger.rows_in == 6 and data.ledger.rows_out == 4
    reasons = data.ledger.table.set_index("reason")["rows"]
    assert reasons["exact duplicate row"] == 1 and reasons["negative amount"] == 1
    assert data.observation_end == pd.Timestamp("2024-03-12")
    assert list(data.customers["customer_id"]) == ["A", "B", "C", "D"]  # D: a prospect
    assert data.customers["signup_date"].iloc[0] == pd.Timestamp("2023-12-01")
    assert data.surveys["csat"].tolist() == [5, 3]
    assert str(data.surveys["nps"].dtype) == "Int64" and data.surveys["nps"].isna().tolist() == [
        False, True]
    assert data.complaints is None and data.programme is None and data.truth is None
    assert str(tmp_path / "data" / "orders.csv") in data.source


def test_file_scenario_with_a_wrong_column_mapping_is_a_data_error(tmp_path):
    params = write_shop(tmp_path)
    d = yaml.safe_load(params.read_text())
    d["data"]["transactions"]["amount"] = "price"
    with pytest.raises(DataError, match=r"orders\.csv.*'price'"):
        pipeline.load_data(Config.from_dict(d, source=params))


def test_simulated_scenario_keeps_truth_and_prospects():
    cfg = Config.from_dict({"scenario": "sim", "data": {"source": "simulate", "simulate": {
        "customers": 400, "seed": 3, "prospect_share": 0.2, "programme": False}}, **OFF})
    data = pipeline.load_data(cfg)
    assert data.truth is not None
    assert data.observation_end == pd.Timestamp("2024-12-31")
    assert len(data.customers) == 400
    buyers = set(data.transactions["customer_id"])
    assert buyers < set(data.customers["customer_id"])  # prospects never bought
    assert data.ledger.rows_in == data.ledger.rows_out + data.ledger.rows_dropped
    assert data.fingerprint == pipeline.load_data(cfg).fingerprint  # deterministic for a seed


def test_an_explicit_cnbd_model_gets_litt_and_scores_customers(cdnow):
    """``model.transaction: mbgcnbd`` builds the summary with ``litt`` and scores with it; the
    fitted regularity is the one the model's own k-search finds on that summary."""
    from clvkit.models import ModifiedBetaGeoCNBD
    from clvkit.rfm import rfm_summary

    cfg = cdnow_config(model={"transaction": "mbgcnbd"})
    assert pipeline._needs_litt(cfg) and not pipeline._needs_litt(cdnow_config())
    result = pipeline.score(cfg, cdnow, run_date="2024-01-01")
    assert isinstance(result.transaction_model, ModifiedBetaGeoCNBD)
    assert "litt" in result.summary.columns
    direct = ModifiedBetaGeoCNBD().fit(rfm_summary(cdnow.transactions,
                                                   observation_end=cdnow.observation_end,
                                                   litt=True))
    assert result.transaction_model.params_["k"] == direct.params_["k"]
    assert result.scored["p_alive"].between(0, 1).all()
    assert (result.scored["expected_purchases"] >= 0).all()


def test_a_candidates_boundary_note_goes_to_the_comparison_not_to_stderr():
    """Comparing models, a candidate that fits at a limit (Pareto/NBD at its shape cap on this
    130-customer history) has its note in the table's ``note`` column; nothing is printed."""
    import warnings

    from clvkit.errors import StatisticalWarning
    from clvkit.models import BetaGeo, ParetoNBD

    s = pd.read_csv(Path(__file__).parent / "data" / "pareto_ridge_summary.csv")
    s.attrs["time_unit"] = "W"
    make = {"paretonbd": ParetoNBD, "bgnbd": BetaGeo}
    notes, skipped = {}, {}
    with warnings.catch_warnings():
        warnings.simplefilter("error", StatisticalWarning)
        fits = pipeline._fit_each(make, list(make), s, skipped, strict=False, notes=notes)
    assert set(fits) == {"paretonbd", "bgnbd"} and not skipped
    assert "dropout rates look the same" in notes["paretonbd"] and "bgnbd" not in notes
    with pytest.warns(StatisticalWarning, match="dropout rates look the same"):
        pipeline._fit_each(make, ["paretonbd"], s, {}, strict=True)
