"""clvkit.clean: every row is accounted for; each rule does what its docstring says."""
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clvkit.clean import Ledger, clean_transactions
from clvkit.errors import ConfigError, DataError
from clvkit.io import read_transactions

BAD = Path(__file__).parent / "data" / "bad"


def _frame(rows, **extra):
    frame = pd.DataFrame(rows, columns=["customer_id", "date", "amount"])
    return frame.assign(**extra)


def _counts(ledger):
    return {r: n for r, n in zip(ledger.table["reason"], ledger.table["rows"]) if n}


# ------------------------------------------------------------------------------ property tests

IDS = st.sampled_from(["C1", "C2", "C3", None, "", "  "])
DATES = st.sampled_from(["2024-01-01", "2024-01-01 09:30", "2024-01-02", "2024-03-31",
                         "2024-04-01", "2024-04-01T00:00:01", "2024-02-30", "soon", None, ""])
NUMBERS = st.one_of(st.sampled_from([0.0, -0.0, 5.0, -5.0, 12.5, -2.5, 1e6, math.inf,
                                     -math.inf, math.nan]),
                    st.floats(-1e4, 1e4, allow_nan=False).map(lambda x: round(x, 2)))
TEXTS = st.one_of(NUMBERS.map(str), st.sampled_from(["x", "", "1,5", "NaN", " 7 ", "inf"]))


@st.composite
def messy(draw):
    n = draw(st.integers(1, 30))
    text_amounts = draw(st.booleans())
    rows = [(draw(IDS), draw(DATES), draw(TEXTS if text_amounts else NUMBERS)) for _ in range(n)]
    if draw(st.booleans()):  # plant exact duplicates
        rows += rows[: draw(st.integers(0, len(rows)))]
    # majority of dates valid so the column counts as ISO (else a whole-column DataError)
    valid = sum(d is not None and d.startswith("2024") and d != "2024-02-30" for _, d, _ in rows)
    bad = sum(d in ("soon", "2024-02-30") for _, d, _ in rows)
    if bad * 2 >= bad + valid:
        rows += [("C1", "2024-01-03", 1.0)] * (bad + 1)
    frame = _frame(rows, note=[draw(st.sampled_from(["a", "b"])) for _ in rows])
    options = dict(returns=draw(st.sampled_from(["drop", "net"])),
                   zero_amounts=draw(st.sampled_from(["keep", "drop"])),
                   amount_cap=draw(st.sampled_from([None, 10.0, 1000.0])),
                   observation_end=draw(st.sampled_from([None, "2024-03-31",
                                                         "2024-01-01 12:00"])))
    return frame, options


def _clean_or_none(frame, options):
    try:
        return clean_transactions(frame, **options)
    except DataError as exc:
        assert "no usable transactions left" in str(exc)
        return None


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messy())
def test_ledger_accounts_for_every_row(case):
    frame, options = case
    result = _clean_or_none(frame, options)
    if result is None:
        return
    clean, ledger = result
    assert ledger.rows_in == len(frame)
    assert ledger.rows_out == len(clean)
    assert ledger.rows_in == ledger.rows_out + ledger.rows_dropped


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messy())
def test_clean_rows_satisfy_every_rule(case):
    frame, options = case
    result = _clean_or_none(frame, options)
    if result is None:
        return
    clean, _ = result
    assert clean["date"].dtype == "datetime64[us]" and clean["amount"].dtype == np.float64
    assert clean["customer_id"].notna().all() and (clean["customer_id"].str.strip() != "").all()
    assert clean["date"].notna().all() and np.isfinite(clean["amount"]).all()
    assert (clean["amount"] >= 0).all()
    if options["zero_amounts"] == "drop":
        assert (clean["amount"] > 0).all()
    if options["amount_cap"] is not None:
        assert (clean["amount"] <= options["amount_cap"]).all()
    if options["observation_end"] == "2024-03-31":
        assert (clean["date"] < pd.Timestamp("2024-04-01")).all()
    if options["observation_end"] == "2024-01-01 12:00":
        assert (clean["date"] <= pd.Timestamp("2024-01-01 12:00")).all()
    keys = list(zip(clean["customer_id"], clean["date"]))
    assert keys == sorted(keys)
    if options["returns"] == "drop":  # no amount is changed: clean rows are input rows
        assert not clean.duplicated().any()


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messy())
def test_amounts_are_conserved_through_the_ledger(case):
    frame, options = case
    result = _clean_or_none(frame, options)
    if result is None:
        return
    clean, ledger = result
    numbers = pd.to_numeric(frame["amount"].astype(str).str.strip(), errors="coerce")
    total_in = numbers[np.isfinite(numbers)].sum()
    table = ledger.table
    dropped = table.loc[table["action"] == "dropped", "amount"].sum()
    modified = table.loc[table["action"] == "modified", "amount"].sum()
    assert total_in == pytest.approx(clean["amount"].sum() + dropped - modified, abs=1e-6)


@settings(max_examples=30, deadline=None)
@given(messy())
def test_cleaning_is_deterministic_and_leaves_the_input_alone(case):
    frame, options = case
    before = frame.copy()
    first, second = _clean_or_none(frame, options), _clean_or_none(frame, options)
    pd.testing.assert_frame_equal(frame, before)
    if first is not None:
        pd.testing.assert_frame_equal(first[0], second[0])
        pd.testing.assert_frame_equal(first[1].table, second[1].table)


# ------------------------------------------------------------------------------ the rules

def test_netting_scales_same_day_purchases_in_proportion():
    frame = _frame([("A", "2024-01-01 09:00", 10.0), ("A", "2024-01-01 17:00", 5.0),
                    ("A", "2024-01-01 18:00", -3.0), ("A", "2024-01-02", -1.0),
                    ("B", "2024-01-01", 4.0)])
    clean, ledger = clean_transactions(frame, returns="net")
    # the day nets to 12 of 15: purchases scaled by 0.8; the next day's lone return is dropped
    assert clean["amount"].tolist() == pytest.approx([8.0, 4.0, 4.0])
    assert _counts(ledger) == {"return netted into same-day purchase": 1,
                               "purchase reduced by same-day return": 2,
                               "net amount <= 0 after same-day returns": 1}
    reduced = ledger.table.set_index("reason").loc["purchase reduced by same-day return"]
    assert reduced["amount"] == pytest.approx(-3.0) and reduced["action"] == "modified"


def test_netting_file_gives_hand_computed_amounts():
    clean, _ = clean_transactions(read_transactions(BAD / "returns_to_net.csv"), returns="net")
    assert clean["customer_id"].tolist() == [1, 3]
    assert clean["amount"].tolist() == [6.0, 14.0]
    assert list(clean["date"]) == [pd.Timestamp("2024-01-05"), pd.Timestamp("2024-02-04")]


def test_returns_drop_leaves_purchases_untouched():
    frame = _frame([("A", "2024-01-01", 10.0), ("A", "2024-01-01", -4.0)])
    clean, ledger = clean_transactions(frame)
    assert clean["amount"].tolist() == [10.0]
    assert _counts(ledger) == {"negative amount": 1}
    assert ledger.table.set_index("reason").loc["negative amount", "amount"] == -4.0


def test_zero_amounts_are_kept_by_default():
    frame = _frame([("A", "2024-01-01", 0.0), ("A", "2024-01-02", 3.0)])
    assert len(clean_transactions(frame)[0]) == 2
    clean, ledger = clean_transactions(frame, zero_amounts="drop")
    assert clean["amount"].tolist() == [3.0] and _counts(ledger) == {"zero amount": 1}


def test_observation_end_with_a_time_cuts_within_the_day():
    frame = _frame([("A", "2024-06-30 08:00", 1.0), ("A", "2024-06-30 23:59", 2.0)])
    assert clean_transactions(frame, observation_end="2024-06-30")[0]["amount"].tolist() == [
        1.0, 2.0]
    clean, ledger = clean_transactions(frame, observation_end=pd.Timestamp("2024-06-30 12:00"))
    assert clean["amount"].tolist() == [1.0]
    assert _counts(ledger) == {"date after observation end": 1}


def test_duplicates_compare_every_column_and_keep_the_first():
    frame = _frame([("A", "2024-01-01", 5.0)] * 3 + [("A", "2024-01-01", 5.0)],
                   channel=["web", "web", "web", "store"])
    clean, ledger = clean_transactions(frame)
    assert clean["channel"].tolist() == ["web", "store"]
    assert _counts(ledger) == {"exact duplicate row": 2}


def test_the_first_applicable_reason_counts_a_row_once():
    frame = _frame([(None, "soon", "x"), ("A", "soon", "x"), ("A", "2024-01-01", "x"),
                    ("B", "2024-01-01", 1.0), ("B", "2024-01-02", 1.0), ("B", "2024-01-03", 1.0)])
    _, ledger = clean_transactions(frame)
    assert _counts(ledger) == {"missing customer id": 1, "unparseable date": 1,
                               "non-numeric amount": 1}


def test_output_is_sorted_stably_with_canonical_columns_first():
    frame = pd.DataFrame({"note": ["n1", "n2", "n3", "n4"], "amount": [1.0, 2.0, 3.0, 4.0],
                          "customer_id": ["B", "A", "B", "A"],
                          "date": pd.to_datetime(["2024-01-02", "2024-01-05", "2024-01-01",
                                                  "2024-01-05"])})
    clean, _ = clean_transactions(frame)
    assert clean.columns.tolist() == ["customer_id", "date", "amount", "note"]
    assert clean["note"].tolist() == ["n2", "n4", "n3", "n1"]
    assert clean.index.tolist() == [0, 1, 2, 3]


def test_nullable_integer_ids_become_int64_once_missing_ones_are_dropped(tmp_path):
    clean, ledger = clean_transactions(read_transactions(BAD / "missing_ids.csv"))
    assert clean["customer_id"].dtype == np.int64 and clean["customer_id"].tolist() == [1, 2]
    assert ledger.table.set_index("reason").loc["missing customer id", "customers"] == 0


def test_customers_counts_distinct_ids():
    frame = _frame([("A", "2024-01-01", -1.0), ("A", "2024-01-02", -1.0),
                    ("B", "2024-01-02", -1.0), ("B", "2024-01-03", 2.0)])
    _, ledger = clean_transactions(frame)
    row = ledger.table.set_index("reason").loc["negative amount"]
    assert (row["rows"], row["customers"], row["amount"]) == (3, 2, -3.0)


def test_ledger_shows_itself():
    _, ledger = clean_transactions(read_transactions(BAD / "duplicates.csv"))
    assert isinstance(ledger, Ledger)
    assert ledger.table.columns.tolist() == ["reason", "rows", "customers", "amount", "action"]
    text = str(ledger)
    assert text.splitlines()[0] == (f"Cleaning of {BAD / 'duplicates.csv'}: 5 rows in, 3 out, "
                                    "2 dropped, 0 modified")
    assert "exact duplicate row" in text
    assert repr(ledger).startswith("<Ledger Cleaning of")
    assert "<table" in ledger._repr_html_() and "5 rows in" in ledger._repr_html_()


# ------------------------------------------------------------------------------ errors

def test_nothing_left_names_the_source_and_the_largest_reason():
    frame = _frame([("A", "2024-01-01", -1.0), ("B", "2024-01-01", -2.0),
                    ("C", "2024-01-01", "x")])
    with pytest.raises(DataError, match=r"^shop\.csv: no usable transactions left after "
                                        r"cleaning; largest drop: 'negative amount' \(2 of 3 "
                                        r"rows\); fix: check the sign"):
        clean_transactions(frame, source="shop.csv")


def test_missing_columns_and_wrong_type():
    with pytest.raises(DataError, match="transactions lack column\\(s\\) amount; columns are: "
                                        "customer_id, date, total"):
        clean_transactions(pd.DataFrame({"customer_id": [1], "date": ["2024-01-01"],
                                         "total": [1.0]}))
    with pytest.raises(DataError, match="expected a DataFrame of transactions, got list"):
        clean_transactions([1, 2])


def test_empty_frame_is_an_error_not_a_ledger():
    with pytest.raises(DataError, match="^shop.csv: transactions have no rows"):
        clean_transactions(_frame([]), source="shop.csv")


def test_tz_aware_dates_need_read_transactions():
    frame = _frame([("A", pd.Timestamp("2024-01-01", tz="UTC"), 1.0)])
    with pytest.raises(DataError, match="column 'date': dates carry time-zone offsets"):
        clean_transactions(frame)


@pytest.mark.parametrize("options, match", [
    (dict(returns="keep"), "returns: returns must be 'drop' or 'net', not 'keep'"),
    (dict(zero_amounts="yes"), "zero_amounts: zero_amounts must be 'keep' or 'drop'"),
    (dict(amount_cap=-5), "amount_cap: amount_cap must be a positive number"),
    (dict(amount_cap="100"), "amount_cap: amount_cap must be a positive number"),
    (dict(amount_cap=True), "amount_cap: amount_cap must be a positive number"),
    (dict(observation_end="soon"), "observation_end: observation_end 'soon' is not a date"),
    (dict(observation_end="2024-01-01T00:00+01:00"), "must be a date without a time zone"),
])
def test_bad_options_are_config_errors(options, match):
    with pytest.raises(ConfigError, match=match):
        clean_transactions(_frame([("A", "2024-01-01", 1.0)]), **options)


def test_duplicates_compare_parsed_values():
    frame = _frame([("A", "2024-01-01", "10"), ("A", "2024-01-01T00:00:00", "10.0"),
                    ("A", "2024-01-02", "0"), ("A", "2024-01-02", "-0")])
    clean, ledger = clean_transactions(frame)
    assert _counts(ledger) == {"exact duplicate row": 2}
    assert clean["amount"].tolist() == [10.0, 0.0]



def test_docstring_examples_run():
    import doctest

    import clvkit.clean
    result = doctest.testmod(clvkit.clean)
    assert result.attempted > 0 and result.failed == 0
