"""`clvkit.sniff`: inferring the layout of a transaction export, on small logs written here in
many shapes (column names in several languages, date formats, delimiters, encodings)."""
from __future__ import annotations

import sqlite3

import numpy as np
import pandas as pd
import pytest

from clvkit import sniff
from clvkit.errors import DataError


def base_log(n_customers: int = 40, seed: int = 3) -> pd.DataFrame:
    """A small repeat-purchase log: ids, dates over 2023-2024 (days above 12 included), amounts."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(n_customers):
        for _ in range(rng.integers(1, 6)):
            day = pd.Timestamp("2023-01-01") + pd.Timedelta(days=int(rng.integers(0, 730)))
            rows.append((1000 + c, day, round(float(rng.gamma(2.0, 20.0)) + 0.01, 2)))
    return pd.DataFrame(rows, columns=["id", "date", "amount"]).sort_values(["date", "id"])


def write(tmp_path, name, header, rows, *, sep=",", encoding="utf-8"):
    path = tmp_path / name
    lines = [sep.join(header)] + [sep.join(map(str, r)) for r in rows]
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


def rows_of(log, date_fmt="%Y-%m-%d", amount=lambda a: f"{a:.2f}"):
    return [(i, d.strftime(date_fmt), amount(a)) for i, d, a in log.itertuples(index=False)]


def test_id_date_price_iso_comma_utf8(tmp_path):
    p = write(tmp_path, "orders.csv", ["Id", "Date", "Price"], rows_of(base_log()))
    s = sniff.sniff(p)
    assert (s.kind, s.sep, s.encoding) == ("csv", ",", "utf-8")
    assert (s.customer_id, s.date, s.amount, s.date_format) == ("Id", "Date", "Price", None)
    assert s.undecided == []


def test_semicolon_german_names_day_first_decimal_comma(tmp_path):
    rows = rows_of(base_log(), "%d.%m.%Y", lambda a: f"{a:.2f}".replace(".", ","))
    p = write(tmp_path, "umsatz.csv", ["Kundennummer", "Datum", "Betrag"], rows, sep=";")
    s = sniff.sniff(p)
    assert (s.sep, s.customer_id, s.date, s.amount) == (";", "Kundennummer", "Datum", "Betrag")
    assert s.date_format == "%d.%m.%Y"
    assert "day above 12" in s.decided["date"]
    assert s.decimal == ","


def test_chinese_headers_in_gb18030_with_datetime(tmp_path):
    rows = [(f"VIP{i}", d.strftime("%Y/%m/%d %H:%M:%S"), f"{a:.2f}")
            for i, d, a in base_log().itertuples(index=False)]
    p = write(tmp_path, "订单.csv", ["订单号", "客户编号", "下单时间", "实付金额"],
              [(f"SO{k}", *r) for k, r in enumerate(rows)], encoding="gb18030")
    s = sniff.sniff(p)
    assert s.encoding == "gb18030"
    assert (s.customer_id, s.date, s.amount) == ("客户编号", "下单时间", "实付金额")
    assert s.date_format == "%Y/%m/%d %H:%M:%S"


def test_member_no_tab_bom_month_first(tmp_path):
    rows = rows_of(base_log(), "%m/%d/%Y")
    p = write(tmp_path, "members.tsv", ["member_no", "order_date", "total"], rows, sep="\t",
              encoding="utf-8-sig")
    s = sniff.sniff(p)
    assert (s.encoding, s.sep) == ("utf-8-sig", "\t")
    assert (s.customer_id, s.date, s.amount, s.date_format) == (
        "member_no", "order_date", "total", "%m/%d/%Y")


def test_latin1_spanish_names(tmp_path):
    log = base_log()
    rows = [(i, "José Núñez", d.strftime("%Y-%m-%d"), f"{a:.2f}")
            for i, d, a in log.itertuples(index=False)]
    p = write(tmp_path, "ventas.csv", ["cliente", "nombre", "fecha", "importe"], rows,
              encoding="latin-1")
    s = sniff.sniff(p)
    assert s.encoding in ("latin-1", "cp1252")
    assert (s.customer_id, s.date, s.amount) == ("cliente", "fecha", "importe")


def test_ambiguous_day_month_is_refused_not_guessed(tmp_path):
    days = pd.date_range("2024-01-01", periods=12, freq="MS")  # every day is the 1st: <= 12
    rows = [(1 + k % 4, d.strftime("%d/%m/%Y"), "10.00") for k, d in enumerate(days)]
    p = write(tmp_path, "amb.csv", ["cust", "date", "amount"], rows)
    s = sniff.sniff(p)
    assert s.date_format is None
    assert any("fit both day/month and month/day" in u and "'%d/%m/%Y'" in u and "'%m/%d/%Y'" in u
               for u in s.undecided)


def test_order_id_is_not_taken_for_the_customer(tmp_path):
    rows = [(f"O{k}", *r) for k, r in enumerate(rows_of(base_log()))]
    p = write(tmp_path, "o.csv", ["order_id", "customer", "purchase_date", "revenue"], rows)
    s = sniff.sniff(p)
    assert (s.customer_id, s.date, s.amount) == ("customer", "purchase_date", "revenue")


def test_columns_found_by_content_when_names_say_nothing(tmp_path):
    rows = [(f"k{i}", d.strftime("%Y-%m-%d"), f"{a:.2f}", 1 + i % 3)
            for i, d, a in base_log().itertuples(index=False)]
    p = write(tmp_path, "x.csv", ["who", "when", "v", "qty"], rows)
    s = sniff.sniff(p)
    assert (s.customer_id, s.date, s.amount) == ("who", "when", "v")
    assert s.decided["date"].startswith("by content")
    assert s.decided["amount"].startswith("by content")


def test_no_amount_columns_gives_counts_only(tmp_path):
    rows = [(i, d.strftime("%Y-%m-%d")) for i, d, _ in base_log().itertuples(index=False)]
    p = write(tmp_path, "visits.csv", ["cust", "date"], rows)
    s = sniff.sniff(p)
    assert (s.customer_id, s.date, s.amount) == ("cust", "date", None)
    assert "purchase counts only" in s.decided["amount"]
    text = sniff.render_params(s, scenario="visits", location="visits.csv")
    assert "amount: null" in text and "score: expected_purchases" in text


def test_currency_symbols_and_thousands(tmp_path):
    rows = rows_of(base_log(), amount=lambda a: f'"${a * 100:,.2f}"')
    p = write(tmp_path, "big.csv", ["customer_id", "date", "amount"], rows)
    s = sniff.sniff(p)
    assert (s.currency, s.thousands) == ("USD", ",")
    assert "currency symbol $" in s.decided["amount"]


def test_ambiguous_thousands_are_refused(tmp_path):
    rows = [(1 + k % 5, f"2024-01-{1 + k:02d}", f'"{1 + k},{100 + k:03d}"') for k in range(20)]
    p = write(tmp_path, "t.csv", ["customer_id", "date", "amount"], rows)
    s = sniff.sniff(p)
    assert s.thousands is None
    assert any("could be thousands" in u for u in s.undecided)


def test_headerless_file_is_an_error_naming_the_fix(tmp_path):
    p = write(tmp_path, "nohead.csv", ["1", "2024-01-05", "10.50"], rows_of(base_log()))
    with pytest.raises(DataError, match=r"has no header row.*fix: add a first line"):
        sniff.sniff(p)


def test_no_date_column_is_an_error(tmp_path):
    p = write(tmp_path, "nodate.csv", ["customer_id", "amount"], [(1, "2.5"), (2, "3.5")])
    with pytest.raises(DataError, match=r"no date column found among customer_id, amount"):
        sniff.sniff(p)


def test_sqlite_with_one_table_and_duckdb_url(tmp_path):
    log = base_log().rename(columns={"id": "member_id", "date": "order_date", "amount": "paid"})
    db = tmp_path / "shop.db"
    with sqlite3.connect(db) as con:
        log.assign(order_date=log["order_date"].dt.strftime("%Y-%m-%d")).to_sql(
            "orders", con, index=False)
    s = sniff.sniff(db)
    assert (s.kind, s.table) == ("sqlite", "orders")
    assert (s.customer_id, s.date, s.amount) == ("member_id", "order_date", "paid")
    s = sniff.sniff(f"sqlite:///{db}")
    assert s.table == "orders" and s.date == "order_date"

    import duckdb

    ddb = tmp_path / "shop.duckdb"
    con = duckdb.connect(str(ddb))
    con.execute("CREATE TABLE customers AS SELECT 1 AS id")
    con.execute("CREATE TABLE sales AS SELECT * FROM log")
    con.close()
    s = sniff.sniff(f"duckdb:///{ddb}")
    assert (s.kind, s.table) == ("duckdb", "sales")  # named like a transaction table
    assert (s.customer_id, s.date, s.amount) == ("member_id", "order_date", "paid")
    assert sniff.sniff(ddb, query="SELECT * FROM sales").customer_id == "member_id"


def test_database_with_several_unnamed_tables_asks_for_table(tmp_path):
    db = tmp_path / "two.db"
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE a (x)")
        con.execute("CREATE TABLE b (y)")
    with pytest.raises(DataError, match=r"holds 2 tables \(a, b\).*fix: pass --table NAME"):
        sniff.sniff(db)


def test_parquet_with_typed_dates(tmp_path):
    p = tmp_path / "tx.parquet"
    base_log().rename(columns={"id": "user_id", "amount": "sales"}).to_parquet(p)
    s = sniff.sniff(p)
    assert (s.kind, s.customer_id, s.date, s.amount) == ("parquet", "user_id", "date", "sales")
    assert s.date_format is None and "stored as dates" in s.decided["date"]


@pytest.mark.parametrize(("days", "unit"), [(90, "D"), (730, "W"), (3000, "M")])
def test_default_time_unit_follows_the_span(days, unit):
    start = pd.Timestamp("2020-01-01")
    assert sniff.default_time_unit(start, start + pd.Timedelta(days=days - 1))[0] == unit


def test_default_calibration_is_two_thirds_by_duration_and_resolves_inside_the_data():
    from clvkit.units import calibration_end

    start, end = pd.Timestamp("2023-01-01"), pd.Timestamp("2024-12-30")  # 104 weeks
    cal, _ = sniff.default_calibration(start, end, "W")
    assert cal == "69W"
    assert start < calibration_end(cal, start, end) < end
    assert sniff.default_calibration(start, start + pd.Timedelta(days=30), "D")[0] is None
