"""Guess how a transaction export is laid out, and write a params file for it (``clvkit init``).

An analyst with one export and no params file starts here. :func:`sniff` looks at the source
(CSV, Parquet, DuckDB or SQLite) and infers what ``clvkit.io`` needs to read it:

* for CSV text: the encoding (UTF-8, UTF-8 with BOM, GB18030/GBK, else Latin-1/cp1252), the
  delimiter (``, ; tab |``) and whether the first line is a header;
* the customer id, date and amount columns, by name in several languages (``Id``, ``cust``,
  ``member_no``, ``客户编号``, ``会员号``, ``日期``, ``下单时间``, ``金额``, ``实付金额`` ...) and
  by content (values that parse as dates, as numbers, ids that repeat);
* the date format: ISO needs none; ``25/01/2024`` proves day-first; when every value fits both
  day/month and month/day orders (``05/01/2024``) it refuses to guess and says so;
* thousands separators and currency symbols in the amounts.

Every choice it could not make is kept in :attr:`Sniffed.undecided`, written into the params
file as a comment and printed, never silently resolved. :func:`render_params` then writes a
commented params file with sensible defaults (time unit from the data's span, a calibration
split by duration, three tiers). Reading the source for real stays ``clvkit.io``'s job.
"""
from __future__ import annotations

import codecs
import csv
import datetime as _dt
import io as _io
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from clvkit.errors import ConfigError, DataError

__all__ = ["Sniffed", "sniff", "render_params", "default_time_unit", "default_calibration",
           "NAMES"]

#: Column names (normalised: lower case, no spaces, '_', '-' or '.') that name each role, best
#: first. Order ids are listed as NOT customer ids.
NAMES = {
    "customer_id": (
        "customerid", "custid", "cust", "customer", "customerno", "customernumber",
        "customercode", "clientid", "client", "clientno", "memberid", "memberno", "member",
        "membernumber", "membercode", "userid", "user", "buyerid", "buyer", "shopperid",
        "accountid", "account", "contactid", "personid", "householdid", "cardid", "cardno",
        "loyaltyid", "id", "客户编号", "客户id", "客户号", "客户代码", "客户", "会员号", "会员编号",
        "会员id", "会员卡号", "会员", "用户id", "用户编号", "用户", "顾客编号", "顾客id", "顾客",
        "买家id", "买家", "卡号", "kundennummer", "kundenid", "kunde", "idcliente", "cliente",
        "numclient", "idclient", "顧客id", "顧客番号", "会員番号"),
    "date": (
        "date", "orderdate", "purchasedate", "transactiondate", "invoicedate", "saledate",
        "salesdate", "txdate", "paymentdate", "datetime", "timestamp", "ordertime",
        "purchasetime", "transactiontime", "createdat", "orderedat", "purchasedat", "time",
        "day", "日期", "下单时间", "下单日期", "订单日期", "订单时间", "交易日期", "交易时间",
        "购买日期", "购买时间", "支付时间", "付款时间", "消费日期", "消费时间", "时间", "datum",
        "fecha", "data", "日付", "購入日"),
    "amount": (
        "amount", "totalamount", "netamount", "grossamount", "orderamount", "ordervalue",
        "ordertotal", "total", "totalprice", "value", "revenue", "sales", "spend", "paid",
        "amountpaid", "payment", "price", "sum", "net", "gross", "金额", "实付金额", "订单金额",
        "消费金额", "支付金额", "付款金额", "交易金额", "实收金额", "销售额", "总金额", "总价",
        "价格", "售价", "betrag", "umsatz", "preis", "importe", "montant", "prix", "valor",
        "金額", "売上"),
}
#: Names that look like a role but are not: order and line identifiers, quantities.
NOT = {"customer_id": ("orderid", "orderno", "ordernumber", "invoice", "invoiceno", "invoiceid",
                       "transactionid", "txid", "lineid", "rowid", "productid", "sku", "itemid",
                       "订单号", "订单编号", "订单id", "交易号", "商品编号"),
       "amount": ("quantity", "qty", "units", "count", "数量", "件数", "discount", "tax")}

_DAY_FIRST = ("%d/%m/%Y", "%d.%m.%Y", "%d-%m-%Y", "%d/%m/%y", "%d.%m.%y", "%d-%m-%y")
_MONTH_FIRST = ("%m/%d/%Y", "%m.%d.%Y", "%m-%d-%Y", "%m/%d/%y", "%m.%d.%y", "%m-%d-%y")
_OTHER = ("%Y/%m/%d", "%Y.%m.%d", "%Y%m%d", "%Y年%m月%d日", "%d %b %Y", "%d-%b-%Y", "%d-%b-%y",
          "%b %d %Y", "%b %d, %Y", "%d %B %Y", "%B %d, %Y")
_TIMES = ("", " %H:%M", " %H:%M:%S", "T%H:%M:%S", " %H:%M:%S.%f", " %I:%M %p", " %I:%M:%S %p")
_CURRENCY = re.compile(r"^\s*(?P<pre>[$€£¥￥₹₩₽]|US\$|HK\$|R\$|RMB|CNY|USD|EUR|GBP|JPY)?\s*"
                       r"(?P<num>-?[\d.,' ]*\d)\s*(?P<post>[€£¥￥₹₩₽]|元|RMB|CNY|USD|EUR|GBP|kr|zł)?"
                       r"\s*$")
_SYMBOL_CODE = {"$": "USD", "US$": "USD", "€": "EUR", "£": "GBP", "¥": "CNY", "￥": "CNY",
                "元": "CNY", "RMB": "CNY", "CNY": "CNY", "USD": "USD", "EUR": "EUR", "GBP": "GBP",
                "JPY": "JPY", "₹": "INR", "₩": "KRW", "₽": "RUB", "HK$": "HKD", "R$": "BRL",
                "zł": "PLN"}
_SAMPLE_ROWS = 20_000


@dataclass
class Sniffed:
    """What :func:`sniff` inferred about a transaction source.

    ``decided`` holds one reason per inferred setting (``{"date": "by name; ISO dates"}``);
    ``undecided`` the choices it could not make, each a sentence with the fix. A setting that
    could not be inferred is None.
    """

    source: str
    kind: str
    table: str | None = None
    query: str | None = None
    sep: str | None = None
    encoding: str | None = None
    customer_id: str | None = None
    date: str | None = None
    amount: str | None = None
    date_format: str | None = None
    thousands: str | None = None
    decimal: str | None = None
    currency: str | None = None
    columns: list[str] = field(default_factory=list)
    decided: dict[str, str] = field(default_factory=dict)
    undecided: list[str] = field(default_factory=list)


# ----------------------------------------------------------------------------- the sniffer
def sniff(source, *, table: str | None = None, query: str | None = None,
          no_amount: bool = False) -> Sniffed:
    """Infer how to read a transaction source.

    Parameters
    ----------
    source : str or path
        A CSV, Parquet, DuckDB or SQLite file, or an SQLAlchemy/DuckDB URL (``sqlite:///x.db``,
        ``duckdb:///x.duckdb``).
    table, query : str, optional
        For databases: the table or SQL query. A database with one table needs neither.
    no_amount : bool
        The data have no amounts (visit or order logs): do not look for an amount column.

    Returns
    -------
    Sniffed

    Raises
    ------
    DataError
        A file that cannot be read, has no header row, or has no usable id or date column.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "o.csv"
    >>> _ = p.write_text("Id;Datum;Betrag\\n1;25.01.2024;10,50\\n1;03.02.2024;7,00\\n",
    ...                  encoding="utf-8")
    >>> s = sniff(p)
    >>> s.sep, s.customer_id, s.date, s.date_format, s.amount, s.decimal
    (';', 'Id', 'Datum', '%d.%m.%Y', 'Betrag', ',')
    """
    out, frame = _load_sample(source, table, query)
    out.columns = [str(c) for c in frame.columns]
    roles = _choose_columns(frame, out, no_amount)
    if roles["date"] is not None:
        out.date_format = _date_format(frame[roles["date"]], roles["date"], out)
    if roles["amount"] is not None:
        _amount_format(frame[roles["amount"]], roles["amount"], out)
    out.customer_id, out.date, out.amount = roles["customer_id"], roles["date"], roles["amount"]
    return out


def _load_sample(source, table, query) -> tuple[Sniffed, pd.DataFrame]:
    text = str(source)
    if "://" in text:
        return _load_database(text, table, query, url=True)
    path = Path(source)
    if not path.is_file():
        raise DataError("file not found" if not path.exists() else "is not a file", file=text,
                        fix=f"check the path (relative paths start at {Path.cwd()})")
    with open(path, "rb") as fh:
        head = fh.read(16)
    if head.startswith(b"SQLite format 3\x00") or head[8:12] == b"DUCK":
        return _load_database(text, table, query, url=False)
    if table is not None or query is not None:
        raise ConfigError(f"--table/--query apply to database sources, not to {text}",
                          key="table", fix="remove --table and --query for CSV and Parquet files")
    if head.startswith(b"PAR1"):
        frame = pd.read_parquet(path)
        return Sniffed(source=text, kind="parquet"), frame.head(_SAMPLE_ROWS)
    return _load_csv_sample(path)


def _load_database(text, table, query, *, url):
    """A sample of a database table (or query), choosing the table when there is one obvious
    transaction table; ``duckdb:///file`` URLs are read as the DuckDB file itself."""
    from clvkit import io

    kind = "sqlite" if text.startswith("sqlite") or not url else "database"
    if text.startswith("duckdb:///"):
        text, kind = text.removeprefix("duckdb:///"), "duckdb"
    elif not url and open(text, "rb").read(12)[8:12] == b"DUCK":
        kind = "duckdb"
    why = None
    if table is None and query is None:
        tables = _tables(text, kind)
        wanted = [t for t in tables if re.search(r"order|transac|purchase|sale|invoice|订单|交易",
                                                 t, re.IGNORECASE)]
        if len(tables) == 1:
            table, why = tables[0], "the only table"
        elif len(wanted) == 1:
            table, why = wanted[0], "named like a transaction table"
        else:
            raise DataError(f"holds {len(tables)} tables ({', '.join(tables) or 'none'}); "
                            "which one is the transaction log?", file=text,
                            fix="pass --table NAME or --query 'SELECT ...'")
    frame, _, _ = io.read_raw(text, table=table, query=query)
    out = Sniffed(source=text, kind=kind, table=table, query=query)
    if why:
        out.decided["table"] = why
    return out, frame.head(_SAMPLE_ROWS)


def _tables(text, kind) -> list[str]:
    path = Path(text)
    if kind == "duckdb":
        import duckdb

        con = duckdb.connect(str(path), read_only=True)
        try:
            return [r[0] for r in con.execute(
                "SELECT table_name FROM information_schema.tables ORDER BY 1").fetchall()]
        finally:
            con.close()
    import sqlalchemy as sa

    url = text if "://" in text else f"sqlite:///{path.resolve()}"
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return sorted(sa.inspect(conn).get_table_names())
    except sa.exc.SQLAlchemyError as exc:
        raise DataError(f"cannot list the tables ({str(exc).splitlines()[0][:200]})", file=text,
                        fix="pass --table NAME or --query 'SELECT ...'") from None
    finally:
        engine.dispose()


def _load_csv_sample(path: Path) -> tuple[Sniffed, pd.DataFrame]:
    raw = _read_head(path)
    if not raw.strip():
        raise DataError("is empty", file=str(path), fix="point to the file that holds the data")
    out = Sniffed(source=str(path), kind="csv")
    out.encoding, why = _encoding(raw)
    out.decided["encoding"] = why
    text = raw.decode(out.encoding, errors="replace")
    text = text.lstrip("\ufeff")
    lines = [ln for ln in text.splitlines() if ln.strip()][:200]
    if len(raw) >= _HEAD_BYTES and len(lines) > 1:
        lines = lines[:-1]  # the last line read may be cut short
    out.sep, why = _delimiter(lines)
    out.decided["sep"] = why
    rows = list(csv.reader(lines[:2], delimiter=out.sep))
    if rows and not _is_header(rows[0]):
        raise DataError(f"has no header row: its first line is data ({lines[0][:80]!r})",
                        file=str(path), fix="add a first line naming the columns, e.g. "
                        f"customer_id{out.sep}date{out.sep}amount")
    out.decided["header"] = "the first line names the columns"
    try:
        frame = pd.read_csv(path, sep=out.sep, encoding=out.encoding, dtype=str,
                            nrows=_SAMPLE_ROWS, keep_default_na=True, skipinitialspace=True)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot be read as CSV ({str(exc).splitlines()[0][:200]})",
                        file=str(path), fix="check the delimiter and quoting") from None
    dupes = [c for c in frame.columns if re.search(r"\.\d+$", str(c))
             and re.sub(r"\.\d+$", "", str(c)) in frame.columns]
    if dupes:
        out.undecided.append(f"column names repeat ({', '.join(map(str, dupes))}): rename "
                             "them in the file so each column has its own name")
    return out, frame


_HEAD_BYTES = 4 << 20


def _read_head(path: Path) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(_HEAD_BYTES)


def _encoding(raw: bytes) -> tuple[str, str]:
    """The text encoding of ``raw``: a BOM, valid UTF-8, GB18030 with Chinese text, else the
    Windows Western code page (cp1252) or Latin-1."""
    if raw.startswith(codecs.BOM_UTF8):
        return "utf-8-sig", "UTF-8 with a byte-order mark"
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16", "UTF-16 (byte-order mark)"
    if _decodes(raw, "utf-8"):
        return "utf-8", "UTF-8" if any(b > 127 for b in raw) else "plain ASCII (read as UTF-8)"
    if _decodes(raw, "gb18030"):
        text = codecs.getincrementaldecoder("gb18030")(errors="ignore").decode(raw)
        wide = {ch for ch in text if ord(ch) > 127}  # distinct: a '¥' on every row is one
        cjk = sum("\u4e00" <= ch <= "\u9fff" for ch in wide)
        if wide and cjk / len(wide) >= 0.5:
            return "gb18030", "GB18030/GBK (Chinese text, not UTF-8)"
    if _decodes(raw, "cp1252") and any(0x80 <= b <= 0x9f for b in raw):
        return "cp1252", "Windows-1252 (not UTF-8)"
    return "latin-1", "Latin-1 (not UTF-8)"


def _decodes(raw: bytes, encoding: str) -> bool:
    """True if ``raw`` decodes, allowing a character cut short at the end of the sample."""
    try:
        codecs.getincrementaldecoder(encoding)().decode(raw, final=False)
        return True
    except UnicodeDecodeError:
        return False


def _delimiter(lines: list[str]) -> tuple[str, str]:
    """The delimiter that splits every line into the same number (> 1) of fields."""
    best = None
    for sep in (",", ";", "\t", "|"):
        counts = {len(r) for r in csv.reader(lines[:100], delimiter=sep)}
        width = next(iter(counts))
        if len(counts) == 1 and width > 1 and (best is None or width > best[1]):
            best = (sep, width)
    if best is not None:
        shown = {"\t": "tab"}.get(best[0], repr(best[0]))
        return best[0], f"{shown}: every line has {best[1]} fields"
    try:
        sep = csv.Sniffer().sniff("\n".join(lines[:50]), delimiters=",;\t|").delimiter
        return sep, "guessed by the csv sniffer (lines have unequal numbers of fields)"
    except csv.Error:
        return ",", "no delimiter found: one column?"


def _looks_like_data(cell: str) -> bool:
    cell = cell.strip()
    if not cell:
        return False
    if _number(cell) is not None:
        return True
    return bool(re.match(r"^\d{1,4}[-/.年]\d{1,2}[-/.月]\d{1,4}", cell))


def _is_header(first: list[str]) -> bool:
    """A header line holds names: no cell of it is a number or a date."""
    return not any(_looks_like_data(c) for c in first)


# ------------------------------------------------------------------------- column roles
def _norm(name) -> str:
    return re.sub(r"[\s_\-.·()（）]+", "", str(name).lower())


def _name_score(role: str, name) -> int:
    """27-30: a listed name (earlier in the list is better); 2: a listed name with a prefix or
    suffix (``order_date``); 0: none, or a name listed in ``NOT`` (``order_id``)."""
    n = _norm(name)
    if n in NOT.get(role, ()) or any(n.startswith(x) for x in NOT.get(role, ())):
        return 0
    names = NAMES[role]
    if n in names:
        return 30 - min(names.index(n), 29) // 10  # earlier in the list is better
    for candidate in names:
        if len(candidate) >= 3 or not candidate.isascii():
            if n.endswith(candidate) or n.startswith(candidate):
                return 2
    return 0


def _content(frame: pd.DataFrame) -> dict[str, dict]:
    """Per column: share of values that parse as dates (any known form), as numbers, and the
    share of distinct values."""
    facts = {}
    for col in frame.columns:
        values = frame[col].dropna()
        if pd.api.types.is_datetime64_any_dtype(values):
            facts[col] = {"date": 1.0, "number": 0.0, "integer": False,
                          "distinct": values.nunique() / max(len(values), 1), "n": len(values)}
            continue
        text = values.astype(str).str.strip()
        text = text[text != ""]
        sample = text.drop_duplicates().head(500)
        numbers = sample.map(_number)
        number_share = numbers.notna().mean() if len(sample) else 0.0
        whole = bool(len(sample)) and numbers.dropna().map(lambda v: float(v).is_integer()).all()
        if number_share == 1.0 and sample.str.fullmatch(r"\d{8}").all():
            date_share = float(_fits(sample, "%Y%m%d").mean())  # 19970101
        elif number_share >= 0.95 and not sample.str.contains(r"[-/年]").any():
            date_share = 0.0  # numbers are not dates (a '.' may be d.m.Y: checked below)
        else:
            date_share = _date_share(sample)
        facts[col] = {"date": date_share, "number": number_share, "integer": whole,
                      "distinct": text.nunique() / max(len(text), 1), "n": len(text)}
    return facts


def _choose_columns(frame: pd.DataFrame, out: Sniffed, no_amount: bool) -> dict:
    facts = _content(frame)
    cols = list(frame.columns)
    chosen: dict[str, str | None] = {"customer_id": None, "date": None, "amount": None}

    def pick(role, ok, taken):
        named = sorted(((_name_score(role, c), -i, c) for i, c in enumerate(cols)
                        if c not in taken and ok(facts[c])), reverse=True)
        named = [x for x in named if x[0] > 0]
        return (named[0][2], "by name") if named else (None, None)

    is_date = lambda f: f["date"] >= 0.95 and f["n"] > 0  # noqa: E731
    is_amount = lambda f: f["number"] >= 0.95 and f["date"] < 0.5 and f["n"] > 0  # noqa: E731
    is_id = lambda f: f["n"] > 0 and f["date"] < 0.5  # noqa: E731

    col, why = pick("date", is_date, set())
    if col is None:
        dates = [c for c in cols if is_date(facts[c])]
        if dates:
            col, why = dates[0], "by content: its values are dates"
            if len(dates) > 1:
                out.undecided.append(f"several columns hold dates ({', '.join(dates)}); "
                                     f"'{col}' was taken as the purchase date: change "
                                     "data.transactions.date if another one is")
    chosen["date"] = col
    if col is not None:
        out.decided["date"] = why
    taken = {c for c in chosen.values() if c}

    col, why = pick("customer_id", is_id, taken)
    if col is None:
        ids = [c for c in cols if c not in taken and is_id(facts[c]) and facts[c]["distinct"] < 1
               and not (facts[c]["number"] >= 0.95 and not facts[c]["integer"])]
        if ids:
            col, why = ids[0], "by content: the first column whose values repeat"
    chosen["customer_id"] = col
    if col is not None:
        out.decided["customer_id"] = why
    taken = {c for c in chosen.values() if c}

    if no_amount:
        out.decided["amount"] = "none: --no-amount (purchase counts only)"
    else:
        col, why = pick("amount", is_amount, taken)
        if col is None:
            numeric = [c for c in cols if c not in taken and is_amount(facts[c])
                       and _name_score("amount", c) == 0 and _norm(c) not in NOT["amount"]]
            decimals = [c for c in numeric if not facts[c]["integer"]]
            if len(decimals) == 1:
                col, why = decimals[0], "by content: the one column of decimal numbers"
            elif len(numeric) > 1 or len(decimals) > 1:
                out.undecided.append(
                    f"could not tell which column is the amount ({', '.join(numeric)}); the "
                    "params use none (purchase counts only): set data.transactions.amount "
                    "to the column of order values")
        chosen["amount"] = col
        out.decided["amount"] = why or "none found: purchase counts only"
    for role in ("customer_id", "date"):
        if chosen[role] is None:
            raise DataError(f"no {role.replace('_', ' ')} column found among "
                            f"{', '.join(map(str, cols))}", file=out.source,
                            fix=f"rename the column to '{role}', or write the params file by "
                            "hand (see params/retail.yaml)")
    return chosen


# ------------------------------------------------------------------------------ dates
def _fits(sample: pd.Series, fmt: str) -> pd.Series:
    return pd.to_datetime(sample, format=fmt, errors="coerce").notna()


def _iso_fits(sample: pd.Series) -> pd.Series:
    iso = sample.str.match(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?"
                           r"(Z|[+-]\d{2}:?\d{2})?$")
    return iso & pd.to_datetime(sample.where(iso), format="ISO8601", errors="coerce").notna()


def _formats() -> list[str]:
    return [d + t for d in (*_DAY_FIRST, *_MONTH_FIRST, *_OTHER) for t in _TIMES]


def _date_share(sample: pd.Series) -> float:
    if not len(sample):
        return 0.0
    if not sample.str.contains(r"\d").all():
        return 0.0
    best = _iso_fits(sample).mean()
    if best >= 0.95:
        return float(best)
    for fmt in _formats():
        best = max(best, _fits(sample, fmt).mean())
        if best >= 0.95:
            break
    return float(best)


def _date_format(values: pd.Series, column: str, out: Sniffed) -> str | None:
    """The ``date_format`` for a column: None for ISO (or typed) dates, a pattern otherwise,
    None with an ``undecided`` note when day/month order cannot be told apart."""
    if pd.api.types.is_datetime64_any_dtype(values):
        out.decided["date"] += "; stored as dates"
        return None
    sample = values.dropna().astype(str).str.strip()
    sample = sample[sample != ""].drop_duplicates().head(5000)
    if _iso_fits(sample).mean() >= 0.99:
        out.decided["date"] += "; ISO dates (YYYY-MM-DD)"
        return None
    fits = {fmt: share for fmt in _formats() if (share := _fits(sample, fmt).mean()) >= 0.99}
    if not fits:
        out.undecided.append(f"the dates of '{column}' (e.g. {sample.iloc[0]!r}) are in no form "
                             "clvkit knows: set data.transactions.date_format to their strftime "
                             "pattern")
        return None
    day = [f for f in fits if f.split(" ")[0].split("T")[0] in _DAY_FIRST]
    month = [f for f in fits if f.split(" ")[0].split("T")[0] in _MONTH_FIRST]
    if day and month:
        example = sample.iloc[0]
        out.undecided.append(
            f"the dates of '{column}' (e.g. {example!r}) fit both day/month and month/day "
            f"order: no day above 12 tells them apart, so clvkit will not guess; set "
            f"data.transactions.date_format to '{day[0]}' (day first) or '{month[0]}' (month "
            "first)")
        return None
    fmt = max(fits, key=lambda f: (fits[f], -_formats().index(f)))
    proof = ""
    if fmt in day or fmt in month:
        first = sample.str.extract(r"^\s*(\d{1,2})\D(\d{1,2})")
        big = sample[(first.astype(float) > 12).any(axis=1)]
        if len(big):
            proof = f" ({big.iloc[0]!r} has a day above 12)"
    share = "" if fits[fmt] == 1 else f", {fits[fmt]:.1%} of the values"
    out.decided["date"] += f"; format {fmt}{proof}{share}"
    return fmt


# ---------------------------------------------------------------------------- amounts
def _number(text: str) -> float | None:
    """A number written with an optional currency symbol and thousands separators, or None."""
    m = _CURRENCY.match(str(text))
    if m is None:
        return None
    num = m.group("num").replace(" ", "").replace("'", "")
    if re.fullmatch(r"-?\d+(\.\d+)?", num):
        return float(num)
    if re.fullmatch(r"-?\d{1,3}(,\d{3})+(\.\d+)?", num):
        return float(num.replace(",", ""))
    if re.fullmatch(r"-?\d{1,3}(\.\d{3})+(,\d+)?", num) or re.fullmatch(r"-?\d+,\d+", num):
        return float(num.replace(".", "").replace(",", "."))
    return None


def _amount_format(values: pd.Series, column: str, out: Sniffed) -> None:
    """Currency symbols, thousands separators and a decimal comma in the amount column."""
    if pd.api.types.is_numeric_dtype(values):
        out.decided["amount"] += "; numbers"
        return
    text = values.dropna().astype(str).str.strip()
    text = text[text != ""].drop_duplicates().head(5000)
    parts = text.str.extract(_CURRENCY.pattern)
    symbols = set(parts["pre"].dropna()) | set(parts["post"].dropna())
    num = parts["num"].dropna().str.replace(r"[ ']", "", regex=True)
    comma_thousands = num.str.fullmatch(r"-?\d{1,3}(,\d{3})+(\.\d+)?")
    dot_thousands = num.str.fullmatch(r"-?\d{1,3}(\.\d{3})+(,\d+)?")
    decimal_comma = num.str.fullmatch(r"-?\d+,\d{1,2}") | num.str.fullmatch(r"-?\d+,\d{4,}")
    decimal_point = num.str.fullmatch(r"-?\d+\.\d+")
    notes = []
    if symbols:
        codes = {_SYMBOL_CODE.get(s, s) for s in symbols}
        out.currency = codes.pop() if len(codes) == 1 else None
        notes.append(f"currency symbol {' '.join(sorted(symbols))}")
    if (dot_thousands | decimal_comma).any() and not (comma_thousands | decimal_point).any():
        out.decimal, out.thousands = ",", "."  # for clvkit.io, '.' groups means ',' decimals
        notes.append("decimal comma" + (", '.' thousands" if dot_thousands.any() else ""))
    elif comma_thousands.any() and not (dot_thousands | decimal_comma).any():
        ambiguous = num.str.fullmatch(r"-?\d{1,3},\d{3}")
        if ambiguous.all() and not decimal_point.any():
            out.undecided.append(f"the amounts of '{column}' (e.g. {text.iloc[0]!r}) could be "
                                 "thousands (1,234 = 1234) or decimals (1,234 = 1.234): set "
                                 "data.transactions.thousands or export plain numbers")
        else:
            out.thousands = ","
            notes.append("',' thousands separators")
    elif (comma_thousands | decimal_comma).any() and (dot_thousands | decimal_point).any():
        out.undecided.append(f"the amounts of '{column}' mix '1,234.5' and '1.234,5' forms: "
                             "export them as plain numbers")
    out.decided["amount"] += "; " + (", ".join(notes) if notes else "plain numbers")
    from clvkit import io  # the reader's own parsing decides whether the values can be read

    parsed = pd.to_numeric(io.parse_amounts(text, thousands=out.thousands), errors="coerce")
    if parsed.isna().any() and not any(column in u for u in out.undecided):
        bad = text[parsed.isna().to_numpy()].iloc[0]
        out.undecided.append(f"amounts of '{column}' such as {bad!r} cannot be read as numbers "
                             "by clvkit: export them as plain numbers (e.g. 1234.50)")


# ----------------------------------------------------------------------------- defaults
def default_time_unit(start, end) -> tuple[str, str]:
    """The model's time unit for data spanning ``start`` to ``end``, and why: days for a few
    months, weeks up to about six years, months beyond (keeps T in the tens to hundreds)."""
    days = (pd.Timestamp(end) - pd.Timestamp(start)).days + 1
    if days < 180:
        return "D", f"the data span {days} days"
    if days <= 6 * 365:
        return "W", f"the data span {days / 7:.0f} weeks"
    return "M", f"the data span {days / 30.436875:.0f} months"


def default_calibration(start, end, unit: str) -> tuple[str | None, str]:
    """A calibration split by duration: about the first two thirds of the span, in whole
    ``unit`` (the last third checks the model's predictions); None below 8 weeks of data."""
    from clvkit.units import DAYS_PER_UNIT

    days = (pd.Timestamp(end) - pd.Timestamp(start)).days + 1
    if days < 56:
        return None, f"no holdout check: {days} days of data are too few to hold some back"
    n = int(days * 2 / 3 / DAYS_PER_UNIT[unit])
    return f"{n}{unit}", (f"fit on the first {n}{unit}, check the predictions on the "
                          "remaining third")


# ------------------------------------------------------------------------- params text
def render_params(s: Sniffed, *, scenario: str, location: str, start=None, end=None,
                  written: str | None = None) -> str:
    """The text of a commented params file for a sniffed source.

    ``location`` is the source as the params file should name it (a path relative to the
    params file, or a URL); ``start``/``end`` are the data's first and last purchase dates
    (for the time unit and calibration defaults).
    """
    import yaml

    def val(v) -> str:
        return yaml.safe_dump(v, default_flow_style=True, allow_unicode=True,
                              width=1000).strip().removesuffix("\n...").strip()

    def line(key, value, why="", indent=4):
        text = f"{' ' * indent}{key}: {val(value)}"
        return f"{text + '  ':<44}# {why}" if why else text

    today = written or _dt.date.today().isoformat()
    lines = [f"# clvkit params for {s.source}, written by `clvkit init` on {today}.",
             "# Every inferred setting says why; change any of them. Only 'scenario' and",
             "# 'data' are needed: every other section has a default (see params/retail.yaml).",
             ""]
    if s.undecided:
        lines += ["# COULD NOT DECIDE (check these before trusting the results):"]
        lines += [f"#   - {u}" for u in s.undecided] + [""]
    lines += [line("scenario", scenario, indent=0)]
    if s.currency:
        lines += [line("currency", s.currency, "from the currency symbol", indent=0)]
    lines += ["data:", "  source: files", "  transactions:"]
    key = "url" if "://" in location else "path"
    lines += [line(key, location, s.kind)]
    if s.table is not None:
        lines += [line("table", s.table, s.decided.get("table", ""))]
    if s.query is not None:
        lines += [line("query", s.query)]
    lines += [line("customer_id", s.customer_id, s.decided.get("customer_id", "")),
              line("date", s.date, s.decided.get("date", ""))]
    if s.amount is None:
        lines += [line("amount", None, s.decided.get("amount", "none: purchase counts only"))]
    else:
        lines += [line("amount", s.amount, s.decided.get("amount", ""))]
    if s.date_format is not None:
        lines += [line("date_format", s.date_format, "day/month order proven by the data"
                       if s.date_format.startswith(("%d", "%m")) else "")]
    elif any("day/month" in u for u in s.undecided):
        lines += ["    date_format: null                       # CHOOSE: see COULD NOT DECIDE"]
    if s.kind == "csv":
        if s.sep != ",":
            lines += [line("sep", s.sep, s.decided.get("sep", ""))]
        if s.encoding not in ("utf-8", "utf-8-sig"):
            lines += [line("encoding", s.encoding, s.decided.get("encoding", ""))]
    if s.thousands is not None:
        lines += [line("thousands", s.thousands, "seen in the amounts" + (
            " (the decimal mark is ',')" if s.thousands == "." else ""))]
    if start is not None and end is not None:
        unit, why = default_time_unit(start, end)
        cal, cal_why = default_calibration(start, end, unit)
        lines += ["", "summary:", line("time_unit", unit, why, indent=2)]
        if cal is not None:
            lines += [line("calibration", cal, cal_why, indent=2),
                      "", "model:", line("transaction", "best", "the purchase model with the "
                                         "smallest holdout error", indent=2)]
        else:
            lines += [f"  # {cal_why}"]
    score = "clv" if s.amount is not None else "expected_purchases"
    lines += ["", "tiers:",
              line("score", score, "customer lifetime value" if s.amount is not None else
                   "no amounts: expected purchases", indent=2),
              "  rules:                                   # top tier first; shares sum to 1",
              "    - {label: VIP, share: 0.1}",
              "    - {label: regular, share: 0.4}",
              "    - {label: potential, share: 0.5}",
              "",
              "# Sections without data (surveys, complaints, programme, customers) are off",
              "# (enabled: auto); add data.surveys etc. to turn them on.", ""]
    return "\n".join(lines)
