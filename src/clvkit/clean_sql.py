"""The cleaning rules of :mod:`clvkit.clean` as SQL, for engines whose rows stay where they live.

:data:`clvkit.clean.RULES` is the one list of rules (reasons, order, actions, fixes, options);
:data:`RULE_SQL` holds each rule's SQL predicate in Spark's dialect, keyed by the rule's name,
as :data:`clvkit.clean._PANDAS` holds its numpy form. :func:`cleaning_sql` chains the
predicates of the rules that run, in the table's order, so a row carries the reason of the first
rule that drops it (``_reason``), exactly as the pandas engine counts it; :func:`ledger_sql`
counts rows, customers and amounts per reason for :class:`clvkit.clean.Ledger`.

Before the rules, :func:`intake_sql` turns the columns Spark read into the canonical ones that
:mod:`clvkit.io` gives the pandas engine (``customer_id, date, amount`` and the flags of
unparseable dates and missing or text amounts). Spark reads typed columns (a lake table) as
they are; for *text* columns it does what ``clvkit.io`` does where that can be done exactly in
SQL, and refuses the rest with one line (:func:`intake_problems`):

- ids keep their type, as clvkit.io keeps a Parquet file's; blank text ids are missing; float
  ids must be whole numbers (they become integers);
- text dates are ISO 8601 (``YYYY-MM-DD``, optionally `` HH:MM[:SS[.ffffff]]`` or ``T``);
  a value that does not parse is an unparseable date when it holds no digit or has the ISO
  shape (``2024-02-30``); any other value with digits (``05/01/2024``, ``20240102``, a time-zone
  offset) is refused: ``clvkit.io`` reads those with ``date_format``/``timezone``, which the
  Spark path does not;
- text amounts are plain decimal numbers (``12``, ``-3.5``, ``1e3``, ``inf``); blank, ``nan``,
  ``na``, ``null`` and ``none`` are missing; text without digits is a non-numeric amount; text
  with digits that is no plain number (``1,234.50``, ``$12``) is refused: ``clvkit.io``
  converts thousands separators and currency symbols, which the Spark path does not.

The SQL here is text only (no pyspark): :mod:`clvkit.rfm_spark` runs it.
"""
from __future__ import annotations

import pandas as pd

from clvkit.clean import RULES

__all__ = ["RULE_SQL", "STAGES", "RESERVED", "ROW", "column_kind", "intake_problems_sql",
           "intake_sql", "cleaning_sql", "ledger_sql", "examples_sql", "clean_rows_sql"]

ROW = "_row"  # the input order: monotonically increasing, assigned when Spark reads the rows

#: Each rule's SQL: ``(stage, predicate)``. A stage is one SELECT over the previous one; its
#: predicates see the canonical columns (``customer_id, date, amount, _bad_date,
#: _missing_amount, _text_amount``) and the helpers of their stage: ``_dup`` (rank among
#: identical live rows, "duplicate"), ``_pos``/``_neg``/``_signed`` (the customer-day's live
#: purchases and returns, "returns") and ``_new`` (the amount after netting, "amounts").
#: ``{floor}``, ``{end}``, ``{ceiling}`` and ``{cap}`` are filled with the options' literals.
RULE_SQL = {
    "missing_id": ("rows", "customer_id IS NULL"),
    "missing_date": ("rows", "date IS NULL AND NOT _bad_date"),
    "bad_date": ("rows", "_bad_date"),
    "too_early": ("rows", "date < {floor}"),
    "missing_amount": ("rows", "_missing_amount"),
    "text_amount": ("rows", "_text_amount"),
    "infinite_amount": ("rows", "abs(amount) = double('inf')"),
    "late": ("rows", "date >= {end}"),
    "too_late": ("rows", "date >= {ceiling}"),
    "duplicate": ("duplicate", "_dup > 1"),
    "negative": ("returns", "amount < 0"),
    "return_netted": ("returns", "_signed AND _neg < 0 AND _pos + _neg > 0 AND amount < 0"),
    "purchase_reduced": ("returns", "_signed AND _neg < 0 AND _pos + _neg > 0 AND amount > 0"),
    "net_not_positive": ("returns", "_signed AND _neg < 0 AND NOT (_pos + _neg > 0)"),
    "zero": ("amounts", "_new = 0"),
    "above_cap": ("amounts", "_new > {cap}"),
}
STAGES = ("rows", "duplicate", "returns", "amounts")

_ISO = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}([ T][0-9]{2}:[0-9]{2}(:[0-9]{2}(\\.[0-9]{1,6})?)?)?$"
_NUMBER = r"^[+-]?([0-9]+\\.?[0-9]*|\\.[0-9]+)([eE][+-]?[0-9]+)?$|^(?i)[+-]?inf(inity)?$"
# Unicode White_Space and the separators \x1c-\x1f, the characters str.isspace() accepts
_SPACE = r"(?U)^[\\s\\x1c-\\x1f]+|[\\s\\x1c-\\x1f]+$"
_DIGIT = r"\\p{Nd}"  # any decimal digit (Python's float() reads non-ASCII digits too)
_MISSING_WORDS = "('', 'nan', 'na', 'null', 'none')"
#: Columns the cleaning query adds: a source column of one of these names is refused.
RESERVED = ("_row", "_r", "_bad_date", "_missing_amount", "_text_amount", "_raw_date",
            "_raw_amount", "_modified", "_new", "_dup", "_pos", "_neg", "_signed", "_k",
            "_reason")
_INTEGRAL = ("tinyint", "smallint", "int", "bigint")
_FLOATING = ("float", "double")


def ident(name) -> str:
    """A Spark SQL identifier (backquoted)."""
    return "`" + str(name).replace("`", "``") + "`"


def _strip(x: str) -> str:
    """Python's ``str.strip()`` of whitespace, as clvkit.io applies it to text."""
    return f"regexp_replace({x}, '{_SPACE}', '')"


def column_kind(spark_type: str) -> str:
    """``text``, ``integer`` or ``number`` for the Spark types the intake reads, else the type."""
    if spark_type in ("string",) or spark_type.startswith(("varchar", "char")):
        return "text"
    if spark_type in _INTEGRAL:
        return "integer"
    if spark_type in _FLOATING or spark_type.startswith("decimal"):
        return "number"
    return spark_type


def intake_problems_sql(view: str, cols, types: dict) -> str:
    """One scan of the raw input: what :func:`intake_sql` needs to decide and what it refuses.

    Columns: ``rows``; ``id_fraction`` (float ids that are not whole), ``date_present``,
    ``date_failed``, ``date_odd`` (text dates with digits that are not ISO), ``amount_odd``
    (text amounts with digits that are no plain number), each problem with an example.
    """
    idc, datec, amountc = ident(cols.customer_id), ident(cols.date), ident(cols.amount)
    out = ["count(*) AS rows"]
    kind = column_kind(types[cols.customer_id])
    if kind == "number":
        bad = f"(NOT isnan(CAST({idc} AS DOUBLE)) AND {idc} != floor({idc}))"
        out += [f"count(*) FILTER (WHERE {bad}) AS id_fraction",
                f"min_by({idc}, CASE WHEN {bad} THEN {ROW} END) AS id_fraction_example"]
    if column_kind(types[cols.date]) == "text":
        t = _strip(datec)
        present = f"({datec} IS NOT NULL AND {t} != '')"
        failed = f"({present} AND {_parsed_date(t)} IS NULL)"
        odd = (f"({failed} AND NOT {t} RLIKE '{_ISO}' AND ({t} RLIKE '{_DIGIT}' "
               f"OR lower({t}) IN ('now', 'today')))")
        out += [f"count(*) FILTER (WHERE {present}) AS date_present",
                f"count(*) FILTER (WHERE {failed}) AS date_failed",
                f"count(*) FILTER (WHERE {odd}) AS date_odd",
                f"min_by({datec}, CASE WHEN {odd} THEN {ROW} END) AS date_odd_example",
                f"min_by({datec}, CASE WHEN {failed} THEN {ROW} END) AS date_failed_example"]
    if cols.amount is not None and column_kind(types[cols.amount]) == "text":
        t = _strip(amountc)
        odd = (f"({amountc} IS NOT NULL AND lower({t}) NOT IN {_MISSING_WORDS} AND NOT {t} "
               f"RLIKE '{_NUMBER}' AND {t} RLIKE '{_DIGIT}')")
        out += [f"count(*) FILTER (WHERE {odd}) AS amount_odd",
                f"min_by({amountc}, CASE WHEN {odd} THEN {ROW} END) AS amount_odd_example"]
    return f"SELECT {', '.join(out)} FROM {view}"


def _parsed_date(t: str) -> str:
    return f"CASE WHEN {t} RLIKE '{_ISO}' THEN try_cast({t} AS TIMESTAMP_NTZ) END"


def intake_sql(view: str, cols, types: dict, *, extras: list) -> str:
    """The canonical columns from the raw ones (see the module docstring), the ``extras``
    (other source columns, compared by the duplicate rule) as read, the input order
    :data:`ROW`, and the raw date and amount as text for the ledger's examples."""
    idc, datec = ident(cols.customer_id), ident(cols.date)
    kind = column_kind(types[cols.customer_id])
    if kind == "text":  # kept as read (a lake table's ids are typed); blank ones are missing
        cid = f"CASE WHEN {_strip(idc)} != '' THEN {idc} END"
    elif kind == "number":
        cid = f"CASE WHEN isnan(CAST({idc} AS DOUBLE)) THEN NULL ELSE CAST({idc} AS BIGINT) END"
    else:
        cid = f"CAST({idc} AS BIGINT)"
    dkind = column_kind(types[cols.date])
    if dkind == "text":
        t = _strip(datec)
        date = _parsed_date(t)
        bad = f"({datec} IS NOT NULL AND {t} != '' AND {date} IS NULL)"
    else:
        date, bad = f"CAST({datec} AS TIMESTAMP_NTZ)", "false"
    if cols.amount is None:
        amount, missing, text = "1.0", "false", "false"
        raw_amount = "CAST(NULL AS STRING)"
    else:
        a = ident(cols.amount)
        raw_amount = f"CAST({a} AS STRING)"
        if column_kind(types[cols.amount]) == "text":
            t = _strip(a)
            missing = f"({a} IS NULL OR lower({t}) IN {_MISSING_WORDS})"
            number = f"CASE WHEN {t} RLIKE '{_NUMBER}' THEN CAST({t} AS DOUBLE) END"
            amount = f"CASE WHEN NOT {missing} THEN {number} END"
            text = f"(NOT {missing} AND {number} IS NULL)"
        else:
            amount = f"CAST({a} AS DOUBLE)"
            missing, text = f"({a} IS NULL OR isnan(CAST({a} AS DOUBLE)))", "false"
    extra = "".join(f", {ident(c)}" for c in extras)
    return (f"SELECT {cid} AS customer_id, {date} AS date, {amount} AS amount, "
            f"{bad} AS _bad_date, {missing} AS _missing_amount, {text} AS _text_amount, "
            f"CAST({datec} AS STRING) AS _raw_date, {raw_amount} AS _raw_amount{extra}, "
            f"{ROW} FROM {view}")


def _literal_time(stamp: pd.Timestamp) -> str:
    """A TIMESTAMP_NTZ literal at microsecond resolution, rounded up (dates are in
    microseconds, so ``date >= ceil(t)`` is ``date >= t``)."""
    stamp = pd.Timestamp(stamp).ceil("us")
    return f"TIMESTAMP_NTZ '{stamp.strftime('%Y-%m-%d %H:%M:%S.%f')}'"


def cleaning_sql(view: str, rules, *, extras: list, floor=None, end=None, ceiling=None,
                 amount_cap=None) -> str:
    """The rules that run (:func:`clvkit.clean.active_rules`), in order, over the canonical
    ``view``: every input row with ``_reason`` (the first rule that dropped it, else NULL),
    ``_modified`` (a "modified" rule applied) and ``_new`` (the amount after netting).

    ``end`` and ``ceiling`` are the first excluded instants (``clvkit.clean._end_cutoff``).
    """
    values = {"floor": None if floor is None else _literal_time(floor),
              "end": None if end is None else _literal_time(end),
              "ceiling": None if ceiling is None else _literal_time(ceiling),
              "cap": None if amount_cap is None else repr(float(amount_cap))}
    by_stage = {stage: [r for r in rules if RULE_SQL[r.name][0] == stage] for stage in STAGES}
    same = ", ".join(["customer_id", "date", "amount + 0.0", *(ident(c) for c in extras)])
    day = "customer_id, CAST(date AS DATE)"
    signed = "(_r IS NULL AND amount != 0)"
    helpers = {
        "rows": "",
        "duplicate": f", row_number() OVER (PARTITION BY _r IS NULL, {same} ORDER BY {ROW}) AS _dup",
        "returns": (f", {signed} AS _signed"
                    f", sum(CASE WHEN {signed} AND amount > 0 THEN amount ELSE 0.0 END) "
                    f"OVER (PARTITION BY {day}) AS _pos"
                    f", sum(CASE WHEN {signed} AND amount < 0 THEN amount ELSE 0.0 END) "
                    f"OVER (PARTITION BY {day}) AS _neg"),
        "amounts": "",
    }
    sql = f"SELECT *, CAST(NULL AS STRING) AS _r, false AS _modified, amount AS _new FROM {view}"
    for stage in STAGES:
        if not by_stage[stage]:
            continue
        if any("_pos" in RULE_SQL[r.name][1]
               for r in by_stage[stage]) or stage == "duplicate":
            sql = f"SELECT *{helpers[stage]} FROM ({sql}) s"
        dropped = [r for r in by_stage[stage] if r.action == "dropped"]
        modified = [r for r in by_stage[stage] if r.action == "modified"]
        whens = " ".join(f"WHEN {RULE_SQL[r.name][1].format(**values)} THEN {_text(r.reason)}"
                         for r in dropped)
        reason = f"coalesce(_r, CASE {whens} END)" if dropped else "_r"
        flag, new = "_modified", "_new"
        if modified:
            cond = " OR ".join(f"({RULE_SQL[r.name][1].format(**values)})" for r in modified)
            flag = f"(_modified OR (_r IS NULL AND ({cond})))"
            new = f"CASE WHEN _r IS NULL AND ({cond}) THEN amount * ((_pos + _neg) / _pos) ELSE _new END"
        keep = ", ".join(["customer_id", "date", "amount", "_bad_date", "_missing_amount",
                          "_text_amount", "_raw_date", "_raw_amount",
                          *(ident(c) for c in extras), ROW])
        sql = (f"SELECT {keep}, {reason} AS _r, {flag} AS _modified, {new} AS _new "
               f"FROM ({sql}) s")
    return sql


def _text(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def ledger_sql(view: str, modified_reasons) -> str:
    """Per reason of the cleaned ``view``: rows, distinct customers and amount (the finite
    amounts after netting of the rows dropped; the change of the rows modified), as
    :class:`clvkit.clean.Ledger` counts them; plus ``reason`` NULL for the rows kept."""
    finite = "CASE WHEN NOT isnan(_new) AND abs(_new) != double('inf') THEN _new ELSE 0.0 END"
    parts = [f"SELECT _r AS reason, count(*) AS rows, count(DISTINCT customer_id) AS customers, "
             f"sum({finite}) AS amount FROM {view} GROUP BY _r"]
    for reason in modified_reasons:
        parts.append(f"SELECT {_text(reason)} AS reason, count(*) AS rows, "
                     f"count(DISTINCT customer_id) AS customers, "
                     f"coalesce(sum(_new - amount), 0.0) AS amount FROM {view} WHERE _modified")
    return " UNION ALL ".join(parts)


def examples_sql(view: str, modified_reasons, n: int = 3) -> str:
    """The first ``n`` rows (input order) of every reason, with what the examples show."""
    tags = [("_r", "_r IS NOT NULL")] + [(_text(reason), "_modified")
                                          for reason in modified_reasons[:1]]
    return " UNION ALL ".join(
        f"SELECT _reason AS reason, {ROW}, CAST(customer_id AS STRING) AS customer_id, date, "
        f"amount, _raw_date, _raw_amount FROM ("
        f"SELECT *, {tag} AS _reason, row_number() OVER (PARTITION BY {tag} ORDER BY {ROW}) "
        f"AS _k FROM {view} WHERE {where}) e WHERE _k <= {int(n)}" for tag, where in tags)


def clean_rows_sql(view: str, extras: list) -> str:
    """The rows kept, with the canonical columns first and the amounts after netting."""
    extra = "".join(f", {ident(c)}" for c in extras)
    return (f"SELECT customer_id, date, _new + 0.0 AS amount{extra} FROM {view} "
            f"WHERE _r IS NULL")
