"""Cleaning transactions, with an audit ledger that accounts for every row.

:func:`clean_transactions` applies its checks in a fixed order and each dropped row is counted
once, under the first reason that applies:

1. missing customer id; missing date; unparseable date; date before ``date_floor`` (default
   1990-01-01: implausible); missing amount; non-numeric amount; non-finite amount (``inf``);
2. date after ``observation_end`` (the whole end day is kept when it is given as a date),
   then date after ``date_ceiling`` (default tomorrow: implausible, a purchase cannot be dated
   in the future; a typo such as 2150-06-01 would otherwise move the observation end and wreck
   every score);
3. exact duplicate row (the same customer, date, amount and other columns, comparing parsed
   values; the first copy is kept);
4. negative amounts (returns): ``returns="drop"`` drops them; ``returns="net"`` nets them
   against the same customer's purchases on the same calendar day -- the returns are dropped
   as netted, the day's purchases are scaled down in proportion (``modified``), and when the
   day's net amount is <= 0 every row of that customer-day is dropped under its own reason;
5. zero amounts (``zero_amounts="drop"``; kept by default);
6. amounts above ``amount_cap`` (after netting).

The rules, their reasons, order, actions and fixes are one table, :data:`RULES`, that every
engine reads: the pandas engine applies each rule with numpy here (``_PANDAS``), the Spark engine
with the SQL of :mod:`clvkit.clean_sql` (run by :func:`clvkit.rfm_spark.clean_transactions`), so
both give the same ledger on the same rows.

The :class:`Ledger` has one row per check that applied (zero counts included, so a report
shows what was checked) and holds ``rows_in == rows_out + rows_dropped``; it keeps up to three
raw example values per reason, for messages and the data-quality report.

Mass drops do not pass: with ``max_drop_share`` set (the params default is 5 %), a reason that
signals misread data (every reason of step 1, and dates after ``date_ceiling``) dropping more
than that share of the rows -- or those reasons together -- is a ``DataError`` naming the reason,
the count, three raw examples and the fix. Drops of real rows by policy (``observation_end``,
duplicates, returns, ``zero_amounts="drop"``, ``amount_cap``) do not count.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import logging

import numpy as np
import pandas as pd

from clvkit.errors import ConfigError, DataError
from clvkit.io import UNPARSED_DATE, parse_dates

MISSING_ID = "missing customer id"
MISSING_DATE = "missing date"
BAD_DATE = "unparseable date"
TOO_EARLY = "date before plausible floor"
TOO_LATE = "date after run date"
MISSING_AMOUNT = "missing amount"
TEXT_AMOUNT = "non-numeric amount"
INFINITE_AMOUNT = "non-finite amount"
LATE = "date after observation end"
DUPLICATE = "exact duplicate row"
NEGATIVE = "negative amount"
RETURN_NETTED = "return netted into same-day purchase"
PURCHASE_REDUCED = "purchase reduced by same-day return"
NET_NOT_POSITIVE = "net amount <= 0 after same-day returns"
ZERO = "zero amount"
ABOVE_CAP = "amount above cap"
#: Earliest plausible purchase date unless told otherwise (``date_floor``).
DATE_FLOOR = pd.Timestamp("1990-01-01")


@dataclass(frozen=True)
class Rule:
    """One cleaning check, as every engine applies it.

    ``name`` keys the engines' implementations (:data:`_PANDAS` here, the SQL of
    :mod:`clvkit.clean_sql` for Spark); ``reason`` is the ledger's label; ``action`` is
    ``"dropped"`` or ``"modified"``; ``fix`` is what a message tells the user to check;
    ``guarded`` marks misread data (``max_drop_share`` applies); ``option`` names the option
    that switches the rule on (see :func:`active_rules`); ``amount`` marks the checks of the
    amount column (not listed for data without amounts).
    """

    name: str
    reason: str
    fix: str = ""
    action: str = "dropped"
    guarded: bool = False
    option: str | None = None
    amount: bool = False


#: Every cleaning rule in the order it applies: a row is counted under the first rule that
#: drops it. The one table both engines read (pandas: :data:`_PANDAS`; Spark SQL:
#: :data:`clvkit.clean_sql.RULE_SQL`), so a rule cannot exist in one engine only.
RULES = (
    Rule("missing_id", MISSING_ID, "check that customer_id names the id column", guarded=True),
    Rule("missing_date", MISSING_DATE, "check that date names the purchase-date column",
         guarded=True),
    Rule("bad_date", BAD_DATE, "pass the date_format the dates are written in", guarded=True),
    Rule("too_early", TOO_EARLY, "correct those dates in the source, or lower "
         "cleaning.date_floor", guarded=True, option="date_floor"),
    Rule("missing_amount", MISSING_AMOUNT, "check that amount names the amount column",
         guarded=True, amount=True),
    Rule("text_amount", TEXT_AMOUNT, "check that amount names a numeric column; amounts written "
         "with thousands separators need data.transactions.thousands (e.g. ',')", guarded=True,
         amount=True),
    Rule("infinite_amount", INFINITE_AMOUNT, "check the export of the amount column",
         guarded=True, amount=True),
    Rule("late", LATE, "check observation_end (it is before every purchase)",
         option="observation_end"),
    Rule("too_late", TOO_LATE, "correct those dates in the source (a purchase cannot be dated "
         "after the run), or set run_date / raise cleaning.future_tolerance_days", guarded=True),
    Rule("duplicate", DUPLICATE, "check the export"),
    Rule("negative", NEGATIVE, "check the sign of the amounts, or use returns='net'",
         option="returns=drop", amount=True),
    Rule("return_netted", RETURN_NETTED, option="returns=net", amount=True),
    Rule("purchase_reduced", PURCHASE_REDUCED, action="modified", option="returns=net",
         amount=True),
    Rule("net_not_positive", NET_NOT_POSITIVE, "check the sign of the amounts",
         option="returns=net", amount=True),
    Rule("zero", ZERO, "use zero_amounts='keep'", option="zero_amounts=drop"),
    Rule("above_cap", ABOVE_CAP, "raise amount_cap or remove it", option="amount_cap",
         amount=True),
)
_FIXES = {rule.reason: rule.fix for rule in RULES if rule.fix}
_COLUMNS = ["reason", "rows", "customers", "amount", "action"]
#: Reasons that signal misread data: the max_drop_share guard applies to them (the others are
#: drops the user asked for: observation_end, zero_amounts, amount_cap, netting returns).
#: Exact duplicates and returns are real data handled by policy, not misreadings.
GUARDED = tuple(rule.reason for rule in RULES if rule.guarded)


def active_rules(*, observation_end=None, returns="drop", zero_amounts="keep", amount_cap=None,
                 date_floor=DATE_FLOOR, has_amount=True) -> list:
    """The :data:`RULES` that run with these options, in order (the ledger's rows)."""
    on = {None: True, "date_floor": date_floor is not None,
          "observation_end": observation_end is not None,
          "returns=drop": returns == "drop", "returns=net": returns == "net",
          "zero_amounts=drop": zero_amounts == "drop", "amount_cap": amount_cap is not None}
    return [rule for rule in RULES if on[rule.option] and (has_amount or not rule.amount)]


logger = logging.getLogger(__name__)


@dataclass(frozen=True, repr=False)
class Ledger:
    """Audit record of cleaning: one row per reason with rows, customers, amount and action.

    ``amount`` is the total of the rows' finite amounts when they were dropped (``dropped``;
    after any netting) or the total change applied (``modified``; negative when reduced), so
    the finite input total = output total + dropped amounts - modified amounts.
    ``customers`` counts distinct customer ids among those rows. ``rows_in`` and ``rows_out``
    are measured on the input and output frames, so ``rows_in == rows_out + rows_dropped`` is
    a checkable invariant, not an identity. ``examples`` maps each reason with rows to up to
    three raw values (as read) and ``limits`` the plausible date range that was applied.
    """

    table: pd.DataFrame
    rows_in: int
    rows_out: int
    source: str | None = None
    examples: dict = field(default_factory=dict, compare=False)
    limits: dict = field(default_factory=dict, compare=False)

    @property
    def rows_dropped(self) -> int:
        """Rows removed, summed over the ``dropped`` reasons."""
        return int(self.table.loc[self.table["action"] == "dropped", "rows"].sum())

    @property
    def rows_modified(self) -> int:
        """Rows kept with a changed amount (returns netted into them)."""
        return int(self.table.loc[self.table["action"] == "modified", "rows"].sum())

    def summary_line(self) -> str:
        """One line: rows in, out, dropped and modified (printed by ``clvkit score``/``report``)."""
        return self._headline()

    def notes(self) -> pd.DataFrame:
        """The reasons that touched rows, with raw examples and what to check: a table for the
        data-quality report (``reason, rows, action, examples, check``)."""
        used = self.table[self.table["rows"] > 0]
        return pd.DataFrame({
            "reason": used["reason"].to_numpy(), "rows": used["rows"].to_numpy(),
            "action": used["action"].to_numpy(),
            "examples": [", ".join(self.examples.get(r, ())) for r in used["reason"]],
            "check": [_explain(r, self.limits) for r in used["reason"]]})

    def _headline(self) -> str:
        where = f" of {self.source}" if self.source else ""
        return (f"Cleaning{where}: {self.rows_in:,} rows in, {self.rows_out:,} out, "
                f"{self.rows_dropped:,} dropped, {self.rows_modified:,} modified")

    def __str__(self) -> str:
        shown = self.table.assign(amount=self.table["amount"].map("{:,.2f}".format))
        return f"{self._headline()}\n{shown.to_string(index=False)}"

    def __repr__(self) -> str:
        return f"<Ledger {self._headline()}>"

    def _repr_html_(self) -> str:
        import html

        body = self.table.to_html(index=False, float_format="{:,.2f}".format)
        return f"<p>{html.escape(self._headline())}</p>{body}"


def _explain(reason, limits):
    """Why a reason drops rows, with the limits that applied (for the data-quality report)."""
    if reason == TOO_EARLY and limits.get("date_floor") is not None:
        return f"dated before {limits['date_floor']:%Y-%m-%d}; " + _FIXES[reason]
    if reason == TOO_LATE and limits.get("date_ceiling") is not None:
        return f"dated after {limits['date_ceiling']:%Y-%m-%d}; " + _FIXES[reason]
    return _FIXES.get(reason, "")


def clean_transactions(transactions, *, observation_end=None, returns="drop",
                       zero_amounts="keep", amount_cap=None, source=None,
                       date_floor=DATE_FLOOR, date_ceiling=None, max_drop_share=None,
                       has_amount=True):
    """Clean a transaction table and account for every row in a :class:`Ledger`.

    Parameters
    ----------
    transactions : DataFrame
        ``customer_id, date, amount`` as returned by :func:`clvkit.io.read_transactions`
        (a frame with text dates is parsed as ISO; extra columns are kept).
    observation_end : date-like, optional
        Purchases after it are dropped; a date without a time keeps its whole day.
    returns : {"drop", "net"}
        Drop negative amounts, or net them against the same customer's same-day purchases.
    zero_amounts : {"keep", "drop"}
        What to do with rows whose amount is exactly 0.
    amount_cap : float, optional
        Drop rows whose (netted) amount is above it -- e.g. B2B orders in a retail log.
    source : str, optional
        Name of the source for messages; defaults to ``transactions.attrs["source"]``.
    date_floor : date-like or None
        Earliest plausible purchase date (default 1990-01-01); earlier rows are dropped under
        their own reason. None turns the check off.
    date_ceiling : date-like, optional
        Latest plausible purchase date, whole day included; later rows are dropped under their
        own reason. Default: tomorrow (today plus one day for time zones).
    max_drop_share : float, optional
        Stop with a ``DataError`` when a reason that signals misread data (see the module
        docstring) drops more than this share of the rows, or those reasons together do.
        None (the library default) only counts; the params default is 0.05.
    has_amount : bool
        False for data without amounts (purchase counts only): there is no ``amount`` column
        to check, the amount checks are skipped and the output has no ``amount`` column.

    Returns
    -------
    (DataFrame, Ledger)
        Clean rows sorted by ``customer_id, date`` (input order within ties), ``date``
        datetime64 naive, ``amount`` float64, other columns kept; and the ledger.

    Raises
    ------
    ConfigError
        An option out of its domain.
    DataError
        Required columns missing, no usable row left (naming the largest drop reason), or a
        drop larger than ``max_drop_share``.

    Examples
    --------
    >>> import pandas as pd
    >>> raw = pd.DataFrame({"customer_id": ["a", "a", None, "b"],
    ...                     "date": ["2024-01-02", "2024-01-02", "2024-01-03", "2024-01-04"],
    ...                     "amount": [5.0, 5.0, 2.0, -1.0]})
    >>> clean, ledger = clean_transactions(raw)
    >>> ledger.rows_in, ledger.rows_out, ledger.rows_dropped
    (4, 1, 3)
    >>> dict(ledger.table.loc[ledger.table["rows"] > 0, ["reason", "rows"]].to_numpy())
    {'missing customer id': 1, 'exact duplicate row': 1, 'negative amount': 1}
    """
    _check_options(returns, zero_amounts, amount_cap, max_drop_share)
    if not isinstance(transactions, pd.DataFrame):
        raise DataError(f"expected a DataFrame of transactions, got {type(transactions).__name__}",
                        file=source, fix="read the data with clvkit.io.read_transactions")
    source = source or transactions.attrs.get("source")
    required = ("customer_id", "date", "amount") if has_amount else ("customer_id", "date")
    missing = [c for c in required if c not in transactions.columns]
    if missing:
        raise DataError(f"transactions lack column(s) {', '.join(missing)}; columns are: "
                        f"{', '.join(map(str, transactions.columns))}", file=source,
                        fix="read the data with clvkit.io.read_transactions and its column "
                            "mapping")
    if len(transactions) == 0:
        raise DataError("transactions have no rows", file=source,
                        fix="point to the file or table that holds the data")
    frame = transactions.reset_index(drop=True)
    if not has_amount:  # counts only: a constant stands in, so no amount check can drop a row
        frame = frame.drop(columns=["amount"], errors="ignore").assign(amount=1.0)
    end = _end_cutoff(observation_end)
    floor = _date_option(date_floor, "date_floor")
    ceiling = _date_option(date_ceiling, "date_ceiling")
    if ceiling is None:
        ceiling = pd.Timestamp.today().normalize() + pd.Timedelta(days=1)
    ids, dates, bad_date, amounts, missing_amount, text_amount = _canonical(frame, source)

    blank_id = _blank(ids)
    codes = _id_codes(ids, blank_id)  # ids as integers in sorted order, -1 if missing
    rows = _Rows(frame=frame, codes=codes, blank_id=blank_id, dates=dates, bad_date=bad_date,
                 amounts=amounts, missing_amount=missing_amount, text_amount=text_amount,
                 floor=floor, end=end, ceiling=ceiling, amount_cap=amount_cap)
    reasons = {}  # reason -> (mask of rows, action), in the order the rules apply
    for rule in active_rules(observation_end=end, returns=returns, zero_amounts=zero_amounts,
                             amount_cap=amount_cap, date_floor=floor, has_amount=has_amount):
        mask = np.asarray(_PANDAS[rule.name](rows), dtype=bool) & rows.alive
        reasons[rule.reason] = (mask, rule.action)
        if rule.action == "dropped":
            rows.alive[mask] = False
    alive, new_amounts = rows.alive, rows.new_amounts
    out = frame.loc[alive].drop(columns=[UNPARSED_DATE], errors="ignore")
    out["customer_id"] = _tidy_ids(ids[alive])
    out["date"] = dates[alive]
    out["amount"] = new_amounts[alive] + 0.0
    first = ["customer_id", "date", "amount"]
    if not has_amount:
        out, first = out.drop(columns=["amount"]), ["customer_id", "date"]
    out = out[first + [c for c in out.columns if c not in first]]
    order = np.lexsort((_ticks(dates)[alive], codes[alive]))  # stable: ties keep input order
    out = out.iloc[order].reset_index(drop=True)
    out.attrs["source"] = source
    table = _ledger_table(reasons, codes, amounts, new_amounts)
    if not has_amount:
        table = table.assign(amount=float("nan"))
    examples = {reason: _examples(reason, mask, frame, dates)
                for reason, (mask, _) in reasons.items() if mask.any()}
    ledger = Ledger(table=table, rows_in=len(transactions), rows_out=len(out), source=source,
                    examples=examples, limits={"date_floor": floor, "date_ceiling": ceiling})
    if len(out) == 0:
        _nothing_left(ledger, source)
    if max_drop_share is not None:
        check_drop_share(ledger, max_drop_share)
    logger.info("%s", ledger.summary_line())
    return out, ledger


class _Rows:
    """What the pandas rules read: the canonical columns, the rows still alive and the amounts
    after netting (netting is computed once, by the first netting rule that runs)."""

    def __init__(self, **columns):
        self.__dict__.update(columns)
        self.alive = np.ones(len(self.frame), dtype=bool)
        self.new_amounts = self.amounts.copy()
        self._netting = None

    def netting(self):
        if self._netting is None:
            *masks, self.new_amounts = _net_returns(self.codes, self.dates, self.amounts,
                                                    self.alive)
            self._netting = masks
        return self._netting


#: The pandas implementation of every rule of :data:`RULES`: a mask of the rows it takes (the
#: rows already dropped are masked out by the caller).
_PANDAS = {
    "missing_id": lambda r: r.blank_id,
    "missing_date": lambda r: r.dates.isna().to_numpy() & ~r.bad_date,
    "bad_date": lambda r: r.bad_date,
    "too_early": lambda r: (r.dates < r.floor).to_numpy(),
    "missing_amount": lambda r: r.missing_amount,
    "text_amount": lambda r: r.text_amount,
    "infinite_amount": lambda r: np.isinf(r.amounts),
    # an explicit observation end explains late rows before the run-date ceiling does
    "late": lambda r: (r.dates >= r.end).to_numpy(),
    "too_late": lambda r: (r.dates >= _end_cutoff(r.ceiling)).to_numpy(),
    "duplicate": lambda r: _duplicates(r.frame.drop(columns=[UNPARSED_DATE], errors="ignore"),
                                       r.codes, r.dates, r.amounts, r.alive),
    "negative": lambda r: r.amounts < 0,
    "return_netted": lambda r: r.netting()[0],
    "purchase_reduced": lambda r: r.netting()[1],
    "net_not_positive": lambda r: r.netting()[2],
    "zero": lambda r: r.new_amounts == 0,
    "above_cap": lambda r: r.new_amounts > r.amount_cap,
}


def check_drop_share(ledger, max_drop_share):
    """Raise a ``DataError`` when misread data (the :data:`GUARDED` reasons) dropped more than
    ``max_drop_share`` of the rows, per reason or in total; the message names the reason, the
    count, three raw examples and the fix (including how to raise the limit on purpose)."""
    table = ledger.table[(ledger.table["action"] == "dropped")
                         & ledger.table["reason"].isin(GUARDED)]
    limit = max_drop_share * ledger.rows_in
    over = table[table["rows"] > limit].sort_values("rows", ascending=False, kind="stable")
    total = int(table["rows"].sum())
    if len(over) == 0 and total <= limit:
        return
    top = (over if len(over) else
           table.sort_values("rows", ascending=False, kind="stable")).iloc[0]
    reason = top["reason"]
    shown = ", ".join(repr(e) for e in ledger.examples.get(reason, ()))
    rows = int(top["rows"]) if len(over) else total
    what = f"as '{reason}'" if len(over) else f"for data reasons in total (largest: '{reason}', " \
                                               f"{int(top['rows']):,} rows)"
    raise DataError(
        f"cleaning would drop {rows:,} of {ledger.rows_in:,} rows ({rows / ledger.rows_in:.1%}) "
        f"{what}, e.g. {shown}; the limit is cleaning.max_drop_share = {max_drop_share:.0%}",
        file=ledger.source,
        fix=f"{_FIXES.get(reason, 'see the cleaning ledger')}; if these rows are meant to go, "
            "raise cleaning.max_drop_share (validate: --max-drop-share)")


def _examples(reason, mask, frame, dates, n=3):
    """Up to ``n`` raw values of the rows a reason took, as they were read."""
    rows = np.flatnonzero(mask)[:n]
    if reason == MISSING_ID:
        return tuple(f"row {r + 1}" for r in rows)
    if reason == BAD_DATE and UNPARSED_DATE in frame.columns:
        return tuple(str(v) for v in frame[UNPARSED_DATE].iloc[rows])
    if reason in (MISSING_DATE, TOO_EARLY, TOO_LATE, LATE):
        raw = frame["date"].iloc[rows]
        parsed = dates.iloc[rows]
        return tuple(p.isoformat()[:10] if pd.notna(p) else str(r) for r, p in zip(raw, parsed))
    if reason == DUPLICATE:
        return tuple(f"{frame['customer_id'].iloc[r]} {dates.iloc[r]:%Y-%m-%d} "
                     f"{frame['amount'].iloc[r]}" for r in rows)
    return tuple(str(v) for v in frame["amount"].iloc[rows])


def _date_option(value, key):
    if value is None:
        return None
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError):
        stamp = pd.NaT
    if stamp is pd.NaT or stamp.tzinfo is not None:
        raise ConfigError(f"{value!r} is not a date", key=key, fix="write it as YYYY-MM-DD")
    return stamp


def _check_options(returns, zero_amounts, amount_cap, max_drop_share=None):
    if returns not in ("drop", "net"):
        raise ConfigError(f"returns must be 'drop' or 'net', not {returns!r}", key="returns")
    if zero_amounts not in ("keep", "drop"):
        raise ConfigError(f"zero_amounts must be 'keep' or 'drop', not {zero_amounts!r}",
                          key="zero_amounts")
    if amount_cap is not None and (isinstance(amount_cap, bool)
                                   or not isinstance(amount_cap, (int, float))
                                   or not amount_cap > 0):
        raise ConfigError(f"amount_cap must be a positive number or empty, not {amount_cap!r}",
                          key="amount_cap")
    if max_drop_share is not None and (isinstance(max_drop_share, bool)
                                       or not isinstance(max_drop_share, (int, float))
                                       or not 0 <= max_drop_share <= 1):
        raise ConfigError(f"max_drop_share must be a share between 0 and 1, not "
                          f"{max_drop_share!r}", key="max_drop_share")


def _end_cutoff(observation_end):
    """First excluded instant: the day after a midnight ``observation_end``, else just after."""
    if observation_end is None:
        return None
    try:
        end = pd.Timestamp(observation_end)
    except (TypeError, ValueError):
        raise ConfigError(f"observation_end {observation_end!r} is not a date",
                          key="observation_end", fix="write it as YYYY-MM-DD") from None
    if end is pd.NaT or end.tzinfo is not None:
        raise ConfigError(f"observation_end {observation_end!r} must be a date without a time "
                          "zone", key="observation_end", fix="write it as YYYY-MM-DD")
    return end + pd.Timedelta(days=1) if end == end.normalize() else end + pd.Timedelta(1, "ns")


def _canonical(frame, source):
    """Return ids, naive dates, unparseable-date mask, float amounts and amount masks."""
    ids = frame["customer_id"]
    if UNPARSED_DATE in frame.columns:
        bad_date = frame[UNPARSED_DATE].notna().to_numpy()
        dates = frame["date"]
    else:
        dates, failed = parse_dates(frame["date"], source=source, column="date")
        bad_date = failed.to_numpy()
    dates = pd.Series(pd.to_datetime(dates), index=frame.index)
    raw = frame["amount"]
    if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw):
        amounts = raw.to_numpy(dtype="float64", na_value=np.nan)
        missing = np.isnan(amounts)
        text = np.zeros(len(raw), dtype=bool)
    else:
        words = raw.astype("str").str.strip()
        blank = (raw.isna() | words.eq("") | words.str.lower().isin(["nan", "na", "null", "none"])
                 ).to_numpy()
        numbers = pd.to_numeric(raw.mask(blank), errors="coerce")
        amounts = numbers.to_numpy(dtype="float64", na_value=np.nan)
        missing, text = blank, ~blank & np.isnan(amounts)
    return ids, dates, bad_date, amounts, missing, text


def _blank(ids):
    blank = ids.isna().to_numpy().copy()  # CoW arrays are read-only
    if pd.api.types.is_string_dtype(ids) or ids.dtype == object:
        blank |= (ids.astype("str").str.strip() == "").to_numpy()
    return blank


def _id_codes(ids, blank):
    """Factorise ids once (sorted, so code order is id order); -1 where the id is missing.

    The integer codes make duplicates, netting groups, sorting and ledger counts cheap. Ids of
    mixed types (ints and strings in one object column) sort ints first, as pandas does."""
    return pd.factorize(ids.mask(blank), sort=True)[0].astype(np.int64)


def _ticks(dates):
    """Dates as int64 microseconds (NaT is the minimum; those rows are dropped before use)."""
    return dates.to_numpy(dtype="datetime64[us]").view(np.int64)


def _duplicates(frame, codes, dates, amounts, alive):
    """Exact duplicates among the rows still alive, comparing parsed values (ids through their
    codes; ``10`` equals ``10.0`` and ``-0`` equals ``0``) and every other column as is."""
    mask = np.zeros(len(frame), dtype=bool)
    rows = frame.loc[alive].assign(customer_id=codes[alive], date=dates[alive],
                                   amount=amounts[alive] + 0.0)  # + 0.0 turns -0.0 into 0.0
    mask[alive] = rows.duplicated(keep="first").to_numpy()
    return mask


def _net_returns(codes, dates, amounts, alive):
    """Net negative amounts against the same customer's purchases on the same calendar day.

    Returns masks (netted returns, reduced purchases, rows of customer-days whose net amount is
    <= 0) and the new amounts (purchases scaled by net / purchases on netted days).
    """
    signed = alive & (amounts != 0)
    rows = np.flatnonzero(signed)
    days = pd.DataFrame({"id": codes[rows], "day": _ticks(dates)[rows] // 86_400_000_000,
                         "pos": np.clip(amounts[rows], 0, None),
                         "neg": np.clip(amounts[rows], None, 0)})
    sums = days.groupby(["id", "day"], sort=False)[["pos", "neg"]].transform("sum")
    has_return = sums["neg"].to_numpy() < 0
    net = sums["pos"].to_numpy() + sums["neg"].to_numpy()
    netted_day = has_return & (net > 0)
    netted, reduced, gone = (np.zeros(len(amounts), dtype=bool) for _ in range(3))
    netted[rows] = netted_day & (amounts[rows] < 0)
    reduced[rows] = netted_day & (amounts[rows] > 0)
    gone[rows] = has_return & ~(net > 0)
    new = amounts.copy()
    scale = np.divide(net, sums["pos"].to_numpy(), out=np.ones(len(rows)), where=netted_day)
    new[rows] = np.where(netted_day & (amounts[rows] > 0), amounts[rows] * scale, amounts[rows])
    return netted, reduced, gone, new


def _tidy_ids(ids):
    """Nullable integer ids with nothing missing any more become plain int64."""
    if isinstance(ids.dtype, pd.Int64Dtype) and not ids.isna().any():
        return ids.astype("int64")
    return ids


def _ledger_table(reasons, id_codes, amounts, new_amounts):
    """One row per reason; ``id_codes`` are factorised ids, -1 where the id is missing."""
    before = np.where(np.isfinite(amounts), amounts, 0.0)
    after = np.where(np.isfinite(new_amounts), new_amounts, 0.0)
    rows = []
    for reason, (mask, action) in reasons.items():
        value = (after - before)[mask].sum() if action == "modified" else after[mask].sum()
        customers = np.unique(id_codes[mask & (id_codes >= 0)]).size
        rows.append((reason, int(mask.sum()), int(customers), float(value), action))
    table = pd.DataFrame(rows, columns=_COLUMNS)
    return table.astype({"rows": "int64", "customers": "int64", "amount": "float64"})


def _nothing_left(ledger, source):
    dropped = ledger.table[ledger.table["action"] == "dropped"]
    top = dropped.sort_values("rows", ascending=False, kind="stable").iloc[0]
    raise DataError(f"no usable transactions left after cleaning; largest drop: "
                    f"'{top['reason']}' ({top['rows']:,} of {ledger.rows_in:,} rows)",
                    file=source, fix=_FIXES.get(top["reason"], "see the cleaning ledger"))
