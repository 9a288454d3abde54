"""clvkit.display: the formats every report table uses, read back from the rendered HTML."""
from __future__ import annotations

import datetime as dt
import html
import re

import numpy as np
import pandas as pd
import pytest

from clvkit.display import definitions, format_value, header, largest, table


def cells(styler) -> list[list[str]]:
    """The body cells of a rendered Styler, row by row, as the reader sees them."""
    out = styler.to_html()
    rows = re.findall(r"<tr>(.*?)</tr>", out, flags=re.S)
    body = [re.findall(r"<td[^>]*>(.*?)</td>", r, flags=re.S) for r in rows]
    return [[html.unescape(c.strip()) for c in r] for r in body if r]


def headers(styler) -> list[str]:
    out = styler.to_html()
    return [html.unescape(h.strip()) for h in
            re.findall(r'<th[^>]*class="col_heading[^"]*"[^>]*>(.*?)</th>', out, flags=re.S)]


def tiers():
    return pd.DataFrame({"tier": ["VIP", "regular"], "customers": [450, 1800],
                         "customer_share": [0.09, 0.3625], "clv_total": [132426.028105, 66788.957],
                         "clv_mean": [294.280062, 37.104977], "p_alive_mean": [0.821647, np.nan]})


def test_numbers_get_separators_fixed_decimals_percentages_and_a_dash_for_missing():
    got = cells(table(tiers(), percent="customer_share", money=["clv_total", "clv_mean"]))
    assert got == [["VIP", "450", "9.0%", "132,426", "294.28", "0.82"],
                   ["regular", "1,800", "36.2%", "66,789", "37.10", "–"]]


def test_headers_are_readable_and_the_0_to_n_index_is_hidden():
    styler = table(tiers())
    assert headers(styler) == ["tier", "customers", "customer share", "CLV total", "CLV mean",
                               "P(alive) mean"]
    assert all(len(row) == 6 for row in cells(styler))   # no index column
    assert 'class="row_heading' not in styler.to_html()


def test_a_meaningful_index_becomes_the_first_column():
    effects = pd.DataFrame({"estimate": [0.5653, 30.1]},
                           index=pd.Index(["csat", "nps"], name="outcome"))
    assert headers(table(effects)) == ["outcome", "estimate"]
    assert cells(table(effects)) == [["csat", "0.57"], ["nps", "30.10"]]
    shown = table(effects, index=True)
    assert 'class="row_heading' in shown.to_html() and cells(shown) == [["0.57"], ["30.10"]]


def test_columns_select_order_and_rename():
    styler = table(tiers(), columns={"clv_mean": "mean future value", "tier": "tier"})
    assert headers(styler) == ["mean future value", "tier"]
    assert cells(styler)[0] == ["294.28", "VIP"]
    assert headers(table(tiers(), columns=["customers", "tier"])) == ["customers", "tier"]


def test_unknown_column_names_raise_with_the_columns_there_are():
    with pytest.raises(KeyError, match=r"table\(percent=\.\.\.\): no column 'share'; the table "
                                       r"has tier, customers"):
        table(tiers(), percent="share")
    with pytest.raises(KeyError, match=r"table\(columns=\.\.\.\): no column 'nope'"):
        table(tiers(), columns=["tier", "nope"])


def test_money_uses_cents_for_small_amounts_and_whole_units_for_large_ones():
    frame = pd.DataFrame({"small": [8.941831, 51.949339], "large": [1234.5678, 987654.321]})
    assert cells(table(frame, money=["small", "large"])) == [["8.94", "1,235"], ["51.95", "987,654"]]


def test_dates_booleans_integers_and_digits():
    frame = pd.DataFrame({"date": pd.to_datetime(["2024-03-14", None]), "balanced": [True, False],
                          "n": pd.array([1125, pd.NA], dtype="Int64"), "x": [1.23456, 2.0],
                          "count": [4500.0, 12.0]})
    got = cells(table(frame, digits=3, integer="count"))
    assert got == [["2024-03-14", "yes", "1,125", "1.235", "4,500"],
                   ["–", "no", "–", "2.000", "12"]]


def test_text_is_escaped_and_left_aligned():
    frame = pd.DataFrame({"reason": ["P(alive) < 0.3 <b>"], "value": [1.0]})
    out = table(frame).to_html()
    assert "&lt;b&gt;" in out and "<b>" not in out
    assert re.search(r"#T_\w+_row0_col0[^{]*\{\s*text-align: left;", out)
    assert not re.search(r"#T_\w+_row0_col1[^{]*\{\s*text-align: left;", out)


def test_caption_and_max_rows_say_what_is_shown():
    frame = pd.DataFrame({"customer_id": [f"C{i:03d}" for i in range(30)], "clv": range(30)})
    styler = table(frame, max_rows=20, caption="Top customers")
    assert len(cells(styler)) == 20
    assert "Top customers (first 20 of 30 rows)" in styler.to_html()
    assert "First 5 of 30 rows" in table(frame, max_rows=5).to_html()
    assert len(cells(table(frame, max_rows=50))) == 30


def test_a_series_is_shown_as_a_table():
    errors = pd.Series({"mae": 0.651564, "rmse": 1.163374}, name="value")
    assert cells(table(errors)) == [["mae", "0.65"], ["rmse", "1.16"]]


def test_input_frame_is_not_changed():
    frame = tiers()
    before = frame.copy()
    table(frame, percent="customer_share", columns={"tier": "t"}).to_html()
    pd.testing.assert_frame_equal(frame, before)


@pytest.mark.parametrize("name, expected", [
    ("p_alive", "P(alive)"), ("clv_at_risk", "CLV at risk"), ("aic", "AIC"),
    ("expected_purchases_mean", "expected purchases mean"), ("se", "std. error"),
    ("T", "T"), ("7+", "7+"), ("VIP客户", "VIP客户"), ("mean CSAT", "mean CSAT"), (3, "3")])
def test_header(name, expected):
    assert header(name) == expected


@pytest.mark.parametrize("value, expected", [
    (pd.Timestamp("2024-03-14"), "2024-03-14"), (pd.Timestamp("2024-03-14 08:30"), "2024-03-14 08:30"),
    (dt.date(2024, 1, 2), "2024-01-02"), (np.datetime64("NaT"), "–"), (None, "–"), (np.nan, "–"),
    (1000, "1,000"), (np.int64(293), "293"), (0.12345, "0.12"), (4500.0, "4,500"), (True, "yes"),
    (np.bool_(False), "no"), ("text", "text"), (pd.Timedelta(days=3), "3.00 days")])
def test_format_value(value, expected):
    assert format_value(value) == expected


def test_definitions_prints_dates_not_reprs():
    windows = {"start": pd.Timestamp("2024-03-14"), "pre_days": 293, "seed": 0,
               "rule": "uplift / (treated pre + comparison post − comparison pre)"}
    styler = definitions(windows, term="setting", meaning="value")
    out = styler.to_html()
    assert "Timestamp" not in out
    assert headers(styler) == ["setting", "value"]
    assert cells(styler) == [["start", "2024-03-14"], ["pre_days", "293"], ["seed", "0"],
                             ["rule", "uplift / (treated pre + comparison post − comparison pre)"]]


def test_definitions_accepts_a_series():
    errors = pd.Series({"mae": 0.651564, "customers": 4500.0})
    assert cells(definitions(errors, digits=3)) == [["mae", "0.652"], ["customers", "4,500"]]


def test_definitions_with_blank_headers_keeps_both_columns_and_hides_the_header_row():
    styler = definitions({"first purchase": pd.Timestamp("2023-01-01"), "customers": 4500},
                         term="", meaning="")
    assert cells(styler) == [["first purchase", "2023-01-01"], ["customers", "4,500"]]
    assert headers(styler) == []
    same = definitions({"a": 1}, term="x", meaning="x")
    assert headers(same) == ["x", "x"] and cells(same) == [["a", "1"]]


def test_largest_states_the_biggest_group_its_count_and_share():
    counts = pd.Series({"new": 10, "dormant": 2314, "lost": 969, "loyal": 1707})
    assert largest(counts, what="lifecycle stage") == \
        "Dormant is the largest lifecycle stage: 2,314 of 5,000 customers (46%)"
    assert largest(pd.Series({"a": 3, "b": 3}), what="segment", of="buyers") == \
        "A is the largest segment: 3 of 6 buyers (50%)"
    assert largest(pd.Series({"a": 0}), what="segment") == "No customers in any segment"


def test_ids_are_shown_as_ids_without_thousands_separators():
    scored = pd.DataFrame({"clv": [1234.5, 88.0], "frequency": [1981, 3]},
                          index=pd.Index([1981, 120034], name="customer_id"))
    # the index becomes the first column: ids as they are, counts with separators
    assert cells(table(scored, digits=1)) == [["1981", "1,234.5", "1,981"],
                                              ["120034", "88.0", "3"]]
    shown = table(scored, index=True)
    assert re.findall(r'<th[^>]*class="row_heading[^"]*"[^>]*>(.*?)</th>', shown.to_html()) \
        == ["1981", "120034"]
    assert cells(table(pd.DataFrame({"order_id": [10000, None]}, dtype="Int64")))[0] == ["10000"]
