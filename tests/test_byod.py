"""Bring your own data (issue 15): `clvkit init` to a report with no editing, minimal params,
time units and calibration splits, data without amounts, what `score` says, "data through"."""
from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from clvkit import cli, config, pipeline
from clvkit.display import data_through
from clvkit.errors import ConfigError
from clvkit.units import calibration_end

ROOT = Path(__file__).resolve().parents[1]


def clvkit(*args, cwd):
    """The installed console script, run in ``cwd`` (a folder outside the project)."""
    exe = Path(sys.executable).with_name("clvkit")
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    return subprocess.run([str(exe), *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=1800)


@pytest.fixture(scope="module")
def log() -> pd.DataFrame:
    """A simulated repeat-purchase log (BG/NBD + Gamma-Gamma), 2023-01-01 to 2024-12-31."""
    from clvkit.datasets import simulate

    tx = simulate(400, 7, start="2023-01-01", observation_end="2024-12-31",
                  programme=False).transactions
    return tx[["customer_id", "date", "amount"]].reset_index(drop=True)


def orders_csv(log, folder: Path) -> Path:
    path = folder / "orders.csv"
    pd.DataFrame({"Id": log["customer_id"], "Date": log["date"].dt.strftime("%Y-%m-%d"),
                  "Price": log["amount"].round(2)}).to_csv(path, index=False)
    return path


def assert_one_line_error(err: str, match: str):
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("clvkit: "), err
    assert "Traceback" not in err
    assert re.search(match, lines[0]), lines[0]


# ------------------------------------------------------------------- init, end to end
def test_init_then_validate_and_score_id_date_price_outside_the_project(log, tmp_path):
    orders_csv(log, tmp_path)
    res = clvkit("init", "orders.csv", "--out", "orders.yaml", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "next: clvkit report orders.yaml" in res.stdout
    assert f"transactions:     {len(log):,}" in res.stdout
    params = yaml.safe_load((tmp_path / "orders.yaml").read_text(encoding="utf-8"))
    assert params["data"]["transactions"] == {"path": "orders.csv", "customer_id": "Id",
                                              "date": "Date", "amount": "Price"}
    assert params["summary"] == {"time_unit": "W", "calibration": "69W"}
    res = clvkit("validate", "orders.yaml", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    cal = log["date"].min().normalize() + pd.Timedelta(days=69 * 7 - 1)  # the first 69 weeks
    assert f"calibration to {cal:%Y-%m-%d} (69W)" in res.stdout
    res = clvkit("score", "orders.yaml", "--out", "out", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    scored = pd.read_csv(tmp_path / "out" / "tiers.csv")
    assert scored["customer_id"].nunique() == log["customer_id"].nunique()
    assert scored["clv"].notna().all()


@pytest.mark.slow
def test_init_then_report_with_no_editing(log, tmp_path):
    orders_csv(log, tmp_path)
    assert clvkit("init", "orders.csv", "--out", "orders.yaml", cwd=tmp_path).returncode == 0
    res = clvkit("report", "orders.yaml", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    index = tmp_path / "reports" / "orders"
    pages = sorted(p.name for p in (index / "latest").glob("*.html"))
    assert "index.html" in pages and len(pages) > 2
    import json

    meta = json.loads((index / "latest" / "run.json").read_text(encoding="utf-8"))
    assert meta["data_through"].startswith("Data through 2024-12-31")
    assert any(n.startswith("satisfaction: off, no surveys data") for n in meta["notes"])
    assert "2024-12-31" in (index / "latest" / "index.html").read_text(encoding="utf-8")


def test_init_cust_date_only_then_score_counts(log, tmp_path):
    pd.DataFrame({"cust": log["customer_id"],
                  "date": log["date"].dt.strftime("%d/%m/%Y")}).to_csv(tmp_path / "visits.csv",
                                                                       index=False)
    res = clvkit("init", "visits.csv", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "next: clvkit report visits.yaml" in res.stdout  # reports without spend sections
    params = yaml.safe_load((tmp_path / "visits.yaml").read_text(encoding="utf-8"))
    tx = params["data"]["transactions"]
    assert tx["amount"] is None and tx["date_format"] == "%d/%m/%Y"
    assert params["tiers"]["score"] == "expected_purchases"
    res = clvkit("score", "visits.yaml", "--out", "out", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "spend:     not modelled (no amounts)" in res.stdout
    assert "tiers:     on expected_purchases" in res.stdout
    scored = pd.read_csv(tmp_path / "out" / "tiers.csv")
    assert scored["clv"].isna().all() and scored["m_score"].isna().all()
    assert scored["expected_purchases"].notna().all()
    top = scored.loc[scored["tier"] == "VIP", "expected_purchases"].min()
    rest = scored.loc[scored["tier"] != "VIP", "expected_purchases"].max()
    assert top >= rest  # the top tier holds the most expected purchases


def test_init_chinese_headed_gb18030_file_then_score(log, tmp_path):
    frame = pd.DataFrame({"会员号": "M" + log["customer_id"].astype(str),
                          "下单时间": log["date"].dt.strftime("%Y年%m月%d日"),
                          "实付金额": log["amount"].map(lambda a: f"¥{a:,.2f}")})
    frame.to_csv(tmp_path / "订单.csv", index=False, encoding="gb18030")
    res = clvkit("init", "订单.csv", "--out", "zh.yaml", cwd=tmp_path)
    text = (tmp_path / "zh.yaml").read_text(encoding="utf-8")
    params = yaml.safe_load(text)
    tx = params["data"]["transactions"]
    assert (tx["customer_id"], tx["date"], tx["amount"]) == ("会员号", "下单时间", "实付金额")
    assert tx["encoding"] == "gb18030" and tx["date_format"] == "%Y年%m月%d日"
    assert params["currency"] == "CNY"
    assert res.returncode == 0, res.stdout + res.stderr
    res = clvkit("score", "zh.yaml", "--out", "out", cwd=tmp_path)
    assert res.returncode == 0, res.stderr


def test_init_refuses_ambiguous_dates_in_the_file_and_on_screen(tmp_path):
    days = pd.date_range("2023-01-01", periods=24, freq="MS")
    rows = pd.DataFrame({"customer_id": [1 + k % 5 for k in range(24)],
                         "date": days.strftime("%d/%m/%Y"), "amount": 10.0})
    rows.to_csv(tmp_path / "amb.csv", index=False)
    res = clvkit("init", "amb.csv", cwd=tmp_path)
    assert res.returncode == 2
    assert "COULD NOT DECIDE: the dates of 'date'" in res.stdout
    assert_one_line_error(res.stderr, r"cannot be read with these settings yet")
    text = (tmp_path / "amb.yaml").read_text(encoding="utf-8")
    assert "# COULD NOT DECIDE" in text and "fit both day/month and month/day order" in text
    assert "date_format: null" in text


def test_init_does_not_overwrite(log, tmp_path):
    orders_csv(log, tmp_path)
    (tmp_path / "orders.yaml").write_text("keep me", encoding="utf-8")
    res = clvkit("init", "orders.csv", cwd=tmp_path)
    assert res.returncode == 2
    assert_one_line_error(res.stderr, r"orders.yaml exists already; fix: pass --out")
    assert (tmp_path / "orders.yaml").read_text(encoding="utf-8") == "keep me"


def test_init_sqlite_url_writes_url_and_table(log, tmp_path):
    db = tmp_path / "shop.db"
    with sqlite3.connect(db) as con:
        log.assign(date=log["date"].dt.strftime("%Y-%m-%d")).rename(
            columns={"customer_id": "member_no", "amount": "金额"}).to_sql("orders", con,
                                                                           index=False)
    url = f"sqlite:///{db}"
    res = clvkit("init", url, "--out", "shop.yaml", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    tx = yaml.safe_load((tmp_path / "shop.yaml").read_text(encoding="utf-8"))["data"][
        "transactions"]
    assert (tx["url"], tx["table"], tx["customer_id"], tx["amount"]) == (
        url, "orders", "member_no", "金额")


# ----------------------------------------------------------------- minimal params
def test_minimal_params_validate_and_score(log, tmp_path, capsys):
    orders_csv(log, tmp_path)
    p = tmp_path / "min.yaml"
    p.write_text("scenario: mini\ndata:\n  source: files\n  transactions:\n"
                 "    path: orders.csv\n    customer_id: Id\n    date: Date\n"
                 "    amount: Price\n", encoding="utf-8")
    assert cli.main(["validate", str(p)]) == 0
    out = capsys.readouterr().out
    assert "note: satisfaction: off, no surveys data" in out
    assert "note: impact: off, no programme data" in out
    assert cli.main(["score", str(p), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    for expected in ("data:      files:", "purchases: BG/NBD fitted on", "(se ",
                     "log-likelihood", "spend:     Gamma-Gamma", "wrote "):
        assert expected in out, out
    assert "holdout:" not in out  # no split set


def test_enabled_auto_follows_the_data_and_true_still_needs_it():
    cfg = config.Config.from_dict({"scenario": "s", "data": {"source": "simulate"}})
    assert cfg.satisfaction.enabled is True and cfg.impact.enabled is True
    cfg = config.Config.from_dict({"scenario": "s", "data": {"source": "cdnow"}})
    assert cfg.satisfaction.enabled is False and cfg.impact.enabled is False
    assert any(n.startswith("satisfaction: off") for n in cfg.notes)
    with pytest.raises(ConfigError, match=r"satisfaction.enabled: the CDNOW data has no surveys"):
        config.Config.from_dict({"scenario": "s", "data": {"source": "cdnow"},
                                 "satisfaction": {"enabled": True}})


# ------------------------------------------------------------- time units and splits
@pytest.mark.parametrize("unit", ["D", "W", "M", "Y"])
def test_every_time_unit_is_accepted(unit):
    cfg = config.Config.from_dict({"scenario": "s", "data": {"source": "cdnow"},
                                   "summary": {"time_unit": unit}})
    assert cfg.summary.time_unit == unit


def test_calibration_split_by_duration_matches_the_published_cdnow_split():
    # Fader, Hardie & Lee (2005): 39 weeks of calibration from 1997-01-01, to 1997-09-30
    assert calibration_end("39W", "1997-01-01", "1998-06-30") == pd.Timestamp("1997-09-30")
    assert calibration_end("6M", "2024-01-01", "2024-12-31") == pd.Timestamp("2024-06-30")
    assert calibration_end("1Y", "2023-03-01", "2024-12-31") == pd.Timestamp("2024-02-29")
    assert calibration_end("10D", "2024-01-01", "2024-12-31") == pd.Timestamp("2024-01-10")


def test_calibration_split_by_share_and_date():
    # 0.5 of the 366 days of 2024 is the first 183: January to June (182) plus 1 July
    assert calibration_end(0.5, "2024-01-01", "2024-12-31") == pd.Timestamp("2024-07-01")
    assert calibration_end(0.25, "2024-01-01", "2024-01-08") == pd.Timestamp("2024-01-02")
    assert calibration_end("2024-03-31", "2024-01-01", "2024-12-31") == pd.Timestamp("2024-03-31")


@pytest.mark.parametrize(("spec", "match"), [
    ("2Y", r"2Y from the first purchase .* leaving no holdout period: the data run from "
           r"2024-01-01 to 2024-12-31"),
    ("2025-01-31", r"leaving no holdout period"),
    ("2023-06-30", r"leaving no calibration period"),
    (0.001, r"leaving no calibration period"),
    (1.5, r"strictly between 0 and 1"),
    ("soon", r"'soon' is not a calibration split"),
])
def test_impossible_splits_are_errors(spec, match):
    with pytest.raises(ValueError, match=match):
        calibration_end(spec, "2024-01-01", "2024-12-31")


def test_calibration_keys_are_checked_in_the_params():
    base = {"scenario": "s", "data": {"source": "cdnow"}}
    with pytest.raises(ConfigError, match=r"summary.calibration: '104 weeks' is not a duration"):
        config.Config.from_dict({**base, "summary": {"calibration": "104 weeks"}})
    with pytest.raises(ConfigError, match=r"summary.calibration: a share must be between 0 and 1"):
        config.Config.from_dict({**base, "summary": {"calibration": 1.2}})
    with pytest.raises(ConfigError, match=r"give 'calibration' or 'calibration_end', not both"):
        config.Config.from_dict({**base, "summary": {"calibration": "10W",
                                                     "calibration_end": "1997-09-30"}})
    with pytest.raises(ConfigError, match=r"summary.calibration: calibration split 3Y .* no "
                                          r"holdout period"):
        config.Config.from_dict({"scenario": "s", "data": {"source": "simulate"},
                                 "summary": {"calibration": "3Y"}})


def test_impossible_split_fails_validate_and_score_with_one_line(log, tmp_path, capsys):
    orders_csv(log, tmp_path)
    p = tmp_path / "late.yaml"
    p.write_text("scenario: late\ndata:\n  source: files\n  transactions: {path: orders.csv, "
                 "customer_id: Id, date: Date, amount: Price}\nsummary:\n  calibration: 105W\n",
                 encoding="utf-8")
    for args in (["validate", str(p)], ["score", str(p), "--out", str(tmp_path / "o")]):
        assert cli.main(args) == 2
        assert_one_line_error(capsys.readouterr().err,
                              r"summary.calibration: calibration split 105W .* no holdout period")
    assert not list((tmp_path / "o").glob("*"))  # nothing written


def test_cdnow_split_by_duration_equals_the_date():
    by_date = config.load(ROOT / "params" / "cdnow.yaml")
    raw = yaml.safe_load((ROOT / "params" / "cdnow.yaml").read_text(encoding="utf-8"))
    raw["summary"] = {k: v for k, v in raw["summary"].items() if k != "calibration_end"}
    raw["summary"]["calibration"] = "39W"
    data = pipeline.load_data(config.Config.from_dict(raw))
    assert data.calibration_end == by_date.summary.calibration_end == pd.Timestamp("1997-09-30")


# -------------------------------------------------------------------- no amounts
def test_no_amount_keeps_every_row_and_counts_purchases(log, tmp_path):
    path = tmp_path / "v.csv"
    log.assign(amount="not a number").to_csv(path, index=False)  # ignored: no amounts
    cfg = config.Config.from_dict({"scenario": "v", "data": {"source": "files", "transactions": {
        "path": str(path), "amount": None}}})
    assert not cfg.has_amounts and cfg.tiers.score == "expected_purchases"
    data = pipeline.load_data(cfg)
    assert "amount" not in data.transactions.columns
    assert data.ledger.rows_in == len(log) == data.ledger.rows_out + data.ledger.rows_dropped
    assert not set(data.ledger.table["reason"]) & {"non-numeric amount", "negative amount"}
    result = pipeline.score(cfg, data)
    assert result.spend_model is None
    assert result.scored["clv"].isna().all()
    assert (result.scored["frequency"] >= 0).all()


def test_threshold_tiers_on_clv_without_amounts_are_an_error():
    with pytest.raises(ConfigError, match=r"tiers.score: 'clv' needs amounts"):
        config.Config.from_dict({"scenario": "v", "data": {"source": "files", "transactions": {
            "path": "v.csv", "amount": None}}, "tiers": {"method": "threshold", "rules": [
                {"label": "top", "min": 100}, {"label": "rest"}]}})


def test_validate_cli_no_amount_url_and_table(log, tmp_path, capsys):
    db = tmp_path / "shop.db"
    with sqlite3.connect(db) as con:
        log.assign(date=log["date"].dt.strftime("%Y-%m-%d")).to_sql("orders", con, index=False)
    url = f"sqlite:///{db}"
    assert cli.main(["validate", "--transactions", url, "--table", "orders"]) == 0
    assert f"transactions:     {len(log):,}, total amount" in capsys.readouterr().out
    assert cli.main(["validate", "--transactions", str(db), "--query",
                     "SELECT customer_id, date FROM orders", "--no-amount"]) == 0
    assert "no amounts (purchase counts only)" in capsys.readouterr().out
    assert cli.main(["validate", "--transactions", url, "--table", "orders",
                     "--amount", ""]) == 2
    assert_one_line_error(capsys.readouterr().err, r"--amount is empty; fix: pass --no-amount")


# ------------------------------------------------------------------- data through
def test_data_through_says_how_old_the_data_are():
    assert data_through("2010-12-09") == "Data through 2010-12-09."
    assert data_through("2024-12-31", "2025-01-03") == "Data through 2024-12-31."
    assert data_through("2024-12-31", "2025-01-20") == (
        "Data through 2024-12-31: 20 days before this run (2025-01-20).")
    assert data_through("2010-12-09", "2026-12-01") == (
        "Data through 2010-12-09: 16 years before this run (2026-12-01).")


def test_init_duckdb_url_writes_the_file_path_and_scores(log, tmp_path):
    import duckdb

    con = duckdb.connect(str(tmp_path / "shop.duckdb"))
    frame = log.rename(columns={"customer_id": "client_id", "date": "order_date",  # noqa: F841
                                "amount": "total"})
    con.execute("CREATE TABLE orders AS SELECT * FROM frame")
    con.close()
    res = clvkit("init", f"duckdb:///{tmp_path / 'shop.duckdb'}", "--out", "p/shop.yaml",
                 cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    tx = yaml.safe_load((tmp_path / "p" / "shop.yaml").read_text(encoding="utf-8"))["data"][
        "transactions"]
    assert (tx["path"], tx["table"], tx["customer_id"]) == ("../shop.duckdb", "orders",
                                                            "client_id")
    assert clvkit("validate", "--transactions", f"duckdb:///{tmp_path / 'shop.duckdb'}",
                  "--table", "orders", "--customer-id", "client_id", "--date", "order_date",
                  "--amount", "total", cwd=tmp_path).returncode == 0


def test_spark_engine_without_amounts_is_an_error():
    with pytest.raises(ConfigError, match=r"summary.engine: the Spark engine needs amounts"):
        config.Config.from_dict({"scenario": "v", "data": {"source": "files", "transactions": {
            "path": "v.csv", "amount": None}}, "summary": {"engine": "spark"}})
