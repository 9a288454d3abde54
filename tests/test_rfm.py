"""Tests for clvkit.rfm: published CDNOW values, lifetimes equivalence, engine agreement, errors."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clvkit import ConfigError, DataError
from clvkit.datasets import lifetimes_data_path, load_cdnow
from clvkit.rfm import calibration_holdout, rfm_summary

RFM = ["frequency", "recency", "T", "monetary_value"]
HOLDOUT = ["frequency_holdout", "monetary_value_holdout", "duration_holdout"]


@pytest.fixture(scope="module")
def cdnow():
    return load_cdnow("sample")


@pytest.fixture(scope="module")
def messy():
    """Random log with string ids, several purchases a day, times of day, and gaps."""
    rng = np.random.default_rng(7)
    n = 4000
    cust = rng.integers(0, 600, n)
    start = np.datetime64("2023-01-01T00:00:00", "s")
    when = start + rng.integers(0, 400 * 86400, n).astype("timedelta64[s]")
    return pd.DataFrame({"customer_id": pd.Series([f"C{c:06d}" for c in cust], dtype="str"),
                         "date": pd.Series(when).astype("datetime64[us]"),
                         "amount": rng.gamma(2.0, 15.0, n).round(2)})


def assert_same(a: pd.DataFrame, b: pd.DataFrame, rtol: float = 1e-12):
    """Counts and durations identical; money equal up to summation order."""
    assert a.index.equals(b.index) and list(a.columns) == list(b.columns)
    for col in a.columns:
        if col.startswith("monetary"):
            np.testing.assert_allclose(a[col], b[col], rtol=rtol, atol=1e-9)
        else:
            np.testing.assert_array_equal(a[col].to_numpy(), b[col].to_numpy())
        assert a[col].dtype == b[col].dtype


# --- published values ----------------------------------------------------------------------------

@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
def test_cdnow_calibration_matches_fhl2005(cdnow, engine):
    s = rfm_summary(cdnow, observation_end="1997-09-30", time_unit="W", engine=engine)
    assert len(s) == 2357
    assert (s["frequency"] > 0).sum() == 946
    assert s["frequency"].sum() == 2457
    first = cdnow.groupby("customer_id")["date"].min()
    jan1 = first.index[first == "1997-01-01"]
    assert len(jan1) > 0
    np.testing.assert_allclose(s.loc[jan1, "T"], 38.86, atol=0.005)


def test_cdnow_matches_published_summary_files(cdnow):
    # FHL's own CDNOW summary (x, t_x, T, zbar), rounded to 2 decimals, shipped with lifetimes
    s = rfm_summary(cdnow, observation_end="1997-09-30")
    ref = pd.read_csv(lifetimes_data_path("cdnow_customers_summary_with_transactions.csv"),
                      index_col="ID")
    assert s.index.equals(ref.index.rename("customer_id"))
    np.testing.assert_array_equal(s["frequency"], ref["x"])
    for ours, theirs in [("recency", "t_x"), ("T", "T"), ("monetary_value", "zbar")]:
        np.testing.assert_allclose(s[ours], ref[theirs], atol=0.005 + 1e-9)


def test_schema_and_attrs(cdnow):
    s = rfm_summary(cdnow, observation_end="1997-09-30")
    assert list(s.columns) == RFM and s.index.name == "customer_id"
    assert s.index.dtype == np.int64 and s.index.is_monotonic_increasing
    assert s["frequency"].dtype == np.int64
    assert all(s[c].dtype == np.float64 for c in ["recency", "T", "monetary_value"])
    assert s.attrs == {"time_unit": "W", "period": "D",
                       "observation_end": pd.Timestamp("1997-09-30")}
    assert (s["recency"] <= s["T"]).all() and (s["recency"] >= 0).all()
    assert ((s["monetary_value"] == 0) == (s["frequency"] == 0)).all()


def test_default_observation_end_is_last_purchase(cdnow):
    s = rfm_summary(cdnow)
    assert s.attrs["observation_end"] == pd.Timestamp("1998-06-30")
    assert s["T"].min() == pytest.approx((pd.Timestamp("1998-06-30")
                                          - pd.Timestamp("1997-03-25")).days / 7)


# --- equivalence with lifetimes on identical inputs ----------------------------------------------

@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
@pytest.mark.parametrize("time_unit,multiplier", [("W", 7), ("D", 1)])
@pytest.mark.parametrize("observation_end", ["1997-09-30", None])
def test_summary_equals_lifetimes(cdnow, engine, time_unit, multiplier, observation_end):
    from lifetimes.utils import summary_data_from_transaction_data

    ref = summary_data_from_transaction_data(
        cdnow, "customer_id", "date", monetary_value_col="amount",
        observation_period_end=observation_end, freq="D", freq_multiplier=multiplier)
    s = rfm_summary(cdnow, observation_end=observation_end, time_unit=time_unit, engine=engine)
    ref = ref.sort_index()
    assert s.index.equals(ref.index)
    np.testing.assert_allclose(s[RFM].to_numpy(float), ref[RFM].to_numpy(), rtol=0, atol=1e-9)


@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
def test_calibration_holdout_equals_lifetimes(cdnow, engine):
    from lifetimes.utils import calibration_and_holdout_data

    # lifetimes averages raw rows in the holdout (period totals in calibration); on a log with one
    # row per customer-day the two conventions coincide, so compare on that log ...
    daily = cdnow.groupby(["customer_id", "date"], as_index=False)["amount"].sum()
    ref = calibration_and_holdout_data(
        daily, "customer_id", "date", calibration_period_end="1997-09-30",
        observation_period_end="1998-06-30", freq="D", freq_multiplier=7,
        monetary_value_col="amount").rename(columns=lambda c: c.removesuffix("_cal"))
    ours = calibration_holdout(cdnow, calibration_end="1997-09-30", observation_end="1998-06-30",
                               engine=engine)
    assert list(ours.columns) == RFM + HOLDOUT
    ref = ref.sort_index()[ours.columns]
    assert ours.index.equals(ref.index)
    np.testing.assert_allclose(ours.to_numpy(float), ref.to_numpy(float), rtol=0, atol=1e-9)
    assert ours["duration_holdout"].iloc[0] == pytest.approx(273 / 7)
    assert ours.attrs == {"time_unit": "W", "period": "D", "observation_end": pd.Timestamp(
        "1998-06-30"), "calibration_end": pd.Timestamp("1997-09-30")}

    # ... and on the raw log every column but the holdout mean is still lifetimes' to 1e-9
    raw = calibration_and_holdout_data(
        cdnow, "customer_id", "date", calibration_period_end="1997-09-30",
        observation_period_end="1998-06-30", freq="D", freq_multiplier=7,
        monetary_value_col="amount").rename(columns=lambda c: c.removesuffix("_cal")).sort_index()
    same = [c for c in ours.columns if c != "monetary_value_holdout"]
    np.testing.assert_allclose(ours[same].to_numpy(float), raw[same].to_numpy(float), atol=1e-9)


def test_weekly_periods_equal_lifetimes_weekly_freq(messy):
    from lifetimes.utils import summary_data_from_transaction_data

    ref = summary_data_from_transaction_data(messy, "customer_id", "date",
                                             monetary_value_col="amount", freq="W").sort_index()
    s = rfm_summary(messy, period="W", time_unit="W")
    assert s.index.equals(ref.index)
    np.testing.assert_allclose(s[RFM].to_numpy(float), ref[RFM].to_numpy(), atol=1e-9)


def test_monthly_periods_count_calendar_months(messy):
    s = rfm_summary(messy, period="M", time_unit="M", observation_end="2023-12-31")
    kept = messy[messy["date"] < "2024-01-01"]
    months = kept["date"].dt.to_period("M")
    expected = months.groupby(kept["customer_id"]).nunique() - 1
    np.testing.assert_array_equal(s["frequency"], expected.sort_index())
    # durations are whole days between month starts over the mean Gregorian month
    first = months.groupby(kept["customer_id"]).min().dt.to_timestamp().sort_index()
    days = (pd.Timestamp("2023-12-01") - first).dt.days.to_numpy()
    np.testing.assert_allclose(s["T"], days / (365.2425 / 12), rtol=1e-15)


# --- engines agree --------------------------------------------------------------------------------

@pytest.mark.parametrize("period", ["D", "W", "M"])
@pytest.mark.parametrize("time_unit", ["D", "W", "M", "Y"])
def test_engines_agree_on_messy_log(messy, period, time_unit):
    kw = dict(observation_end="2023-11-15 13:00", time_unit=time_unit, period=period)
    assert_same(rfm_summary(messy, engine="pandas", **kw), rfm_summary(messy, engine="duckdb", **kw))
    kw = dict(calibration_end="2023-09-03", observation_end="2024-01-20", time_unit=time_unit,
              period=period)
    assert_same(calibration_holdout(messy, engine="pandas", **kw),
                calibration_holdout(messy, engine="duckdb", **kw))


def test_engines_agree_on_cdnow_master():
    tx = load_cdnow("master")
    kw = dict(calibration_end="1997-09-30", observation_end="1998-06-30")
    a = calibration_holdout(tx, engine="pandas", **kw)
    b = calibration_holdout(tx, engine="duckdb", **kw)
    assert len(a) == 23570
    assert_same(a, b)


@pytest.mark.parametrize("period", ["D", "W"])
def test_engines_agree_on_simulated_base(period):
    from clvkit.datasets import simulate

    sim = simulate(20000, seed=9, programme=False, future_days=0)
    kw = dict(calibration_end="2024-06-30", observation_end=sim.observation_end, period=period)
    a = calibration_holdout(sim.transactions, engine="pandas", **kw)
    b = calibration_holdout(sim.transactions, engine="duckdb", **kw)
    assert a.index.dtype == b.index.dtype and a.index[0] == "C000001"
    assert_same(a, b)
    assert_same(rfm_summary(sim.transactions, period=period),
                rfm_summary(sim.transactions, period=period, engine="duckdb"))


def test_duckdb_reads_parquet_csv_and_relations(messy, tmp_path):
    import duckdb

    ref = rfm_summary(messy, observation_end="2023-12-31")
    parquet, csv = tmp_path / "tx.parquet", tmp_path / "tx.csv"
    messy.to_parquet(parquet)
    messy.to_csv(csv, index=False)
    assert_same(ref, rfm_summary(parquet, observation_end="2023-12-31", engine="duckdb"))
    assert_same(ref, rfm_summary(str(csv), observation_end="2023-12-31", engine="duckdb"))
    con = duckdb.connect(str(tmp_path / "shop.duckdb"))
    con.execute(f"CREATE TABLE sales AS SELECT customer_id AS cust, date AS ts, amount AS value "
                f"FROM read_parquet('{parquet}')")
    s = rfm_summary(con.table("sales"), observation_end="2023-12-31", engine="duckdb",
                    customer_id="cust", date="ts", amount="value")
    assert_same(ref, s)


def test_summary_without_amounts(messy):
    s = rfm_summary(messy, amount=None)
    assert list(s.columns) == ["frequency", "recency", "T"]
    assert_same(s, rfm_summary(messy, amount=None, engine="duckdb"))
    assert_same(s, rfm_summary(messy)[["frequency", "recency", "T"]])


def test_same_day_purchases_merge_and_later_ones_are_ignored():
    tx = pd.DataFrame({"customer_id": [1, 1, 1, 1, 2],
                       "date": pd.to_datetime(["2024-01-01 09:00", "2024-01-01 18:00",
                                               "2024-01-15 00:00", "2024-03-01 00:00",
                                               "2024-01-08 00:00"]),
                       "amount": [10.0, 5.0, 30.0, 99.0, 7.0]})
    s = rfm_summary(tx, observation_end="2024-01-29")
    assert s.loc[1, "frequency"] == 1 and s.loc[1, "recency"] == 2.0 and s.loc[1, "T"] == 4.0
    assert s.loc[1, "monetary_value"] == 30.0
    assert s.loc[2].tolist() == [0, 0.0, 3.0, 0.0]
    c = calibration_holdout(tx, calibration_end="2024-01-10", observation_end="2024-03-01")
    assert c.loc[1, ["frequency", "frequency_holdout", "monetary_value_holdout"]].tolist() == [
        0, 2, (30.0 + 99.0) / 2]
    assert c.loc[1, "duration_holdout"] == pytest.approx(51 / 7)


def test_customers_first_buying_in_holdout_are_not_in_calibration(messy):
    c = calibration_holdout(messy, calibration_end="2023-03-01", observation_end="2023-06-01")
    first = messy.groupby("customer_id")["date"].min()
    assert set(c.index) == set(first.index[first < "2023-03-02"])


# --- errors ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs,error,match", [
    (dict(time_unit="weeks"), ConfigError, r"time_unit: unknown time unit 'weeks'.*D, W, M, Y"),
    (dict(period="H"), ConfigError, r"period: unknown purchase period 'H'.*D, W, M"),
    (dict(engine="polars"), ConfigError, r"engine: unknown engine 'polars'.*pandas, duckdb, spark"),
    (dict(observation_end="1996-12-31"), DataError,
     r"observation_end 1996-12-31 is before the first purchase \(1997-01-01\)"),
    (dict(observation_end="not a date"), DataError, r"observation_end='not a date' is not a date"),
    (dict(observation_end="1997-09-30T00:00+01:00"), DataError, r"observation_end=.* has a time zone"),
    (dict(customer_id="cust_id"), DataError,
     r"no customer_id column 'cust_id' \(columns: customer_id, date.*did you mean 'customer_id'"),
])
@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
def test_bad_arguments(cdnow, kwargs, error, match, engine):
    with pytest.raises(error, match=match):
        rfm_summary(cdnow, **{"engine": engine, **kwargs})


@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
def test_calibration_end_must_precede_observation_end(cdnow, engine):
    with pytest.raises(DataError, match=r"calibration_end 1998-07-01 is not before observation_end"):
        calibration_holdout(cdnow, calibration_end="1998-07-01", observation_end="1998-06-30",
                            engine=engine)
    with pytest.raises(DataError, match=r"calibration_end 1996-01-01 is before the first purchase"):
        calibration_holdout(cdnow, calibration_end="1996-01-01", observation_end="1998-06-30",
                            engine=engine)


@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
@pytest.mark.parametrize("column,value,match", [
    ("customer_id", None, r"column 'customer_id': 2 rows have no customer id \(e.g. row 3, 10\)"),
    ("date", pd.NaT, r"column 'date': 2 rows have no date \(e.g. row 3, 10\)"),
    ("amount", np.inf, r"column 'amount': 2 rows have a missing or non-finite amount "
                       r"\(e.g. row 3, 10\).*clean_transactions"),
    ("amount", np.nan, r"2 rows have a missing or non-finite amount"),
])
def test_bad_rows_are_named(messy, engine, column, value, match):
    bad = messy.copy()
    if column == "customer_id":
        bad[column] = bad[column].where(~bad.index.isin([3, 10]), None)
    else:
        bad.loc[[3, 10], column] = value
    with pytest.raises(DataError, match=match):
        rfm_summary(bad, engine=engine)


@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
def test_empty_log_is_an_error(messy, engine):
    with pytest.raises(DataError, match=r"no transactions to summarise"):
        rfm_summary(messy.iloc[:0], engine=engine)


def test_string_dates_are_an_error(messy):
    with pytest.raises(DataError, match=r"column 'date': dates have dtype .*not tz-naive datetime64"
                                        r".*pandas.to_datetime"):
        rfm_summary(messy.assign(date=messy["date"].astype(str)))


@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
def test_tz_aware_dates_are_an_error(messy, engine):
    aware = messy.assign(date=messy["date"].dt.tz_localize("UTC"))
    with pytest.raises(DataError, match=r"column 'date': dates have (dtype|type) .*(UTC|TIME ZONE)"):
        rfm_summary(aware, engine=engine)


def test_text_amounts_are_an_error(messy):
    with pytest.raises(DataError, match=r"column 'amount': amounts have dtype .*not numeric"):
        rfm_summary(messy.assign(amount=messy["amount"].astype(str)))


def test_pandas_engine_needs_a_frame(tmp_path):
    with pytest.raises(DataError, match=r"the pandas engine needs a DataFrame.*engine='duckdb'"):
        rfm_summary(tmp_path / "tx.parquet")


def test_duckdb_missing_and_unreadable_files(tmp_path):
    with pytest.raises(DataError, match=r"nope.parquet: file not found"):
        rfm_summary(tmp_path / "nope.parquet", engine="duckdb")
    junk = tmp_path / "junk.parquet"
    junk.write_bytes(b"\x00\x01garbage" * 10)
    with pytest.raises(DataError, match=r"junk.parquet: DuckDB cannot read it"):
        rfm_summary(junk, engine="duckdb")
    text = tmp_path / "text.csv"
    text.write_text("customer_id,date,amount\n1,yesterday,3\n")
    with pytest.raises(DataError, match=r"text.csv: DuckDB could not summarise it.*date column"):
        rfm_summary(text, engine="duckdb")


def _litt_by_hand(tx, end, days_per_unit):
    """BTYDplus' elog2cbs definition: per customer, merge same-day purchases, then sum the logs
    of the gaps between consecutive purchase days up to ``end``, in the time unit."""
    out = {}
    for cid, g in tx[tx["date"] <= end].groupby("customer_id"):
        days = np.unique(g["date"].to_numpy().astype("datetime64[D]").astype(np.int64))
        out[cid] = float(np.sum(np.log(np.diff(days) / days_per_unit)))
    return pd.Series(out)


def test_litt_is_btydplus_sum_of_log_interpurchase_times():
    tx = pd.DataFrame({"customer_id": ["a", "a", "a", "a", "b", "c", "c", "c"],
                       "date": pd.to_datetime(["2024-01-01 00:00", "2024-01-01 15:00", "2024-01-08 00:00",
                                               "2024-01-29 00:00", "2024-01-03 00:00", "2024-01-02 00:00",
                                               "2024-01-05 00:00", "2024-03-01 00:00"]),
                       "amount": 1.0})
    s = rfm_summary(tx, observation_end="2024-02-29", litt=True)
    # a: gaps of 7 and 21 days = 1 and 3 weeks; b: no repeat; c: one gap of 3 days (the
    # March purchase is after the observation end)
    np.testing.assert_allclose(s["litt"], [np.log(1.0) + np.log(3.0), 0.0, np.log(3 / 7)],
                               rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(s["litt"], _litt_by_hand(tx, "2024-02-29", 7.0)[s.index])
    days = rfm_summary(tx, observation_end="2024-02-29", time_unit="D", litt=True)
    np.testing.assert_allclose(days["litt"], s["litt"] + s["frequency"] * np.log(7.0))
    assert "litt" not in rfm_summary(tx, observation_end="2024-02-29").columns


def test_litt_on_cdnow_calibration_and_holdout(cdnow):
    cal = calibration_holdout(cdnow, calibration_end="1997-09-30", observation_end="1998-06-30",
                              litt=True)
    ref = _litt_by_hand(cdnow, "1997-09-30", 7.0)
    np.testing.assert_allclose(cal["litt"], ref[cal.index], rtol=1e-10, atol=1e-12)
    assert (cal.loc[cal["frequency"] == 0, "litt"] == 0).all()
    duck = rfm_summary(cdnow, observation_end="1997-09-30", engine="duckdb", litt=True)
    np.testing.assert_allclose(duck["litt"], ref[duck.index], rtol=1e-10, atol=1e-12)


def test_litt_needs_a_dataframe(cdnow, tmp_path):
    path = tmp_path / "tx.csv"
    cdnow.to_csv(path, index=False)
    with pytest.raises(ConfigError, match="litt=True needs the transactions as a DataFrame"):
        rfm_summary(str(path), engine="duckdb", observation_end="1997-09-30", litt=True)
