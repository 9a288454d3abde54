"""clvkit.io: every source kind gives the same canonical tables; whole-input problems raise."""
import sqlite3
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from clvkit.errors import ConfigError, DataError
from clvkit.io import (UNPARSED_DATE, parse_dates, read_complaints, read_customers,
                       read_programme, read_surveys, read_transactions)

GOOD = Path(__file__).parent / "data" / "good"
BAD = Path(__file__).parent / "data" / "bad"

# tests/data/good/transactions.csv, written out by hand
IDS = [1, 1, 2, 3, 2]
DATES = [pd.Timestamp(d) for d in ("2024-01-05", "2024-01-05 18:30", "2024-02-10",
                                   "2024-03-01", "2024-01-15")]
AMOUNTS = [10.5, 4.25, 20.0, 7.0, 5.0]
STORES = ["north", "north", "south", "south", "south"]
ROWS = list(zip(IDS, [d.strftime("%Y-%m-%d %H:%M:%S") for d in DATES], AMOUNTS, STORES))


def _assert_canonical(frame):
    assert list(frame.columns[:3]) == ["customer_id", "date", "amount"]
    assert frame["customer_id"].dtype == np.int64
    assert frame["date"].dtype == "datetime64[us]"
    assert frame["amount"].dtype == np.float64
    assert frame["customer_id"].tolist() == IDS
    assert list(frame["date"]) == list(DATES)
    assert frame["amount"].tolist() == AMOUNTS
    assert frame["store"].tolist() == STORES
    assert UNPARSED_DATE not in frame.columns


def test_csv_reads_into_canonical_columns():
    frame = read_transactions(GOOD / "transactions.csv")
    _assert_canonical(frame)
    assert frame.attrs["source"] == str(GOOD / "transactions.csv")


def test_parquet_reads_the_same(tmp_path):
    path = tmp_path / "tx.parquet"
    pd.DataFrame(ROWS, columns=["cid", "ts", "value", "store"]).assign(
        ts=lambda d: pd.to_datetime(d["ts"])).to_parquet(path)
    _assert_canonical(read_transactions(path, customer_id="cid", date="ts", amount="value"))


def test_duckdb_table_and_query_read_the_same(tmp_path):
    path = tmp_path / "shop.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE sales (cid BIGINT, ts TIMESTAMP, value DOUBLE, store VARCHAR)")
    con.executemany("INSERT INTO sales VALUES (?, ?, ?, ?)", ROWS)
    con.close()
    kw = dict(customer_id="cid", date="ts", amount="value")
    _assert_canonical(read_transactions(path, table="sales", **kw))
    frame = read_transactions(path, query="SELECT * FROM sales WHERE store = 'south'", **kw)
    assert frame["amount"].tolist() == [20.0, 7.0, 5.0]


def _sqlite(path):
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE sales (cid INTEGER, ts TEXT, value REAL, store TEXT)")
    con.executemany("INSERT INTO sales VALUES (?, ?, ?, ?)", ROWS)
    con.commit()
    con.close()
    return path


def test_sqlite_url_with_table_or_query(tmp_path):
    path = _sqlite(tmp_path / "shop.db")
    kw = dict(customer_id="cid", date="ts", amount="value")
    _assert_canonical(read_transactions(f"sqlite:///{path}", table="sales", **kw))
    frame = read_transactions(f"sqlite:///{path}", query="SELECT * FROM sales WHERE value > 6",
                              **kw)
    assert frame["amount"].tolist() == [10.5, 20.0, 7.0]
    _assert_canonical(read_transactions(path, table="sales", **kw))  # a bare SQLite path too


def test_dataframe_source_is_copied_not_changed():
    source = pd.DataFrame(ROWS, columns=["customer_id", "date", "amount", "store"])
    before = source.copy()
    _assert_canonical(read_transactions(source))
    pd.testing.assert_frame_equal(source, before)


def test_column_mapping_and_date_format_for_cdnow_style_dates(tmp_path):
    path = tmp_path / "cdnow.csv"
    path.write_text("id,day,n,dollars\n4,19970101,2,29.33\n4,19970118,1,29.73\n18,19970102,1,14.96\n")
    frame = read_transactions(path, customer_id="id", date="day", amount="dollars",
                              date_format="%Y%m%d")
    assert frame["customer_id"].tolist() == [4, 4, 18]
    assert list(frame["date"]) == list(pd.to_datetime(["1997-01-01", "1997-01-18", "1997-01-02"]))
    assert frame["n"].tolist() == [2, 1, 1]


def test_day_first_format_resolves_the_ambiguity(tmp_path):
    path = tmp_path / "dmy.csv"
    path.write_text("customer_id,date,amount\n1,05/01/2024,1\n2,13/02/2024,2\n")
    frame = read_transactions(path, date_format="%d/%m/%Y")
    assert list(frame["date"]) == [pd.Timestamp("2024-01-05"), pd.Timestamp("2024-02-13")]


def test_offsets_are_converted_to_the_configured_zone(tmp_path):
    # Europe/Berlin: CET (+1) until 2024-03-31 01:00 UTC, then CEST (+2) until 2024-10-27 01:00 UTC
    path = tmp_path / "tz.csv"
    path.write_text("customer_id,date,amount\n"
                    "1,2024-03-30T23:30:00+00:00,1\n"    # 00:30 CET on the 31st: next day
                    "1,2024-03-31T01:30:00Z,1\n"         # 03:30 CEST
                    "2,2024-10-27T03:30:00+02:00,1\n"    # 01:30 UTC = 02:30 CET
                    "2,2024-06-01T12:00:00-04:00,1\n")   # 16:00 UTC = 18:00 CEST
    frame = read_transactions(path, timezone="Europe/Berlin")
    assert list(frame["date"]) == list(pd.to_datetime(
        ["2024-03-31 00:30", "2024-03-31 03:30", "2024-10-27 02:30", "2024-06-01 18:00"]))


def test_tz_aware_parquet_is_converted(tmp_path):
    path = tmp_path / "tz.parquet"
    pd.DataFrame({"customer_id": ["a", "b"], "amount": [1.0, 2.0],
                  "date": pd.to_datetime(["2024-01-01 03:00", "2024-07-01 03:00"]).tz_localize(
                      "UTC")}).to_parquet(path)
    frame = read_transactions(path, timezone="America/New_York")  # EST -5, EDT -4
    assert list(frame["date"]) == list(pd.to_datetime(["2023-12-31 22:00", "2024-06-30 23:00"]))
    with pytest.raises(DataError, match="time-zone offsets .* no timezone is configured"):
        read_transactions(path)


def test_unparseable_dates_are_kept_for_cleaning_not_raised():
    frame = read_transactions(BAD / "garbage_dates.csv")
    assert frame["date"].isna().sum() == 2
    assert frame[UNPARSED_DATE].dropna().tolist() == ["not a date", "2024-13-45"]
    assert frame[UNPARSED_DATE].notna().tolist() == frame["date"].isna().tolist()


def test_missing_dates_are_not_marked_unparseable():
    frame = read_transactions(BAD / "missing_dates.csv")
    assert frame["date"].isna().sum() == 1
    assert UNPARSED_DATE not in frame.columns


def test_parse_dates_reports_failures_per_row():
    values = pd.Series(["2024-01-02", None, "nope", "2024-02-30", "2024-03-01", "2024-03-02"])
    parsed, failed = parse_dates(values)
    assert failed.tolist() == [False, False, True, True, False, False]
    assert parsed.iloc[0] == pd.Timestamp("2024-01-02") and parsed.iloc[1:4].isna().all()
    assert parsed.iloc[5] == pd.Timestamp("2024-03-02")


def test_ids_keep_leading_zeros_and_integers_become_int(tmp_path):
    path = tmp_path / "ids.csv"
    path.write_text("customer_id,date,amount\n007,2024-01-01,1\n 12 ,2024-01-01,1\n")
    assert read_transactions(path)["customer_id"].tolist() == ["007", "12"]
    path.write_text("customer_id,date,amount\n7,2024-01-01,1\n,2024-01-01,1\n12,2024-01-01,1\n")
    ids = read_transactions(path)["customer_id"]
    assert ids.dtype == "Int64" and ids.tolist() == [7, pd.NA, 12]


def test_text_amounts_are_kept_as_text_for_cleaning():
    frame = read_transactions(BAD / "text_amounts.csv")
    assert frame["amount"].tolist() == ["10.0", "twelve", "1,300.00", "13.5", "EUR 14"]


def test_the_fixes_in_the_messages_work():
    assert len(read_transactions(BAD / "semicolon_delimiter.csv", sep=";")) == 2
    assert len(read_transactions(BAD / "tab_delimiter.csv", sep="\t")) == 2
    assert read_transactions(BAD / "latin1.csv", encoding="latin-1")["city"].tolist() == [
        "Zürich", "Sevilla"]
    assert len(read_transactions(BAD / "missing_column.csv", date="order_date")) == 2
    assert len(read_transactions(BAD / "mixed_tz.csv", timezone="UTC")) == 3


# ----------------------------------------------------------------------------- whole-input errors

def test_missing_file():
    with pytest.raises(DataError, match=r"nowhere\.csv: file not found; fix: check the path"):
        read_transactions("nowhere.csv")


def test_directory(tmp_path):
    with pytest.raises(DataError, match="is a directory"):
        read_transactions(tmp_path)


def test_missing_sqlite_file_is_not_created(tmp_path):
    with pytest.raises(DataError, match="database file not found"):
        read_transactions(f"sqlite:///{tmp_path / 'absent.db'}", table="sales")
    assert not (tmp_path / "absent.db").exists()


def test_missing_table_lists_the_tables(tmp_path):
    path = _sqlite(tmp_path / "shop.db")
    with pytest.raises(DataError, match="table 'sale' not found; tables are: sales; closest "
                                        "match: 'sales'"):
        read_transactions(f"sqlite:///{path}", table="sale")
    dpath = tmp_path / "shop.duckdb"
    duckdb.connect(str(dpath)).execute("CREATE TABLE orders (x INT)").close()
    with pytest.raises(DataError, match="table 'sales' not found; tables are: orders"):
        read_transactions(dpath, table="sales")


def test_failing_query(tmp_path):
    path = _sqlite(tmp_path / "shop.db")
    with pytest.raises(DataError, match="query failed .*no such column: nope"):
        read_transactions(f"sqlite:///{path}", query="SELECT nope FROM sales")


def test_query_returning_no_rows(tmp_path):
    path = _sqlite(tmp_path / "shop.db")
    with pytest.raises(DataError, match="has no rows"):
        read_transactions(f"sqlite:///{path}", query="SELECT * FROM sales WHERE 0",
                          customer_id="cid", date="ts", amount="value")


def test_database_needs_exactly_one_of_table_or_query(tmp_path):
    path = _sqlite(tmp_path / "shop.db")
    with pytest.raises(ConfigError, match="pass exactly one of table= or query="):
        read_transactions(f"sqlite:///{path}")
    with pytest.raises(ConfigError, match="pass exactly one of table= or query="):
        read_transactions(f"sqlite:///{path}", table="sales", query="SELECT 1")


def test_table_for_a_csv_is_a_config_error():
    with pytest.raises(ConfigError, match="table/query apply to database sources"):
        read_transactions(GOOD / "transactions.csv", table="sales")


def test_invalid_url():
    with pytest.raises(DataError, match="not a valid database URL"):
        read_transactions("no such://thing", table="t")


def test_unknown_timezone_and_encoding_are_config_errors():
    with pytest.raises(ConfigError, match="timezone: unknown timezone 'Mars/Olympus'"):
        read_transactions(BAD / "mixed_tz.csv", timezone="Mars/Olympus")
    with pytest.raises(ConfigError, match="encoding: unknown encoding 'klingon'"):
        read_transactions(GOOD / "transactions.csv", encoding="klingon")


def test_bad_date_format_is_a_config_error():
    with pytest.raises(ConfigError, match="date_format: invalid date_format"):
        read_transactions(GOOD / "transactions.csv", date_format="%Y-%m-%d %Q")


def test_mapped_column_colliding_with_canonical_name(tmp_path):
    path = tmp_path / "both.csv"
    path.write_text("customer_id,date,order_date,amount\n1,2024-01-01,2024-01-02,1\n")
    with pytest.raises(DataError, match="column 'order_date' is mapped to 'date' but the source "
                                        "also has a column 'date'"):
        read_transactions(path, date="order_date")


def test_empty_dataframe_and_wrong_source_type():
    with pytest.raises(DataError, match="<DataFrame>: has no rows"):
        read_transactions(pd.DataFrame(columns=["customer_id", "date", "amount"]))
    with pytest.raises(DataError, match="cannot read a list"):
        read_transactions([1, 2, 3])


def test_unparseable_majority_is_a_format_error_naming_the_share(tmp_path):
    path = tmp_path / "mostly_bad.csv"
    path.write_text("customer_id,date,amount\n1,2024-01-01,1\n2,soon,1\n3,later,1\n")
    with pytest.raises(DataError, match=r"not ISO 8601 \(e.g. 'soon'; 2 of 3 values\)"):
        read_transactions(path)


def test_non_ambiguous_slashed_dates_still_need_a_format(tmp_path):
    path = tmp_path / "dmy.csv"
    path.write_text("customer_id,date,amount\n1,13/01/2024,1\n2,25/12/2024,1\n")
    with pytest.raises(DataError, match="dates like '13/01/2024' are not ISO; day/month order "
                                        "must be stated"):
        read_transactions(path)


# ----------------------------------------------------------------------------- other tables

def test_read_customers():
    frame = read_customers(GOOD / "customers.csv")
    assert frame["customer_id"].tolist() == ["C001", "C002", "C003", "C004"]
    assert frame["signup_date"].iloc[0] == pd.Timestamp("2023-11-02")
    assert pd.isna(frame["signup_date"].iloc[2])  # a missing signup date is allowed
    assert frame["region"].tolist() == ["north", "south", "east", "west"]


def test_read_customers_without_signup_dates(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("id,region\n1,north\n2,south\n")
    frame = read_customers(path, customer_id="id", signup_date=None)
    assert frame.columns.tolist() == ["customer_id", "region"]


def test_customers_duplicated_or_missing_ids(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("customer_id,signup_date\nC1,2024-01-01\nC2,2024-01-02\nC1,2024-01-03\n")
    with pytest.raises(DataError, match=r"column 'customer_id': has duplicated customer ids .*"
                                        r"1 rows \(e.g. row 3\)"):
        read_customers(path)
    path.write_text("customer_id,signup_date\nC1,2024-01-01\n,2024-01-02\n")
    with pytest.raises(DataError, match=r"has missing customer ids: 1 rows \(e.g. row 2\)"):
        read_customers(path)


def test_customers_bad_signup_date_names_rows(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("customer_id,joined\nC1,2024-01-01\nC2,2024-02-31\nC3,2024-01-03\n")
    with pytest.raises(DataError, match=r"column 'joined': has dates that cannot be parsed: "
                                        r"1 rows \(e.g. row 2\)"):
        read_customers(path, signup_date="joined")


def test_read_surveys():
    frame = read_surveys(GOOD / "surveys.csv")
    assert frame["csat"].dtype == "Int64" and frame["nps"].dtype == "Int64"
    assert frame["csat"].tolist() == [5, 3, pd.NA, 1]
    assert frame["nps"].tolist() == [9, pd.NA, 10, 0]
    assert frame["channel"].tolist() == ["email", "sms", "email", "email"]


def test_surveys_with_one_score_column(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("customer_id,date,score\nC1,2024-01-01,4\n")
    frame = read_surveys(path, csat="score", nps=None)
    assert frame["csat"].tolist() == [4] and frame["nps"].isna().all()
    with pytest.raises(DataError, match="no score column found: expected 'csat' or 'nps'"):
        read_surveys(path)


@pytest.mark.parametrize("value, column", [("6", "csat"), ("0", "csat"), ("4.5", "csat"),
                                           ("11", "nps"), ("-1", "nps")])
def test_survey_scores_out_of_range_name_rows(tmp_path, value, column):
    path = tmp_path / "s.csv"
    other = "3" if column == "nps" else "7"
    cells = {"csat": value, "nps": other} if column == "csat" else {"csat": other, "nps": value}
    path.write_text(f"customer_id,date,csat,nps\nC1,2024-01-01,3,7\n"
                    f"C2,2024-01-02,{cells['csat']},{cells['nps']}\n")
    with pytest.raises(DataError, match=rf"column '{column}': has scores outside the integers "
                                        rf".*\(e.g. row 2\)"):
        read_surveys(path)


def test_survey_text_score_is_an_error(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("customer_id,date,csat\nC1,2024-01-01,good\n")
    with pytest.raises(DataError, match="column 'csat': has values that are not numbers"):
        read_surveys(path, nps=None)


def test_read_complaints():
    frame = read_complaints(GOOD / "complaints.csv")
    assert frame["resolved"].tolist() == [True, False, True]
    assert frame["resolution_days"].tolist()[::2] == [2.5, 0.0]
    assert np.isnan(frame["resolution_days"].iloc[1])
    assert frame["category"].tolist() == ["delivery", "billing", "product"]


def test_complaints_contract_violations(tmp_path):
    path = tmp_path / "c.csv"
    head = "customer_id,date,category,resolved,resolution_days\n"
    path.write_text(head + "C1,2024-01-01,x,no,3\n")
    with pytest.raises(DataError, match="has a value for unresolved complaints"):
        read_complaints(path)
    path.write_text(head + "C1,2024-01-01,x,yes,-2\n")
    with pytest.raises(DataError, match="must be a number >= 0 for resolved complaints"):
        read_complaints(path)
    path.write_text(head + "C1,2024-01-01,x,maybe,\n")
    with pytest.raises(DataError, match="column 'resolved': has values that are not true/false"):
        read_complaints(path)


def test_read_programme():
    frame = read_programme(GOOD / "programme.csv")
    assert frame["eligible"].tolist() == [True, True, False, True]
    assert frame["treated"].tolist() == [True, False, False, False]
    assert frame["eligible"].dtype == bool


def test_programme_treated_but_not_eligible(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("customer_id,eligible,treated\nC1,yes,yes\nC2,no,yes\n")
    with pytest.raises(DataError, match=r"column 'treated': is true for customers who are not "
                                        r"eligible: 1 rows \(e.g. row 2\)"):
        read_programme(path)


def test_docstring_examples_run():
    import doctest

    import clvkit.io
    result = doctest.testmod(clvkit.io)
    assert result.attempted > 0 and result.failed == 0
