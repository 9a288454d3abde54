"""Reading the input tables: transactions, customers, surveys, complaints and the programme.

One internal reader (:func:`_read`) loads any source -- a CSV path, a Parquet path, a DuckDB
database file, an SQLAlchemy URL (``sqlite:///shop.db``) or a DataFrame already in memory --,
checks the whole-input problems (missing or empty file, header only, wrong delimiter, wrong
encoding, binary bytes, a required column missing) and renames the mapped columns to the
canonical names of ``docs/DATA.md``. Each ``read_*`` function then converts its own columns.

Dates
-----
ISO 8601 dates and datetimes parse without a format. Any other text needs ``date_format`` (a
``strftime`` pattern): ``05/01/2024`` could be 5 January or 1 May, so clvkit never guesses.
Values with a time-zone offset are converted to ``timezone`` and made naive; offsets without a
configured ``timezone`` are an error (the calendar day of a purchase depends on the zone).
Naive values are taken to be in ``timezone`` already.

In transactions a few unparseable dates are not an error here: those rows keep ``NaT`` and
their raw text in the column ``_unparsed_date`` (present only when there are such rows), so
:func:`clvkit.clean.clean_transactions` counts them in its ledger. In the other tables bad
values are an error naming the rows, since no ledger follows them. Row numbers in messages
count data rows from 1 (in a CSV with a header, row *n* is on line *n + 1*).

Amounts
-------
Text amounts written with thousands separators (``1,234.50``) or a currency symbol (``$12.00``,
``12,50 €``) are converted here: ``thousands=","`` (or ``"."``, ``"'"``, ``" "``; the decimal
mark is then ``","`` for ``"."`` and ``" "``, else ``"."``) parses every value that is grouped in
threes; without ``thousands`` the unambiguous case is detected (every value that does not parse
plainly is grouped in threes with ``,`` and the column shows ``.`` as its decimal mark). One
currency symbol throughout is dropped; mixed symbols are left as text, so cleaning counts them.
Values that still do not parse stay as read, for the ledger.

Customer ids keep the type they were read with. A CSV id column is judged on its text: ids
that are all plain integers (no leading zeros) become ``int64`` (``Int64`` if some are
missing); other ids stay text, with surrounding whitespace removed, so ``007`` never becomes 7.
Whole numbers written as floats (``1.0``, a float column in Parquet or a database) are the
integers they stand for; fractional ids are an error. A header that names one column twice is
an error (pandas would silently rename the second).
"""
from __future__ import annotations

import difflib
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from clvkit.errors import ConfigError, DataError

UNPARSED_DATE = "_unparsed_date"
"""Column holding the raw text of transaction dates that could not be parsed (else absent)."""

_COMPRESSED = {".gz", ".bz2", ".zip", ".xz", ".zst", ".tar"}
_DELIMITERS = {";": "';'", "\t": "'\\t'", "|": "'|'"}
_AWARE = r"\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:[zZ]|[+-]\d{2}(?::?\d{2})?)$"
_SLASHED = re.compile(r"^\s*\d{1,2}[/.\-]\d{1,2}[/.\-]\d{2,4}\b")
_INT_TEXT = r"0|-?[1-9]\d{0,17}"
_UNIT = "datetime64[us]"  # one resolution whatever the source, so equal data hashes equally


# --------------------------------------------------------------------------- public readers

def read_transactions(source, *, customer_id="customer_id", date="date", amount="amount",
                      date_format=None, timezone=None, table=None, query=None, sep=None,
                      encoding=None, thousands=None) -> pd.DataFrame:
    """Read a transaction log into the canonical columns ``customer_id, date, amount``.

    Parameters
    ----------
    source : str, path or DataFrame
        CSV or Parquet path, DuckDB database file (with ``table`` or ``query``), SQLAlchemy URL
        such as ``"sqlite:///shop.db"`` (with ``table`` or ``query``), or a DataFrame.
    customer_id, date, amount : str
        Names of those columns in the source (the params file fills them). ``amount=None``:
        the source has no amounts (purchase counts only); no ``amount`` column is returned.
    date_format : str, optional
        ``strftime`` pattern for non-ISO dates, e.g. ``"%d/%m/%Y"`` or ``"%Y%m%d"``.
    timezone : str, optional
        Zone whose calendar the analysis uses, e.g. ``"Europe/Berlin"``; tz-aware values are
        converted to it and made naive.
    table, query : str, optional
        Table name or SQL query for database sources.
    sep, encoding : str, optional
        CSV delimiter (default ``","``) and encoding (default UTF-8, with or without BOM).
    thousands : str, optional
        Thousands separator of text amounts (see Amounts in the module docstring); detected
        when unambiguous.

    Returns
    -------
    DataFrame
        ``customer_id``, ``date`` (datetime64, naive; ``NaT`` where missing or unparseable),
        ``amount`` (float64 when numeric; text kept as read so cleaning can count the bad
        rows), the other source columns, and ``_unparsed_date`` when some dates failed.
        ``attrs["source"]`` names the source for later messages.

    Raises
    ------
    DataError
        Whole-input problems: missing/empty/binary file, header only, wrong delimiter or
        encoding, a required column missing, a non-ISO date column without ``date_format``.

    Examples
    --------
    >>> from clvkit.datasets import load_cdnow
    >>> frame = read_transactions(load_cdnow("sample"))
    >>> frame.columns[:3].tolist(), frame["date"].dtype.name
    (['customer_id', 'date', 'amount'], 'datetime64[us]')
    """
    frame, label = _read(source, {"customer_id": customer_id, "date": date, "amount": amount},
                         table=table, query=query, sep=sep, encoding=encoding)
    parsed, failed = parse_dates(frame["date"], date_format=date_format, timezone=timezone,
                                 source=label, column=date)
    if failed.any():
        frame[UNPARSED_DATE] = frame["date"].astype("object").where(failed, None)
    frame["date"] = parsed
    if amount is None:
        return frame.drop(columns=["amount"], errors="ignore")
    _refuse_booleans(frame["amount"], label, amount)
    if pd.api.types.is_numeric_dtype(frame["amount"]):
        frame["amount"] = frame["amount"].to_numpy(dtype="float64", na_value=np.nan)
    else:
        frame["amount"] = parse_amounts(frame["amount"], thousands=thousands, source=label,
                                        column=amount)
    return frame


def read_customers(source, *, customer_id="customer_id", signup_date="signup_date",
                   date_format=None, timezone=None, table=None, query=None, sep=None,
                   encoding=None) -> pd.DataFrame:
    """Read the customer table: ``customer_id``, ``signup_date`` and attribute columns.

    One row per customer, prospects included. Missing or duplicated ids and unparseable
    signup dates are a ``DataError`` naming the rows; missing signup dates are kept as
    ``NaT``. Pass ``signup_date=None`` when the source has no signup dates. Other parameters
    as in :func:`read_transactions`.
    """
    mapping = {"customer_id": customer_id, "signup_date": signup_date}
    frame, label = _read(source, mapping, table=table, query=query, sep=sep, encoding=encoding)
    _require_ids(frame, label, customer_id, unique=True)
    if signup_date is not None:
        frame["signup_date"] = _strict_dates(frame["signup_date"], label, signup_date,
                                             date_format, timezone, allow_missing=True)
    return frame


def read_surveys(source, *, customer_id="customer_id", date="date", csat="csat", nps="nps",
                 date_format=None, timezone=None, table=None, query=None, sep=None,
                 encoding=None) -> pd.DataFrame:
    """Read survey responses: ``customer_id``, ``date``, ``csat`` and/or ``nps``.

    At least one of the score columns must exist (pass ``csat=None`` or ``nps=None`` for the
    one the source lacks; it is then added as all-missing). Scores become ``Int64``; blanks are
    kept as missing. A score that is not an integer in range (CSAT 1-5, NPS 0-10) is an error
    naming the rows rather than a silent drop: a survey export that breaks the scale usually
    means the wrong column or scale was mapped. Missing ids or dates are errors too.
    """
    mapping = {"customer_id": customer_id, "date": date}
    scores = {"csat": (csat, 1, 5), "nps": (nps, 0, 10)}
    optional = {name: src for name, (src, _, _) in scores.items() if src is not None}
    frame, label = _read(source, mapping, optional=optional, table=table, query=query,
                         sep=sep, encoding=encoding)
    present = [name for name in optional if name in frame.columns]
    if not present:
        wanted = " or ".join(f"'{src}'" for src in optional.values()) or "a score column"
        raise DataError(f"no score column found: expected {wanted}; columns are: "
                        f"{_columns_list(frame)}", file=label,
                        fix="pass csat=... / nps=... naming the score columns")
    _require_ids(frame, label, customer_id)
    frame["date"] = _strict_dates(frame["date"], label, date, date_format, timezone)
    for name, (src, low, high) in scores.items():
        frame[name] = (_integer_scores(frame[name], label, src, low, high)
                       if name in present else pd.array([pd.NA] * len(frame), dtype="Int64"))
    return frame


def read_complaints(source, *, customer_id="customer_id", date="date", category="category",
                    resolved="resolved", resolution_days="resolution_days", date_format=None,
                    timezone=None, table=None, query=None, sep=None,
                    encoding=None) -> pd.DataFrame:
    """Read complaints: ``customer_id, date, category, resolved, resolution_days``.

    ``resolved`` accepts booleans, 1/0 and true/false/yes/no text. ``resolution_days`` is a
    non-negative number for resolved complaints and must be blank (NaN) for unresolved ones.
    Violations are errors naming the rows.
    """
    mapping = {"customer_id": customer_id, "date": date, "category": category,
               "resolved": resolved, "resolution_days": resolution_days}
    frame, label = _read(source, mapping, table=table, query=query, sep=sep,
                         encoding=encoding)
    _require_ids(frame, label, customer_id)
    frame["date"] = _strict_dates(frame["date"], label, date, date_format, timezone)
    frame["resolved"] = _booleans(frame["resolved"], label, resolved)
    days = _numbers(frame["resolution_days"], label, resolution_days)
    _check_rows(days.notna() & ~frame["resolved"], label, resolution_days,
                "has a value for unresolved complaints",
                "leave resolution_days blank when resolved is false")
    _check_rows(frame["resolved"] & ~(days >= 0), label, resolution_days,
                "must be a number >= 0 for resolved complaints", "fill in the days to resolve")
    frame["resolution_days"] = days
    return frame


def read_programme(source, *, customer_id="customer_id", eligible="eligible", treated="treated",
                   table=None, query=None, sep=None, encoding=None) -> pd.DataFrame:
    """Read the tiering programme: ``customer_id, eligible, treated`` (one row per customer).

    Booleans as in :func:`read_complaints`. A treated customer who was not eligible is an
    error naming the rows, as are missing or duplicated ids.
    """
    mapping = {"customer_id": customer_id, "eligible": eligible, "treated": treated}
    frame, label = _read(source, mapping, table=table, query=query, sep=sep,
                         encoding=encoding)
    _require_ids(frame, label, customer_id, unique=True)
    frame["eligible"] = _booleans(frame["eligible"], label, eligible)
    frame["treated"] = _booleans(frame["treated"], label, treated)
    _check_rows(frame["treated"] & ~frame["eligible"], label, treated,
                "is true for customers who are not eligible",
                "mark them eligible or untreated")
    return frame


# --------------------------------------------------------------------------- amounts
_SEPARATORS = {",": ".", "'": ".", ".": ",", " ": ","}  # thousands -> decimal mark
_CURRENCY = re.compile(r"^(?P<pre>(?:[A-Z]{1,2})?[^\w\s.,'+\-()])?\s*(?P<num>[+-]?[\d.,' ]*\d)\s*"
                       r"(?P<post>[^\w\s.,'+\-()])?$")


def parse_amounts(values, *, thousands=None, source=None, column="amount"):
    """Text amounts -> float where they parse (see Amounts in the module docstring).

    Returns float64 when every non-blank value parses, else an object column with floats where
    values parse and the raw text where they do not (cleaning counts those as non-numeric).
    """
    if thousands is not None and thousands not in _SEPARATORS:
        raise ConfigError(f"thousands separator {thousands!r} is not one of "
                          f"{', '.join(map(repr, _SEPARATORS))}", key="thousands",
                          fix="use ',' for 1,234.50 or '.' for 1.234,50")
    text = values.astype("str").str.strip()
    blank = values.isna() | text.eq("") | text.str.lower().isin(["nan", "na", "null", "none"])
    if thousands is None and pd.to_numeric(text.mask(blank), errors="coerce").notna().sum() \
            == (~blank).sum():
        return values  # plain numbers: cleaning reads them
    parts = text.str.extract(_CURRENCY)
    symbols = set(parts["pre"].dropna()) | set(parts["post"].dropna())
    number = parts["num"]
    if len(symbols) > 1 or not _is_currency(symbols):  # mixed or no currency: keep as text
        number = number.where(parts["pre"].isna() & parts["post"].isna())
    number = number.where(~blank)
    plain = pd.to_numeric(number, errors="coerce")
    explicit = thousands is not None
    if not explicit:
        thousands = _detect_thousands(number[~blank & plain.isna()], number[plain.notna()])
        if thousands is None:  # at most one currency symbol to drop
            return _combine(values, plain) if len(symbols) == 1 and _is_currency(symbols) \
                else values
    decimal = _SEPARATORS[thousands]
    sep, dec = re.escape(thousands), re.escape(decimal)
    grouped = number.str.fullmatch(rf"[+-]?(?:\d{{1,3}}(?:{sep}\d{{3}})+|\d+)(?:{dec}\d+)?",
                                   na=False)
    converted = (number.where(grouped).str.replace(thousands, "", regex=False)
                 .str.replace(decimal, ".", regex=False))
    numbers = pd.to_numeric(converted, errors="coerce")
    # detected: values that parse plainly keep that reading; explicit: every value uses it
    return _combine(values, numbers if explicit else plain.fillna(numbers))


def _is_currency(symbols):
    import unicodedata

    return all(unicodedata.category(s[-1]) == "Sc" for s in symbols)


def _detect_thousands(failing, parsed_text):
    """',' when every failing value is grouped in threes with ',' and '.' is the decimal mark
    (a value shows both, has two groups, or a plain value has a '.'); else None."""
    if failing.empty or failing.isna().any():  # text that is no number at all: not a format
        return None
    if not failing.str.fullmatch(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?").all():
        return None
    clear = (failing.str.contains(".", regex=False).any()
             or failing.str.count(",").max() >= 2
             or parsed_text.str.contains(".", regex=False).any())
    return "," if clear else None


def _combine(values, numbers):
    """Parsed numbers where they exist, the raw values elsewhere (object), or float64."""
    numbers = pd.Series(numbers, index=values.index, dtype="float64")
    unparsed = numbers.isna() & values.notna()
    if not unparsed.any():
        return numbers
    return values.astype("object").where(unparsed, numbers.astype("object"))


def _refuse_booleans(values, label, column):
    """A true/false amount column is a wrong mapping, never amounts of 1 and 0."""
    is_bool = pd.api.types.is_bool_dtype(values)
    if not is_bool and (values.dtype == object or pd.api.types.is_string_dtype(values)):
        present = values.dropna()
        is_bool = len(present) > 0 and (
            present.map(lambda v: isinstance(v, (bool, np.bool_))).all()
            or present.astype("str").str.strip().str.lower().isin(["true", "false"]).all())
    if is_bool:
        raise DataError("holds true/false values, not amounts", file=label, column=column,
                        fix="map amount to the column that holds the purchase amounts")


# --------------------------------------------------------------------------- shared reader

def _read(source, mapping, *, optional=None, table=None, query=None, sep=None,
          encoding=None):
    """Load ``source``, check whole-input problems and rename mapped columns to canonical."""
    mapping = {k: v for k, v in mapping.items() if v is not None}
    optional = optional or {}
    wanted = {**mapping, **optional}
    text = [wanted["customer_id"]] if "customer_id" in wanted else []
    frame, label, from_text = read_raw(source, table=table, query=query, sep=sep,
                                    encoding=encoding, text=text)
    _check_delimiter(frame, label, sep)
    _check_unique_columns(frame, label, from_text)
    if len(frame) == 0:
        what = "has a header but no data rows" if from_text else "has no rows"
        raise DataError(what, file=label, fix="point to the file or table that holds the data")
    for canonical, src in mapping.items():
        if src not in frame.columns:
            _missing_column(frame, label, canonical, src)
    renames = {src: canonical for canonical, src in wanted.items()
               if src in frame.columns and src != canonical}
    for src, canonical in renames.items():
        if canonical in frame.columns and canonical not in renames:
            raise DataError(f"column '{src}' is mapped to '{canonical}' but the source also has "
                            f"a column '{canonical}'", file=label, column=src,
                            fix=f"drop or rename the other '{canonical}' column")
    frame = frame.rename(columns=renames)
    if from_text and "customer_id" in frame.columns:
        frame["customer_id"] = _ids_from_text(frame["customer_id"])
    elif "customer_id" in frame.columns:
        frame["customer_id"] = _ids_from_numbers(frame["customer_id"], label,
                                                 wanted["customer_id"])
    frame.attrs["source"] = label
    return frame, label


def read_raw(source, *, table=None, query=None, sep=None, encoding=None, text=()):
    """Return ``(frame, label, read_from_text)`` for any supported source, as read: no column
    mapping and no cleaning (what :func:`read_transactions` builds on and ``clvkit init`` sniffs).
    ``text`` names columns kept as text (ids like ``007``)."""
    if isinstance(source, pd.DataFrame):
        return source.copy(), "<DataFrame>", False
    if not isinstance(source, (str, os.PathLike)):
        raise DataError(f"cannot read a {type(source).__name__}",
                        fix="pass a file path, an SQLAlchemy URL or a DataFrame")
    if isinstance(source, str) and "://" in source:
        return _load_sql(source, table, query), _safe_url(source), False
    path = Path(source)
    label = str(source)
    if not path.exists():
        raise DataError("file not found", file=label,
                        fix=f"check the path (relative paths start at {Path.cwd()})")
    if path.is_dir():
        raise DataError("is a directory, not a file", file=label, fix="name the file inside it")
    head = _head(path)
    kind = _sniff(path, head)
    if kind != "csv" and kind not in {"parquet", "duckdb", "sqlite"}:
        raise DataError(f"is not a text CSV file ({kind})", file=label,
                        fix="export the data as CSV, Parquet or a database table")
    if kind in {"duckdb", "sqlite"}:
        if kind == "sqlite":
            return _load_sql(f"sqlite:///{path.resolve()}", table, query), label, False
        return _load_duckdb(path, label, table, query), label, False
    if table is not None or query is not None:
        raise ConfigError(f"table/query apply to database sources, not to {label}",
                          key="table" if table is not None else "query",
                          fix="remove table= and query= for CSV and Parquet files")
    if kind == "parquet":
        try:
            return pd.read_parquet(path), label, False
        except Exception as exc:  # pyarrow raises many types; all mean an unreadable file
            raise DataError(f"cannot be read as Parquet ({_first_line(exc)})", file=label,
                            fix="re-export the file, or check that it is complete") from None
    if path.suffix.lower() not in _COMPRESSED and not head.strip():
        raise DataError("is empty", file=label, fix="point to the file that holds the data")
    return _load_csv(path, label, sep, encoding, text), label, True


def _head(path):
    with open(path, "rb") as fh:
        return fh.read(8192)


def _sniff(path, head):
    """Name the file's kind from its first bytes: csv, parquet, duckdb, sqlite or a reason."""
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"SQLite format 3\x00"):
        return "sqlite"
    if head[8:12] == b"DUCK":
        return "duckdb"
    if path.suffix.lower() in _COMPRESSED:
        return "csv"
    if head.startswith(b"PK\x03\x04"):
        return "a zip archive or Excel workbook"
    if head.startswith(b"\x1f\x8b"):
        return "gzip-compressed; name it .csv.gz"
    if b"\x00" in head:
        offset = head.index(b"\x00")
        return f"binary data: a NUL byte at offset {offset}"
    return "csv"


def _load_csv(path, label, sep, encoding, text):
    """Read a CSV with pandas' type inference; a numeric-looking id column is read again as
    text (one column only) so ids like ``007`` keep their zeros and never merge with ``7``.
    (A ``dtype=`` hint for the whole read is about 5x slower in pandas 3.)"""
    enc = encoding or "utf-8"
    try:
        frame = pd.read_csv(path, sep=sep or ",", encoding=enc, low_memory=False)
        for column in text:
            if column in frame.columns and pd.api.types.is_numeric_dtype(frame[column]):
                frame[column] = pd.read_csv(path, sep=sep or ",", encoding=enc,
                                            usecols=[column], dtype=str)[column]
        return frame
    except UnicodeDecodeError:
        line = _first_undecodable_line(path, enc)
        raise DataError(f"is not valid {enc} text (first bad bytes on line {line})", file=label,
                        fix='pass encoding="latin-1" (or the encoding the file was saved in)'
                        ) from None
    except LookupError:
        raise ConfigError(f"unknown encoding {encoding!r}", key="encoding",
                          fix='use e.g. "utf-8" or "latin-1"') from None
    except pd.errors.EmptyDataError:
        raise DataError("is empty", file=label,
                        fix="point to the file that holds the data") from None
    except pd.errors.ParserError as exc:
        raise DataError(f"is not a well-formed CSV ({_first_line(exc)})", file=label,
                        fix="quote fields that contain the delimiter, or pass the right sep"
                        ) from None


def _first_undecodable_line(path, encoding):
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, start=1):
            try:
                raw.decode(encoding)
            except UnicodeDecodeError:
                return number
    return "?"


def _load_sql(url, table, query):
    import sqlalchemy as sa

    label = _safe_url(url)
    _one_of_table_query(label, table, query)
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise DataError(f"is not a valid database URL ({_first_line(exc)})", file=label,
                        fix="use e.g. sqlite:///path/to/file.db") from None
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        if not Path(parsed.database).exists():  # sqlite would silently create an empty file
            raise DataError("database file not found", file=label,
                            fix=f"check the path (relative paths start at {Path.cwd()})")
    try:
        engine = sa.create_engine(parsed)
    except ImportError as exc:  # the URL names a driver that is not installed
        raise DataError(f"the database driver for '{parsed.drivername}' is not installed "
                        f"({_first_line(exc)})", file=label,
                        fix="install it (e.g. pip install psycopg2-binary for postgresql) or "
                            "name an installed driver in the URL") from None
    except sa.exc.NoSuchModuleError:
        raise DataError(f"unknown database scheme '{parsed.drivername}'", file=label,
                        fix="use a scheme SQLAlchemy knows, e.g. sqlite:///shop.db or "
                            "postgresql://user@host/db") from None
    except sa.exc.ArgumentError as exc:
        raise DataError(f"is not a usable database URL ({_first_line(exc)})", file=label,
                        fix="use e.g. sqlite:///path/to/file.db") from None
    try:
        with engine.connect() as conn:
            if table is not None:
                tables = sa.inspect(conn).get_table_names()
                if table not in tables:
                    _missing_table(label, table, tables)
                return pd.read_sql_table(table, conn)
            return pd.read_sql_query(sa.text(query), conn)
    except (sa.exc.SQLAlchemyError, pd.errors.DatabaseError) as exc:
        cause = exc.__cause__ if isinstance(exc, pd.errors.DatabaseError) else exc
        raise DataError(f"query failed ({_first_line(getattr(cause, 'orig', cause))})",
                        file=label, fix="check the query or table name") from None
    finally:
        engine.dispose()


def _load_duckdb(path, label, table, query):
    import duckdb

    _one_of_table_query(label, table, query)
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        raise DataError(f"cannot open the DuckDB file ({_first_line(exc)})", file=label,
                        fix="check that no other process holds it open for writing") from None
    try:
        if table is not None:
            tables = [r[0] for r in con.execute(
                "SELECT table_name FROM information_schema.tables ORDER BY 1").fetchall()]
            if table not in tables:
                _missing_table(label, table, tables)
            return con.table(table).df()
        return con.execute(query).df()
    except duckdb.Error as exc:
        raise DataError(f"query failed ({_first_line(exc)})", file=label,
                        fix="check the query or table name") from None
    finally:
        con.close()


def _one_of_table_query(label, table, query):
    if (table is None) == (query is None):
        raise ConfigError(f"{label} is a database: pass exactly one of table= or query=",
                          key="table", fix="name the table, or give an SQL query")


def _missing_table(label, table, tables):
    close = difflib.get_close_matches(table, tables, n=1, cutoff=0.5)
    hint = f"; closest match: '{close[0]}'" if close else ""
    raise DataError(f"table '{table}' not found; tables are: {', '.join(tables) or '(none)'}"
                    f"{hint}", file=label, fix="pass table= with one of those names")


def _check_delimiter(frame, label, sep):
    if frame.shape[1] != 1:
        return
    header = str(frame.columns[0])
    for char, shown in _DELIMITERS.items():
        if char in header and char != sep:
            visible = header[:60].replace("\t", "\\t")
            raise DataError(f"has a single column '{visible}' whose header contains "
                            f"{shown}: the file is {shown}-separated", file=label,
                            fix=f"pass sep={shown}")


def _check_unique_columns(frame, label, from_text):
    """Two columns of one name are an error: pandas would rename the second ('amount.1') and
    the mapping would silently pick the first."""
    names = [str(c) for c in frame.columns]
    if from_text:  # read_csv has already renamed repeats to 'name.1'; recover the header
        names = [re.sub(r"\.\d+$", "", n) if re.sub(r"\.\d+$", "", n) in names[:i] else n
                 for i, n in enumerate(names)]
    seen = {}
    for i, name in enumerate(names):
        if name in seen:
            raise DataError(f"has two columns named '{name}' (columns {seen[name] + 1} and "
                            f"{i + 1})", file=label, column=name,
                            fix="rename or remove one of them in the export")
        seen[name] = i


def _missing_column(frame, label, canonical, src):
    columns = [str(c) for c in frame.columns]
    lower = {c.lower(): c for c in columns}
    close = difflib.get_close_matches(src.lower(), list(lower), n=1, cutoff=0.5)
    close = [lower[close[0]]] if close else [c for c in columns if src.lower() in c.lower()][:1]
    hint = f"; closest match: '{close[0]}'" if close else ""
    fix = (f"pass {canonical}='{close[0]}'" if close
           else f"pass {canonical}= naming the column that holds it")
    role = f" ({canonical})" if canonical != src else ""
    raise DataError(f"required column '{src}'{role} not found; columns are: "
                    f"{_columns_list(frame)}{hint}", file=label, fix=fix)


def _columns_list(frame):
    names = [str(c) for c in frame.columns]
    shown = ", ".join(names[:20])
    return shown + (f", ... ({len(names)} in all)" if len(names) > 20 else "")


def _safe_url(url):
    try:
        import sqlalchemy as sa

        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparseable URL is reported by _load_sql; label it as given
        return url


def _first_line(exc):
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]


# --------------------------------------------------------------------------- column converters

def _ids_from_text(ids):
    """Text ids: strip whitespace (blank -> missing); all plain integers -> int64 / Int64."""
    if not (pd.api.types.is_string_dtype(ids) or ids.dtype == object):
        return ids
    text = ids.astype("str").str.strip()
    text = text.mask(text.eq("") | ids.isna())
    present = text.dropna()
    if len(present) and present.str.fullmatch(rf"(?:{_INT_TEXT})(?:\.0+)?").all():
        # whole numbers exported as floats ("1.0") are the integer ids they stand for
        numbers = pd.to_numeric(text.str.replace(r"\.0+$", "", regex=True)).astype("Int64")
        return numbers.astype("int64") if not numbers.hasnans else numbers
    return text


def _ids_from_numbers(ids, label, column):
    """Float ids (Parquet, databases) that are whole numbers become integers, as a CSV reads
    them, so ``1.0`` never reaches an export; fractional ids are an error."""
    if not pd.api.types.is_float_dtype(ids):
        return ids
    whole = np.isfinite(ids) & (ids == np.floor(ids)) & (ids.abs() < 2**53)
    _check_rows(ids.notna() & ~whole, label, column,
                "has customer ids that are not whole numbers", "export the ids as text or integers")
    numbers = ids.astype("Int64")
    return numbers.astype("int64") if not numbers.hasnans else numbers


def parse_dates(values, *, date_format=None, timezone=None, source=None, column="date"):
    """Parse a date column to naive datetime64 under the rules in the module docstring.

    Returns ``(parsed, failed)`` with ``parsed`` in ``datetime64[us]``: missing values are
    ``NaT`` and not failed; values that cannot be parsed are ``NaT`` and failed. Whole-column problems (a non-ISO column without
    ``date_format``, offsets without ``timezone``, mixed naive and aware values) raise
    ``DataError`` naming ``source`` and ``column``.
    """
    label = source
    none_failed = pd.Series(False, index=values.index)
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        example = values.dropna().iloc[:1]
        return _to_zone(values, label, column, timezone, example).astype(_UNIT), none_failed
    if pd.api.types.is_datetime64_dtype(values):
        return values.astype(_UNIT), none_failed
    text = _date_text(values)
    missing = text.isna()
    if date_format is not None:
        aware = "%z" in date_format or "%Z" in date_format
        try:
            parsed = pd.to_datetime(text, format=date_format, errors="coerce", utc=aware)
        except ValueError as exc:
            raise ConfigError(f"invalid date_format {date_format!r} ({_first_line(exc)})",
                              key="date_format", fix="use a strftime pattern like '%d/%m/%Y'"
                              ) from None
        if aware:
            parsed = _to_zone(parsed, label, column, timezone, example=text[~missing].iloc[:1])
    else:
        parsed = _parse_iso(text, missing, label, column, timezone)
    failed = parsed.isna() & ~missing
    if date_format is None and failed.sum() > 0.5 * (~missing).sum():
        _not_iso(text, failed, label, column)
    return parsed.astype(_UNIT), failed


def _date_text(values):
    """Dates as stripped text (missing -> NA); numbers like 19970101 become '19970101'."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        as_int = values.dropna()
        if (as_int == np.floor(as_int)).all():
            values = values.astype("Int64")
    if values.dtype == object and len(values.dropna()):
        kinds = {type(v) for v in values.dropna()}
        if all(issubclass(k, (pd.Timestamp, np.datetime64)) or hasattr(k, "isoformat")
               for k in kinds):
            values = values.map(lambda v: v.isoformat() if hasattr(v, "isoformat") else v)
    text = values.astype("str").str.strip()
    return text.mask(values.isna() | text.eq(""))


def _parse_iso(text, missing, label, column, timezone):
    try:  # fast path: all naive (or one fixed offset) parses in one call
        parsed = pd.to_datetime(text, format="ISO8601", errors="coerce")
        if not isinstance(parsed.dtype, pd.DatetimeTZDtype):
            return parsed
    except ValueError:  # pandas refuses mixed offsets, or naive mixed with aware
        pass
    aware = text.str.contains(_AWARE, na=False)
    parsed = pd.to_datetime(text, format="ISO8601", errors="coerce", utc=True)
    naive = ~aware & ~missing & parsed.notna()
    if naive.any():
        a, n = text[aware].iloc[0], text[naive].iloc[0]
        raise DataError(f"mixes dates with and without a time-zone offset ({n!r} and {a!r})",
                        file=label, column=column, rows=_row_numbers(naive),
                        fix="export all dates in one form (all with offsets, or all in local "
                            "time)")
    return _to_zone(parsed, label, column, timezone, example=text[aware].iloc[:1])


def _to_zone(parsed, label, column, timezone, example):
    if timezone is None:
        shown = f" (e.g. {str(example.iloc[0])!r})" if len(example) else ""
        raise DataError(f"dates carry time-zone offsets{shown} but no timezone is configured",
                        file=label, column=column,
                        fix="pass timezone='UTC' or the zone whose calendar days you report in, "
                            "e.g. timezone='Europe/Berlin'")
    try:
        return parsed.dt.tz_convert(timezone).dt.tz_localize(None)
    except Exception as exc:  # unknown zone names raise from zoneinfo/pytz/dateutil
        raise ConfigError(f"unknown timezone {timezone!r} ({_first_line(exc)})",
                          key="timezone", fix="use an IANA name such as 'Europe/Berlin'"
                          ) from None


def _not_iso(text, failed, label, column):
    bad = text[failed]
    example = str(bad.iloc[0])
    share = f"{failed.sum():,} of {text.notna().sum():,} values"
    slashed = bad[bad.str.match(_SLASHED)]
    if len(slashed):
        parts = [int(p) for p in re.split(r"[/.\-]", slashed.iloc[0].split()[0])[:2]]
        why = ("ambiguous day/month order" if max(parts) <= 12
               else "not ISO; day/month order must be stated")
        raise DataError(f"dates like {slashed.iloc[0]!r} are {why} ({share} are not ISO)",
                        file=label, column=column,
                        fix="pass date_format='%d/%m/%Y' (day first) or '%m/%d/%Y' (month "
                            "first), or export ISO dates (YYYY-MM-DD)")
    raise DataError(f"dates are not ISO 8601 (e.g. {example!r}; {share})", file=label,
                    column=column, fix="pass date_format= with the strftime pattern of these "
                                       "dates, or export ISO dates (YYYY-MM-DD)")


def _strict_dates(values, label, column, date_format, timezone, allow_missing=False):
    """Parse a date column where every bad (or, unless allowed, missing) value is an error."""
    parsed, failed = parse_dates(values, date_format=date_format, timezone=timezone,
                                 source=label, column=column)
    _check_rows(failed, label, column, "has dates that cannot be parsed",
                "correct those dates or pass the right date_format")
    if not allow_missing:
        _check_rows(parsed.isna(), label, column, "has missing dates", "fill in those dates")
    return parsed


def _require_ids(frame, label, column, unique=False):
    ids = frame["customer_id"]
    blank = ids.isna() | (ids.astype("str").str.strip() == "")
    _check_rows(blank, label, column, "has missing customer ids", "fill in or remove those rows")
    if unique:
        _check_rows(ids.duplicated(keep="first"), label, column,
                    "has duplicated customer ids (one row per customer expected)",
                    "keep one row per customer")


def _integer_scores(values, label, column, low, high):
    numbers = _numbers(values, label, column)
    bad = numbers.notna() & ((numbers != np.floor(numbers)) | (numbers < low) | (numbers > high))
    _check_rows(bad, label, column, f"has scores outside the integers {low}-{high}",
                f"check that '{column}' is the right column and scale, or blank those answers")
    return numbers.astype("Int64")


def _numbers(values, label, column):
    if pd.api.types.is_bool_dtype(values):
        values = values.astype("float64")
    if pd.api.types.is_numeric_dtype(values):
        return pd.Series(values.to_numpy(dtype="float64", na_value=np.nan), index=values.index)
    numbers = pd.to_numeric(values, errors="coerce")
    text = values.astype("str").str.strip()
    _check_rows(numbers.isna() & values.notna() & text.ne(""), label, column,
                "has values that are not numbers", "correct or blank those values")
    return numbers.astype("float64")


_TRUE = {"true", "t", "yes", "y", "1", "1.0"}
_FALSE = {"false", "f", "no", "n", "0", "0.0"}


def _booleans(values, label, column):
    if pd.api.types.is_bool_dtype(values) and not values.isna().any():
        return values.astype(bool)
    text = values.astype("str").str.strip().str.lower()
    result = text.isin(_TRUE)
    _check_rows(~result & ~text.isin(_FALSE), label, column,
                "has values that are not true/false", "use true/false, yes/no or 1/0")
    return result.astype(bool)


def _check_rows(mask, label, column, problem, fix):
    mask = pd.Series(mask).fillna(False).astype(bool)
    if mask.any():
        raise DataError(f"{problem}: {int(mask.sum()):,} rows", file=label, column=column,
                        rows=_row_numbers(mask), fix=fix)


def _row_numbers(mask):
    """1-based data-row numbers of the true entries (positional, whatever the index)."""
    return (np.flatnonzero(np.asarray(mask)) + 1).tolist()
