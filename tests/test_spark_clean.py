"""Spark cleans like the pandas engine: the same rules, the same ledger, the same outputs.

The rule table (:data:`clvkit.clean.RULES`) is checked without Spark; the rest runs one local
Spark session for the module (marker ``spark``) on a messy file that hits every rule.
"""
import dataclasses

import numpy as np
import pandas as pd
import pytest
import yaml

from clvkit import clean, cli, export, io, pipeline
from clvkit import config as clvconfig
from clvkit.clean_sql import RULE_SQL, STAGES
from clvkit.datasets import simulate
from clvkit.errors import DataError

END = "2024-12-31"


# ------------------------------------------------------------------ the rule table (no Spark)
def test_every_rule_has_one_pandas_and_one_sql_implementation():
    names = [rule.name for rule in clean.RULES]
    assert len(set(names)) == len(names)
    assert len({rule.reason for rule in clean.RULES}) == len(names)
    assert set(clean._PANDAS) == set(names), "a rule without (or beyond) its pandas form"
    assert set(RULE_SQL) == set(names), "a rule without (or beyond) its SQL form"
    stages = [STAGES.index(RULE_SQL[name][0]) for name in names]
    assert stages == sorted(stages), "SQL stages must apply in the table's order"
    assert {rule.action for rule in clean.RULES} == {"dropped", "modified"}
    # the guard and the fixes come from the table
    assert set(clean.GUARDED) == {r.reason for r in clean.RULES if r.guarded}
    assert clean._FIXES[clean.DUPLICATE] == "check the export"


def test_active_rules_follow_the_options():
    reasons = lambda **kw: [r.reason for r in clean.active_rules(**kw)]  # noqa: E731
    base = reasons()
    assert clean.LATE not in base and clean.NEGATIVE in base and clean.ABOVE_CAP not in base
    net = reasons(returns="net", observation_end="2024-01-01", amount_cap=5.0,
                  zero_amounts="drop", date_floor=None)
    assert net[-5:] == [clean.RETURN_NETTED, clean.PURCHASE_REDUCED, clean.NET_NOT_POSITIVE,
                        clean.ZERO, clean.ABOVE_CAP]
    assert clean.TOO_EARLY not in net and clean.LATE in net and clean.NEGATIVE not in net
    assert not {clean.MISSING_AMOUNT, clean.ABOVE_CAP} & set(
        reasons(has_amount=False, amount_cap=5.0))


# ------------------------------------------------------------------------------- Spark
def _messy_rows(customers=1200, seed=7):
    """Simulated purchases (amounts in quarters, so sums are exact in any order) and rows that
    hit every rule, as text: ``customer_id, date, amount, channel``."""
    tx = simulate(customers, seed=seed, programme=False).transactions
    tx = tx[tx["date"] <= END].reset_index(drop=True)
    ids = tx["customer_id"].astype(str).tolist()
    rows = list(zip(ids, tx["date"].dt.strftime("%Y-%m-%d"),
                    [repr(float(a)) for a in (tx["amount"] * 4).round() / 4], ["web"] * len(tx)))
    c, d = ids[0], rows[0][1]
    mess = [
        (None, d, "5.0"), ("", d, "5.0"), ("  ", d, "6.0"),              # missing ids
        (c, None, "5.0"), (c, "", "5"),                                    # missing dates
        (c, "not a date", "5"), (c, "2024-02-30", "5"),                    # unparseable dates
        (c, "1985-03-01", "5"),                                            # before the floor
        (c, "2150-06-01", "5"), (c, "2025-03-01", "5"),                    # after the end / run
        (c, "2024-12-20 10:00", "8.5"),                                    # after a run date
        (c, d, "abc"), (c, d, "n/a"),                                      # text amounts
        (c, d, ""), (c, d, "nan"),                                         # missing amounts
        (c, d, "inf"), (c, d, "-inf"),                                     # non-finite
        (ids[5], "2024-03-03", "10"), (ids[5], "2024-03-03", "-5"),        # netted: 10 -> 5
        (ids[6], "2024-03-04", "6"), (ids[6], "2024-03-04", "2"),
        (ids[6], "2024-03-04", "-4"),                                      # 6, 2 -> 3, 1
        (ids[7], "2024-03-04", "-7.5"),                                    # unmatched return
        (ids[8], "2024-03-05", "4"), (ids[8], "2024-03-05", "-6"),         # net <= 0
        (ids[9], "2024-03-06", "0"), (ids[9], "2024-03-06", "-0"),         # zero (duplicates)
        (ids[10], "2024-03-07", "9000"),                                   # above the cap
        (ids[11], "2024-03-08", "12000"), (ids[11], "2024-03-08", "-6000"),  # capped after net
        (" " + ids[12] + " ", "2024-03-09T10:30", "12.5"),                 # another id as read
    ]
    rows += [m + ("store",) for m in mess]
    rows += rows[:5] + rows[-4:] + [rows[1][:3] + ("store",)]  # exact copies; one other channel
    return pd.DataFrame(rows, columns=["customer_id", "date", "amount", "channel"])


def _typed(text):
    """The same rows as a typed lake table: integer ids with nulls, timestamps, float amounts."""
    number = text["customer_id"].str.strip().str.extract(r"^C?0*(\d+)$")[0]
    dates, _ = io.parse_dates(text["date"])
    amounts = pd.to_numeric(text["amount"].mask(text["amount"].isin(["abc", "n/a", ""])),
                            errors="coerce")
    return pd.DataFrame({"member": pd.array(pd.to_numeric(number), dtype="Int64"),
                         "order_ts": dates, "net": amounts.astype("float64"),
                         "channel": text["channel"]})


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("messy")
    text = _messy_rows()
    paths = {"text": folder / "messy_text.parquet", "typed": folder / "messy_typed.parquet",
             "csv": folder / "messy.csv"}
    text.to_parquet(paths["text"])
    _typed(text).to_parquet(paths["typed"])
    text.to_csv(paths["csv"], index=False)
    return paths


MAPPING = {"text": {}, "typed": dict(customer_id="member", date="order_ts", amount="net")}
OPTIONS = [
    dict(returns="drop"),
    dict(returns="net", zero_amounts="drop", amount_cap=5000.0, observation_end=END),
    dict(returns="drop", zero_amounts="drop", amount_cap=100.0, date_floor=None,
         observation_end="2024-06-30 12:00"),
]


def _pandas_clean(path, mapping, **options):
    return clean.clean_transactions(io.read_transactions(path, **mapping), **options)


@pytest.mark.spark
@pytest.mark.parametrize("kind", ["text", "typed"])
def test_spark_ledger_and_rows_equal_pandas_for_every_option(spark, files, kind):
    from clvkit.rfm_spark import clean_transactions

    hit = set()
    for options in OPTIONS:
        want_rows, want = _pandas_clean(files[kind], MAPPING[kind], **options)
        got_rows, got = clean_transactions(str(files[kind]), spark=spark, **MAPPING[kind],
                                           **options)
        pd.testing.assert_frame_equal(got.table, want.table, check_exact=True)
        assert (got.rows_in, got.rows_out) == (want.rows_in, want.rows_out)
        assert got.examples == want.examples
        assert got.limits == want.limits
        key = ["customer_id", "date", "amount", "channel"]
        got_rows = got_rows.toPandas().sort_values(key).reset_index(drop=True)
        want_rows = want_rows[key].sort_values(key).reset_index(drop=True)
        pd.testing.assert_frame_equal(got_rows, want_rows, check_dtype=False, check_exact=True)
        hit |= set(want.table.loc[want.table["rows"] > 0, "reason"])
    unreachable = {clean.TEXT_AMOUNT, clean.BAD_DATE} if kind == "typed" else set()
    assert hit == {rule.reason for rule in clean.RULES} - unreachable  # the file hits every rule


@pytest.mark.spark
def test_ledger_amounts_of_any_float_amounts_agree_to_the_last_bits(spark, tmp_path):
    """Amounts that do not sum exactly in floating point (cents): Spark adds in partition order,
    numpy pairwise, so the ledger's amounts may differ in the last bits; counts are exact."""
    from clvkit.rfm_spark import clean_transactions

    tx = simulate(800, seed=5, programme=False).transactions
    tx = pd.concat([tx, tx.iloc[:100], tx.iloc[:80].assign(amount=lambda d: -d["amount"] / 3)])
    path = tmp_path / "cents.parquet"
    tx.to_parquet(path)
    _, want = _pandas_clean(path, {}, returns="net", observation_end=END)
    _, got = clean_transactions(str(path), spark=spark, returns="net", observation_end=END)
    pd.testing.assert_frame_equal(got.table.drop(columns="amount"),
                                  want.table.drop(columns="amount"))
    np.testing.assert_allclose(got.table["amount"], want.table["amount"], rtol=1e-12)
    assert (want.table["rows"] > 0).sum() >= 3


@pytest.mark.spark
def test_text_spark_cannot_read_exactly_is_one_line(spark, tmp_path):
    from clvkit.rfm_spark import clean_transactions

    def one(frame, match, **kw):
        path = tmp_path / f"t{len(list(tmp_path.iterdir()))}.parquet"
        frame.to_parquet(path)
        with pytest.raises(DataError, match=match) as info:
            clean_transactions(str(path), spark=spark, **kw)
        assert "\n" not in str(info.value)

    base = dict(customer_id=["a", "b", "c"], date=["2024-01-01", "2024-01-02", "2024-01-03"])
    one(pd.DataFrame({**base, "amount": ["1,234.50", "3", "4"]}),
        r"column 'amount': amounts like '1,234.50' are text that is no plain number: 1 rows.*"
        r"fix: store the amounts as numbers")
    one(pd.DataFrame({**base, "amount": ["$12", "3", "4"]}), r"amounts like '\$12'")
    one(pd.DataFrame({**base, "date": ["05/01/2024", "2024-01-02", "2024-01-03"],
                      "amount": [1.0, 2.0, 3.0]}),
        r"column 'date': dates like '05/01/2024' are not ISO 8601")
    one(pd.DataFrame({**base, "date": ["2024-01-02T10:00:00+02:00", "2024-01-02", "2024-01-03"],
                      "amount": [1.0, 2.0, 3.0]}), r"dates like '2024-01-02T10:00:00\+02:00'")
    one(pd.DataFrame({**base, "amount": [1.0, 2.0, 3.0]}),
        r"text dates with a date_format are read by clvkit.io", date_format="%Y-%m-%d")
    one(pd.DataFrame({"customer_id": ["a", "b"], "amount": [1.0, 2.0],
                      "date": pd.to_datetime(["2024-01-01", "2024-01-02"]).tz_localize("UTC")}),
        r"dates of type timestamp cannot be read by the spark engine \(instants with a time zone")
    one(pd.DataFrame({"customer_id": [1.5, 2.0], "amount": [1.0, 2.0],
                      "date": pd.to_datetime(["2024-01-01", "2024-01-02"])}),
        r"has customer ids that are not whole numbers: 1 rows")
    one(pd.DataFrame({**base, "amount": [True, False, True]}), r"holds true/false values")
    one(pd.DataFrame({**base, "amount": [1.0, 2.0, 3.0], "_new": [1, 2, 3]}),
        r"column '_new': has a column named '_new', a name the spark engine's cleaning uses")
    one(pd.DataFrame({**base, "amount": ["١٢", "3", "4"]}), r"amounts like '١٢'")
    # as clvkit.io: mostly unparseable text dates are a wrong column or format, not rows to drop
    one(pd.DataFrame({"customer_id": ["a", "b", "c"], "amount": [1.0, 2.0, 3.0],
                      "date": ["soon", "later", "2024-01-01"]}), r"dates are not ISO 8601")


# ------------------------------------------------------------------- clvkit score end to end
def _params(tmp_path, path, engine, name, previous=None, **cleaning):
    mapping = MAPPING["typed"] if "typed" in str(path) else {}
    data = {"scenario": "messy", "run_date": "2025-01-15",
            "data": {"source": "files", "transactions": {"path": str(path), **mapping}},
            "cleaning": {"observation_end": END, **cleaning},
            "summary": {"engine": engine, "time_unit": "W"}, "model": {"transaction": "bgnbd"},
            "satisfaction": {"enabled": False}, "impact": {"enabled": False}}
    if previous is not None:
        data["previous_run"] = str(previous)
    target = tmp_path / f"{name}-{engine}.yaml"
    target.write_text(yaml.safe_dump(data))
    return target


def _sorted(table):
    return table.sort_values("customer_id", kind="mergesort").reset_index(drop=True)


def _same_outputs(spark_out, pandas_out, ledger, previous):
    got = pd.read_csv(spark_out / "cleaning_ledger.csv")
    pd.testing.assert_frame_equal(got, ledger.table, check_dtype=False, check_exact=True)
    got = _sorted(export.read_assignments(spark_out / "tiers.parquet"))
    want = _sorted(export.read_assignments(pandas_out / "tiers.parquet"))
    numbers = ["clv", "p_alive", "expected_purchases", "clv_at_risk"]
    pd.testing.assert_frame_equal(got.drop(columns=numbers), want.drop(columns=numbers))
    np.testing.assert_allclose(got[numbers], want[numbers], rtol=1e-9)
    names = ["watchlist.csv"] + (["migration.csv"] if previous else [])
    for name in names:
        pd.testing.assert_frame_equal(pd.read_csv(spark_out / name),
                                      pd.read_csv(pandas_out / name), check_exact=False,
                                      rtol=1e-9)
    if previous:
        moves = pd.concat(pd.read_csv(p) for p in
                          sorted((spark_out / "migration_moves.csv").glob("part-*.csv")))
        want_moves = pd.read_csv(pandas_out / "migration_moves.csv")
        pd.testing.assert_frame_equal(_sorted(moves), _sorted(want_moves), check_exact=False,
                                      rtol=1e-9)
    return got


@pytest.mark.spark
@pytest.mark.parametrize("kind, cleaning", [
    ("text", dict(returns="net", zero_amounts="drop", amount_cap=5000.0)),
    ("typed", dict(returns="drop")),
    ("csv", dict(returns="net")),
])
def test_clvkit_score_spark_equals_pandas_on_the_messy_file(spark, files, tmp_path, kind,
                                                            cleaning, capsys):
    """Ledger, customers, tiers, stages, actions, scores, watchlist and migration."""
    previous = None
    if kind == "text":  # a previous run (pandas engine, data to mid-2024) for the migration
        earlier = _params(tmp_path, files[kind], "pandas", "earlier", **cleaning)
        earlier_cfg = clvconfig.load(earlier)
        earlier_cfg = dataclasses.replace(earlier_cfg, cleaning=dataclasses.replace(
            earlier_cfg.cleaning, observation_end=pd.Timestamp("2024-06-30")))
        pipeline.score_scenario(earlier_cfg, tmp_path / "previous", run_date="2024-07-01")
        previous = tmp_path / "previous" / "tiers.parquet"
    outs = {}
    for engine in ("pandas", "spark"):
        params = _params(tmp_path, files[kind], engine, "now", previous, **cleaning)
        outs[engine] = tmp_path / engine
        assert cli.main(["score", str(params), "--out", str(outs[engine])]) == 0
    printed = capsys.readouterr().out
    data = pipeline.load_data(clvconfig.load(params))
    assert printed.count(data.ledger.summary_line()) == 2  # both engines print the same line
    assert data.ledger.rows_dropped > 0
    got = _same_outputs(outs["spark"], outs["pandas"], data.ledger, previous)
    assert set(got["customer_id"]) == set(data.transactions["customer_id"])  # the same customers


@pytest.mark.spark
def test_drop_share_stops_spark_runs_as_it_stops_pandas_runs(spark, tmp_path, capsys):
    text = _messy_rows(customers=200)
    text.loc[text.index[:200], "customer_id"] = ""  # far more than 5 % of the rows
    path = tmp_path / "mostly_blank.parquet"
    text.to_parquet(path)
    lines = {}
    for engine in ("pandas", "spark"):
        params = _params(tmp_path, path, engine, "share")
        assert cli.main(["score", str(params), "--out", str(tmp_path / engine)]) == 2
        err = capsys.readouterr().err.strip()
        assert "\n" not in err
        lines[engine] = err
    assert lines["spark"] == lines["pandas"]
    assert "cleaning would drop" in lines["spark"] and "'missing customer id'" in lines["spark"]
    assert "cleaning.max_drop_share = 5%" in lines["spark"]
    assert not (tmp_path / "spark" / "tiers.parquet").exists()
