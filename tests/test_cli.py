"""The `clvkit` command line: help, version, exit codes, one-line errors, and wiring."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pandas as pd
import pytest
import yaml

from clvkit import cli

ROOT = Path(__file__).resolve().parents[1]
GOOD = ROOT / "tests" / "data" / "good" / "transactions.csv"
BAD = ROOT / "tests" / "data" / "bad"
COMMANDS = ("validate", "simulate", "run", "score", "report")


def clvkit(*args, cwd=None):
    """Run the installed console script in a fresh process."""
    exe = Path(sys.executable).with_name("clvkit")
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    return subprocess.run([str(exe), *map(str, args)], capture_output=True, text=True,
                          cwd=cwd or ROOT, env=env, timeout=300)


def run_main(capsys, *args):
    code = cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(err: str, match: str):
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("clvkit: ")
    assert "Traceback" not in err
    assert re.search(match, lines[0]), lines[0]


# ------------------------------------------------------------------------- help, version
def test_version_matches_installed_distribution():
    res = clvkit("--version")
    assert res.returncode == 0
    assert res.stdout.strip() == f"clvkit {version('clvkit')}"


def test_top_level_help_lists_every_command():
    res = clvkit("--help")
    assert res.returncode == 0
    for command in COMMANDS:
        assert f"    {command} " in res.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_has_help(capsys, command):
    with pytest.raises(SystemExit) as info:
        cli.main([command, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: clvkit {command}")


def test_no_command_prints_help_and_exits_2(capsys):
    code, _, err = run_main(capsys)
    assert code == 2 and "usage: clvkit" in err


def test_malformed_run_date_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["score", "params/retail.yaml", "--out", "x", "--run-date", "31/12/2024"])
    assert info.value.code == 2
    assert "'31/12/2024' is not a date as YYYY-MM-DD" in capsys.readouterr().err


# ------------------------------------------------------------------------------ validate
def test_validate_a_transactions_file_prints_ledger_and_counts(capsys):
    raw = pd.read_csv(GOOD)
    code, out, err = run_main(capsys, "validate", "--transactions", GOOD)
    assert code == 0, err
    assert "rows in" in out and "exact duplicate row" in out  # the ledger table
    assert f"customers:        {raw['customer_id'].nunique():,} with purchases" in out
    assert f"transactions:     {len(raw):,}" in out


def test_validate_cdnow_params_reports_the_published_customer_count(capsys):
    code, out, err = run_main(capsys, "validate", ROOT / "params" / "cdnow.yaml")
    assert code == 0, err
    # FHL (2005): the CDNOW sample holds 2,357 customers, first purchases in 1997 Q1
    assert "customers:        2,357 with purchases" in out
    assert "dates:            1997-01-01 to 1998-06-30" in out


def test_validate_needs_params_or_transactions(capsys):
    code, _, err = run_main(capsys, "validate")
    assert code == 2
    assert_one_line_error(err, r"give either PARAMS or --transactions FILE")
    code, _, err = run_main(capsys, "validate", "params/cdnow.yaml", "--transactions", GOOD)
    assert code == 2
    assert_one_line_error(err, r"give either PARAMS or --transactions FILE")


def test_missing_params_file_is_one_line_exit_2():
    res = clvkit("validate", "params/nope.yaml")
    assert res.returncode == 2
    assert_one_line_error(res.stderr, r"params/nope\.yaml: params file not found")
    assert res.stdout == ""


def test_bad_params_key_is_one_line_exit_2(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump({"scenario": "bad", "data": {"source": "simulate"},
                                 "tiers": {"rules": [{"label": "a", "share": 0.7},
                                                     {"label": "b", "share": 0.7}]}}))
    res = clvkit("validate", p)
    assert res.returncode == 2
    assert_one_line_error(res.stderr, r"bad\.yaml: tiers\.rules: quantile shares sum to 1\.4")


def test_missing_column_in_transactions_file_is_one_line_exit_2(capsys):
    code, _, err = run_main(capsys, "validate", "--transactions", GOOD, "--amount", "price")
    assert code == 2
    assert_one_line_error(err, r"price")


def test_missing_transactions_file_is_one_line_exit_2(capsys, tmp_path):
    code, _, err = run_main(capsys, "validate", "--transactions", tmp_path / "none.csv")
    assert code == 2
    assert_one_line_error(err, r"none\.csv")


def test_unexpected_exceptions_keep_their_traceback(monkeypatch):
    def boom(args):
        raise RuntimeError("a bug")

    monkeypatch.setattr(cli, "_validate", boom)
    with pytest.raises(RuntimeError, match="a bug"):
        cli.main(["validate", "params/retail.yaml"])


# ---------------------------------------------------------------------- bad-input manifest
MANIFEST = yaml.safe_load((BAD / "EXPECTED.yaml").read_text(encoding="utf-8"))
OPTIONS = {"customer_id": "--customer-id", "date": "--date", "amount": "--amount",
           "date_format": "--date-format", "timezone": "--timezone", "sep": "--sep",
           "encoding": "--encoding", "observation_end": "--observation-end",
           "returns": "--returns", "zero_amounts": "--zero-amounts", "amount_cap": "--amount-cap",
           "max_drop_share": "--max-drop-share"}
# The library's fix names a keyword (pass sep=';'); the command line names the flag to type.
CLI_FIXES = {
    "missing_column.csv": r"fix: pass --date 'order_date'$",
    "wrong_case_column.csv": r"fix: pass --customer-id 'Customer_ID'$",
    "semicolon_delimiter.csv": r"is ';'-separated; fix: pass --sep ';'$",
    "tab_delimiter.csv": r"is '\\t'-separated; fix: pass --sep '\\t'$",
    "pipe_delimiter.csv": r"is '\|'-separated; fix: pass --sep '\|'$",
    "latin1.csv": r"not valid utf-8 text \(first bad bytes on line 2\); fix: pass --encoding \"latin-1\"",
    "ambiguous_dates.csv": r"ambiguous day/month order.*fix: pass --date-format '%d/%m/%Y'",
    "non_iso_dates.csv": r"not ISO 8601 \(e.g. 'Jan 5, 2024'.*fix: pass --date-format with",
    "mixed_tz.csv": r"no timezone is configured; fix: pass --timezone 'UTC'",
}


def validate_args(name: str, entry: dict, **extra) -> list:
    args = ["validate", "--transactions", BAD / name]
    for key, value in {**(entry.get("read") or {}), **(entry.get("clean") or {}), **extra}.items():
        args += [OPTIONS[key], value]  # a KeyError here means the CLI lacks an option
    return args


@pytest.mark.parametrize("name", sorted(n for n, e in MANIFEST.items() if "error" in e))
def test_every_bad_input_error_is_exit_2_one_line_no_traceback(capsys, name):
    code, out, err = run_main(capsys, *validate_args(name, MANIFEST[name]))
    assert code == 2, out + err
    assert_one_line_error(err, CLI_FIXES.get(name, MANIFEST[name]["error"]))
    assert not re.search(r"\b(customer_id|date|sep|encoding|date_format|timezone)=", err), err


@pytest.mark.parametrize("name", ["latin1.csv", "binary_garbage.csv", "mixed_tz.csv"])
def test_bad_input_in_a_real_process_prints_only_the_error_line(name):
    res = clvkit(*validate_args(name, MANIFEST[name]))
    assert res.returncode == 2, res.stdout + res.stderr
    assert_one_line_error(res.stderr, CLI_FIXES.get(name, MANIFEST[name]["error"]))
    assert res.stdout == ""


@pytest.mark.parametrize("name", sorted(n for n, e in MANIFEST.items() if "ledger" in e))
def test_every_bad_input_ledger_entry_is_exit_0_with_the_reason_counted(capsys, name):
    """These tiny files drop far more than the default 5 %, so the share is raised on purpose
    (tests/test_guard_data.py checks that without it they stop)."""
    entry = MANIFEST[name]
    code, out, err = run_main(capsys, *validate_args(name, entry, max_drop_share=1))
    assert code == 0, err
    for reason, rows in entry["ledger"].items():
        assert re.search(rf"^\s*{re.escape(reason)}\s+{rows}\s", out, re.M), (reason, out)
    if "rows_out" in entry:
        assert f"transactions:     {entry['rows_out']:,}," in out


# ---------------------------------------------------------------------- simulate and run
def test_simulate_writes_contract_tables_deterministically(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for out in (a, b):
        res = clvkit("simulate", "--customers", 300, "--seed", 7, "--out", out, "--no-programme")
        assert res.returncode == 0, res.stderr
    tx = pd.read_csv(a / "transactions.csv")
    assert {"customer_id", "date", "amount"} <= set(tx.columns)
    customers = pd.read_csv(a / "customers.csv")
    assert len(customers) == 300
    assert set(tx["customer_id"]) <= set(customers["customer_id"])
    for path in sorted(a.iterdir()):
        assert path.read_bytes() == (b / path.name).read_bytes(), path.name


def test_simulate_parquet(tmp_path):
    res = clvkit("simulate", "--customers", 100, "--seed", 3, "--out", tmp_path, "--format",
                 "parquet", "--no-programme")
    assert res.returncode == 0, res.stderr
    assert len(pd.read_parquet(tmp_path / "customers.parquet")) == 100


def test_run_prints_each_step_on_a_small_simulated_scenario(capsys, tmp_path):
    p = tmp_path / "small.yaml"
    p.write_text(yaml.safe_dump({"scenario": "small", "data": {
        "source": "simulate", "simulate": {"customers": 300, "seed": 5, "programme": False}},
        "satisfaction": {"enabled": False}, "impact": {"enabled": False}}))
    code, out, err = run_main(capsys, "run", p)
    assert code == 0, err
    assert "1. params" in out and "2. data     simulated: 300 customers, seed 5" in out
    assert "3. summary" in out


def test_run_on_cdnow_reproduces_the_published_calibration_counts(capsys):
    code, out, err = run_main(capsys, "run", ROOT / "params" / "cdnow.yaml")
    assert code == 0, err
    # Fader, Hardie & Lee (2005) CDNOW sample, calibration to 1997-09-30: 946 repeat buyers
    # making 2,457 repeat purchases in all
    assert ("4. holdout  calibration to 1997-09-30: 2,357 customers, 946 repeat buyers, "
            "total frequency 2,457") in out


# ------------------------------------------------------------------- score/report wiring
def test_score_is_wired_to_pipeline_write_exports(capsys, monkeypatch, tmp_path):
    from clvkit import pipeline

    calls = []
    monkeypatch.setattr(pipeline, "write_exports",
                        lambda config, result, out_dir: calls.append(
                            (config.scenario, out_dir, result.run_date)) or [out_dir / "tiers.csv"])
    code, out, err = run_main(capsys, "score", ROOT / "params" / "cdnow.yaml", "--out", tmp_path,
                              "--run-date", "2025-01-31")
    assert code == 0, err
    assert calls == [("cdnow", tmp_path, pd.Timestamp("2025-01-31"))]
    assert f"wrote {tmp_path / 'tiers.csv'}" in out


def test_score_validates_params_before_scoring(capsys, tmp_path):
    code, _, err = run_main(capsys, "score", tmp_path / "none.yaml", "--out", tmp_path)
    assert code == 2
    assert_one_line_error(err, r"none\.yaml: params file not found")


def test_report_is_wired_to_run_report(capsys, monkeypatch, tmp_path):
    from clvkit import report

    calls = []

    def fake(params_path, out="reports", run_date=None, only=None, notebooks_dir=None, pdf=None):
        calls.append((params_path, out, run_date, only, notebooks_dir))
        pdfs.append(pdf)

    pdfs = []

    monkeypatch.setattr(report, "run_report", fake)
    code, _, err = run_main(capsys, "report", "params/retail.yaml", "--out", tmp_path,
                            "--only", "03_tiers", "--only", "01_data_quality")
    assert code == 0, err
    assert calls == [("params/retail.yaml", tmp_path, None, ["03_tiers", "01_data_quality"],
                      None)]
    code, _, err = run_main(capsys, "report", "params/retail.yaml", "--notebooks", tmp_path / "nb")
    assert code == 0, err
    assert calls[-1][-1] == tmp_path / "nb"
    run_main(capsys, "report", "params/retail.yaml", "--pdf")
    assert pdfs == [None, None, True]   # None: the params' report.pdf decides


def test_score_end_to_end_writes_one_row_per_customer(capsys, tmp_path):
    p = tmp_path / "small.yaml"
    p.write_text(yaml.safe_dump({"scenario": "small", "data": {
        "source": "simulate", "simulate": {"customers": 400, "seed": 11, "programme": False}},
        **{"satisfaction": {"enabled": False}, "impact": {"enabled": False}}}))
    code, out, err = run_main(capsys, "score", p, "--out", tmp_path / "out",
                              "--run-date", "2025-01-15")
    assert code == 0, err
    tiers = pd.read_csv(tmp_path / "out" / "tiers.csv")
    assert len(tiers) == 400 and tiers["customer_id"].is_unique
    assert set(tiers["run_date"].astype(str)) == {"2025-01-15"}
    assert f"wrote {tmp_path / 'out' / 'tiers.csv'}" in out


def test_simulated_files_read_back_as_a_file_scenario(capsys, tmp_path):
    """What `clvkit simulate` writes is a valid input for a `files` scenario, table for table."""
    from clvkit import config, pipeline
    from clvkit.datasets import simulate

    code, _, err = run_main(capsys, "simulate", "--customers", 300, "--seed", 9,
                            "--out", tmp_path / "sim")
    assert code == 0, err
    tables = ("transactions", "customers", "surveys", "complaints", "programme")
    params = tmp_path / "sim.yaml"
    params.write_text(yaml.safe_dump({
        "scenario": "sim_files",
        "data": {"source": "files", **{t: {"path": f"sim/{t}.csv"} for t in tables},
                 "customers": {"path": "sim/customers.csv", "date": "signup_date"}},
        "cleaning": {"observation_end": "2024-12-31"},
        "impact": {"programme_start": "2024-03-01"}}))
    data = pipeline.load_data(config.load(params))
    sim = simulate(300, 9)
    for name in tables:
        assert len(getattr(data, name)) == len(getattr(sim, name)), name
    assert data.transactions["amount"].sum() == pytest.approx(sim.transactions["amount"].sum())
