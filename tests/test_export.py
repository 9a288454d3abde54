import numpy as np
import pandas as pd
import pytest

from clvkit.errors import DataError
from clvkit.export import (ASSIGNMENT_COLUMNS, read_assignments, write_assignments,
                           write_table)


def _table(ids=("C000001", "C000002", "P000003")):
    return pd.DataFrame({
        "customer_id": list(ids),
        "tier": pd.Categorical(["VIP客户", "普通客户", "潜在客户"]),
        "tier_2d": ["VIP客户 / loyal", "普通客户 / new", "潜在客户 / prospect"],
        "stage": ["loyal", "new", "prospect"],
        "segment": ["champions", "can't lose", "prospect"],
        "r_score": pd.array([5, 2, pd.NA], dtype="Int64"),
        "f_score": pd.array([5, 5, pd.NA], dtype="Int64"),
        "m_score": pd.array([4, 1, pd.NA], dtype="Int64"),
        "rfm_score": pd.array([554, 251, pd.NA], dtype="Int64"),
        "clv": [1234.5, 0.125, np.nan],
        "p_alive": [0.99, 0.5, np.nan],
        "expected_purchases": [7.25, 0.5, np.nan],
        "clv_at_risk": [12.345, 0.0625, np.nan],
        "action": ["专属客户经理, quarterly call", "积分", "首单优惠"],
        "run_date": pd.Timestamp("2025-01-31"),
    })[list(ASSIGNMENT_COLUMNS)]


@pytest.mark.parametrize("bom", [False, True])
def test_csv_round_trips_chinese_labels(tmp_path, bom):
    table = _table()
    paths = write_assignments(table, tmp_path, csv_bom=bom)
    raw = paths["csv"].read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") == bom
    assert "VIP客户".encode("utf-8") in raw
    back = read_assignments(paths["csv"])
    assert list(back.columns) == list(ASSIGNMENT_COLUMNS)
    assert back["tier"].tolist() == ["VIP客户", "普通客户", "潜在客户"]
    assert back["action"].iloc[0] == "专属客户经理, quarterly call"
    assert back["rfm_score"].iloc[1] == 251 and pd.isna(back["rfm_score"].iloc[2])
    assert back["clv"].iloc[1] == 0.125 and back["run_date"].iloc[0] == pd.Timestamp("2025-01-31")
    assert raw.decode("utf-8-sig").splitlines()[0] == ",".join(ASSIGNMENT_COLUMNS)
    assert not list(tmp_path.glob(".*tmp"))


def test_parquet_round_trip_and_integer_ids(tmp_path):
    table = _table(ids=(101, 205, 999))
    paths = write_assignments(table, tmp_path, stem="tiers_2025")
    assert paths["parquet"].name == "tiers_2025.parquet"
    for fmt in ("csv", "parquet"):
        back = read_assignments(paths[fmt])
        assert back["customer_id"].tolist() == [101, 205, 999]
        assert back["tier"].tolist() == ["VIP客户", "普通客户", "潜在客户"]
        pd.testing.assert_series_equal(back["m_score"], table["m_score"])


def test_missing_column_and_duplicates(tmp_path):
    with pytest.raises(DataError, match=r"'action': tier assignments lack column\(s\) action"):
        write_assignments(_table().drop(columns="action"), tmp_path)
    with pytest.raises(DataError, match=r"column 'customer_id': 1 customers appear twice"):
        write_assignments(_table(ids=("a", "a", "b")), tmp_path)
    write_table(_table().drop(columns="tier"), tmp_path / "old.csv")
    with pytest.raises(DataError, match=r"old.csv, column 'tier': tier assignments lack"):
        read_assignments(tmp_path / "old.csv")


def test_missing_or_unknown_file(tmp_path):
    with pytest.raises(DataError, match=r"nope.csv: file not found; fix: check the path"):
        read_assignments(tmp_path / "nope.csv")
    (tmp_path / "t.xlsx").write_text("x")
    with pytest.raises(DataError, match=r"unknown table format '.xlsx'"):
        read_assignments(tmp_path / "t.xlsx")
