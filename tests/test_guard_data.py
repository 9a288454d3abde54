"""Silent damage (issue 11, items 1, 2 and 4), driven through the command line.

Each case is a real file on disk fed to `clvkit validate` or `clvkit score`: it ends either in a
correct result (and then rows in = rows out + ledger) or in one line with exit status 2.
The data are the CDNOW sample written as CSV, with the bad rows added.
"""
from __future__ import annotations

import re

import pandas as pd
import pytest
import yaml

from clvkit import cli
from clvkit.datasets import load_cdnow


def run(capsys, *args):
    code = cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str, pattern: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("clvkit: "), err
    assert "Traceback" not in err
    assert re.search(pattern, lines[0]), lines[0]
    return lines[0]


def ledger_counts(out: str) -> dict:
    """rows in, rows out and each reason's rows, from the ledger `validate` prints."""
    head = re.search(r"([\d,]+) rows in, ([\d,]+) out, ([\d,]+) dropped", out)
    rows = {m.group(1).strip(): int(m.group(2).replace(",", ""))
            for m in re.finditer(r"^\s*([a-z][a-z ()<=-]+?)\s+([\d,]+)\s+[\d,]+\s+[-\d,.]+\s+"
                                 r"(?:dropped|modified)$", out, re.M)}
    rows_in, rows_out, dropped = (int(g.replace(",", "")) for g in head.groups())
    return {"in": rows_in, "out": rows_out, "dropped": dropped, "reasons": rows}


def assert_balanced(counts: dict) -> None:
    dropped = sum(n for r, n in counts["reasons"].items()
                  if r not in ("purchase reduced by same-day return",))
    assert counts["in"] == counts["out"] + dropped == counts["out"] + counts["dropped"]


@pytest.fixture(scope="module")
def cdnow():
    return load_cdnow("sample")[["customer_id", "date", "amount"]]


@pytest.fixture()
def write(tmp_path):
    def _write(frame, name="tx.csv", **kw):
        path = tmp_path / name
        frame.to_csv(path, index=False, **kw)
        return path
    return _write


def params(tmp_path, tx_path, **extra):
    data = {"scenario": "guard",
            "data": {"source": "files", "transactions": {"path": str(tx_path), **extra}},
            "satisfaction": {"enabled": False}, "impact": {"enabled": False}}
    path = tmp_path / "guard.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


# ---------------------------------------------------------------- 1. implausible dates
@pytest.mark.parametrize("bad", ["2150-06-01", "9999-12-31", "1850-01-01", "0001-01-01"])
def test_implausible_date_is_dropped_under_its_own_reason(capsys, cdnow, write, bad):
    frame = pd.concat([cdnow.assign(date=cdnow["date"].dt.strftime("%Y-%m-%d")),
                       pd.DataFrame({"customer_id": [1], "date": [bad], "amount": [9.99]})])
    code, out, err = run(capsys, "validate", "--transactions", write(frame))
    assert code == 0, err
    counts = ledger_counts(out)
    reason = "date after run date" if bad > "2000" else "date before plausible floor"
    assert counts["reasons"][reason] == 1
    assert counts["in"] == len(cdnow) + 1
    assert_balanced(counts)
    # the observation end is the last plausible date, not the typo
    assert "observation end 1998-06-30" in out
    assert "dates:            1997-01-01 to 1998-06-30" in out


def test_one_future_typo_leaves_every_score_unchanged(capsys, cdnow, write, tmp_path):
    clean = write(cdnow, "clean.csv")
    typo = write(pd.concat([cdnow, pd.DataFrame({"customer_id": [1], "date": ["2150-06-01"],
                                                  "amount": [15.0]})]), "typo.csv")
    outs = []
    for name, path in (("a", clean), ("b", typo)):
        p = params(tmp_path / name if (tmp_path / name).mkdir() is None else None, path)
        code, out, err = run(capsys, "score", p, "--out", tmp_path / name / "out",
                             "--run-date", "2024-01-01")
        assert code == 0, err
        assert re.search(r"Cleaning of .*: 6,9\d\d rows in", out), out
        outs.append(pd.read_csv(tmp_path / name / "out" / "tiers.csv"))
    a, b = outs
    assert a["clv"].mean() == pytest.approx(b["clv"].mean(), rel=1e-9)
    assert (a["tier"] == b["tier"]).all() and (a["stage"] == b["stage"]).all()
    assert b["clv"].mean() > 10  # the damaged run would be near 0


def test_date_floor_and_tolerance_are_params(capsys, cdnow, write, tmp_path):
    frame = pd.concat([cdnow, pd.DataFrame({"customer_id": [1], "date": ["1985-03-01"],
                                            "amount": [5.0]})])
    p = params(tmp_path, write(frame))
    cfg = yaml.safe_load(p.read_text())
    cfg["cleaning"] = {"date_floor": "1980-01-01"}
    p.write_text(yaml.safe_dump(cfg))
    code, out, err = run(capsys, "validate", p)
    assert code == 0, err
    counts = ledger_counts(out)
    assert counts["reasons"]["date before plausible floor"] == 0
    assert "dates:            1985-03-01 to 1998-06-30" in out


# ------------------------------------------------------------------- 2. mass drops
def test_thousands_separators_are_parsed_not_dropped(capsys, cdnow, write):
    frame = cdnow.assign(amount=(cdnow["amount"] * 100).map("{:,.2f}".format))
    assert frame["amount"].str.contains(",").mean() > 0.4
    code, out, err = run(capsys, "validate", "--transactions", write(frame))
    assert code == 0, err
    counts = ledger_counts(out)
    assert counts["reasons"]["non-numeric amount"] == 0
    assert_balanced(counts)
    total = round(cdnow.drop_duplicates()["amount"].sum() * 100, 2)
    assert f"total amount {total:,.2f}" in out


def test_explicit_thousands_separator_reads_european_amounts(capsys, cdnow, write):
    text = (cdnow["amount"] * 100).map("{:,.2f}".format)
    frame = cdnow.assign(amount=text.str.translate(str.maketrans(",.", ".,")))  # 1.234,50
    code, out, err = run(capsys, "validate", "--transactions", write(frame), "--thousands", ".")
    assert code == 0, err
    total = round(cdnow.drop_duplicates()["amount"].sum() * 100, 2)
    assert f"total amount {total:,.2f}" in out


def test_thousands_in_params_file(capsys, cdnow, write, tmp_path):
    text = (cdnow["amount"] * 100).map("{:,.2f}".format)
    frame = cdnow.assign(amount=text.str.translate(str.maketrans(",.", ".,")))
    code, out, err = run(capsys, "validate", params(tmp_path, write(frame), thousands="."))
    assert code == 0, err
    assert ledger_counts(out)["reasons"]["non-numeric amount"] == 0


def test_ambiguous_thousands_stop_with_the_reason_examples_and_fix(capsys, cdnow, write):
    frame = cdnow.assign(amount=(cdnow["amount"] * 100).round().astype(int).map("{:,}".format))
    code, out, err = run(capsys, "validate", "--transactions", write(frame))
    assert code == 2
    line = one_line(err, r"cleaning would drop [\d,]+ of 6,919 rows \([\d.]+%\) as "
                         r"'non-numeric amount', e\.g\. '[\d,]+', '[\d,]+', '[\d,]+'")
    assert "--thousands" in line and "--max-drop-share" in line


def test_wrong_date_format_stops_instead_of_dropping_most_rows(capsys, cdnow, write):
    frame = cdnow.assign(date=cdnow["date"].dt.strftime("%d/%m/%Y"))
    code, out, err = run(capsys, "validate", "--transactions", write(frame),
                         "--date-format", "%m/%d/%Y")
    assert code == 2
    one_line(err, r"cleaning would drop [\d,]+ of 6,919 rows .* as 'unparseable date', "
                  r"e\.g\. '\d\d/\d\d/1997', .*fix: pass the date_format")


def test_mass_drop_can_be_allowed_on_purpose(capsys, cdnow, write):
    frame = cdnow.assign(date=cdnow["date"].dt.strftime("%d/%m/%Y"))
    code, out, err = run(capsys, "validate", "--transactions", write(frame),
                         "--date-format", "%m/%d/%Y", "--max-drop-share", "1")
    assert code == 0, err
    counts = ledger_counts(out)
    assert counts["reasons"]["unparseable date"] > 0.5 * counts["in"]
    assert_balanced(counts)


def test_several_small_reasons_add_up_to_a_stop(capsys, cdnow, write):
    frame = cdnow.astype({"amount": "object", "customer_id": "object"}).copy()
    n = len(frame)
    frame.loc[frame.index[: int(0.04 * n)], "amount"] = "n/a-amount"
    frame.loc[frame.index[-int(0.04 * n):], "customer_id"] = None
    code, out, err = run(capsys, "validate", "--transactions", write(frame))
    assert code == 2
    one_line(err, r"for data reasons in total \(largest: ")


def test_score_stops_on_a_mass_drop_from_params(capsys, cdnow, write, tmp_path):
    frame = cdnow.assign(amount=(cdnow["amount"] * 100).round().astype(int).map("{:,}".format))
    p = params(tmp_path, write(frame))
    code, out, err = run(capsys, "score", p, "--out", tmp_path / "out")
    assert code == 2
    line = one_line(err, r"as 'non-numeric amount'")
    assert "data.transactions.thousands" in line and "cleaning.max_drop_share" in line
    assert not (tmp_path / "out" / "tiers.csv").exists()


def test_score_prints_the_ledger_line(capsys, cdnow, write, tmp_path):
    p = params(tmp_path, write(cdnow))
    code, out, err = run(capsys, "score", p, "--out", tmp_path / "out")
    assert code == 0, err
    m = re.search(r"Cleaning of .*: ([\d,]+) rows in, ([\d,]+) out, ([\d,]+) dropped", out)
    rows_in, rows_out, dropped = (int(g.replace(",", "")) for g in m.groups())
    assert rows_in == len(cdnow) == rows_out + dropped
    assert len(pd.read_csv(tmp_path / "out" / "tiers.csv")) == cdnow["customer_id"].nunique()


# -------------------------------------------------- 4. never a silent choice on structure
def test_duplicated_csv_column_is_an_error(capsys, tmp_path):
    path = tmp_path / "dup.csv"
    path.write_text("customer_id,date,amount,amount\n1,2024-01-01,5,7\n", encoding="utf-8")
    code, _, err = run(capsys, "validate", "--transactions", path)
    assert code == 2
    one_line(err, r"dup\.csv, column 'amount': has two columns named 'amount' \(columns 3 and "
                  r"4\); fix: rename")


def test_duplicated_yaml_key_is_an_error(capsys, tmp_path, cdnow, write):
    p = tmp_path / "dup.yaml"
    p.write_text(f"scenario: a\ndata:\n  source: files\n  transactions: {{path: {write(cdnow)}}}\n"
                 "satisfaction: {enabled: false}\nimpact: {enabled: false}\n"
                 "tiers: {score: clv}\ntiers: {score: revenue}\n", encoding="utf-8")
    code, _, err = run(capsys, "validate", p)
    assert code == 2
    one_line(err, r"dup\.yaml: not valid YAML at line 8.*key 'tiers' appears twice.*line 7\).*"
                  r"fix: keep one of the two$")


def test_boolean_amount_column_is_an_error(capsys, tmp_path, cdnow, write):
    frame = cdnow.assign(amount=cdnow["amount"] > 20)
    code, _, err = run(capsys, "validate", "--transactions", write(frame))
    assert code == 2
    one_line(err, r"column 'amount': holds true/false values, not amounts; fix: map amount")


def test_whole_float_ids_are_integers_in_the_export(capsys, cdnow, write, tmp_path):
    frame = cdnow.assign(customer_id=cdnow["customer_id"].astype(float))
    path = write(frame)
    assert "\n1.0," in path.read_text()
    code, out, err = run(capsys, "score", params(tmp_path, path), "--out", tmp_path / "out")
    assert code == 0, err
    text = (tmp_path / "out" / "tiers.csv").read_text()
    assert "\n1," in text and "\n1.0," not in text
    ids = pd.read_parquet(tmp_path / "out" / "tiers.parquet")["customer_id"]
    assert ids.dtype == "int64" and set(ids) == set(cdnow["customer_id"])


def test_fractional_float_ids_are_an_error(capsys, cdnow, tmp_path):
    path = tmp_path / "tx.parquet"
    cdnow.assign(customer_id=cdnow["customer_id"] + 0.5).to_parquet(path)
    code, _, err = run(capsys, "validate", "--transactions", path)
    assert code == 2
    one_line(err, r"column 'customer_id': has customer ids that are not whole numbers")
