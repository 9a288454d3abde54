"""Write and read the tier assignment export (``tiers.csv`` / ``tiers.parquet``) for a CRM.

The columns and their order are fixed (:data:`ASSIGNMENT_COLUMNS`, docs/DATA.md):

=====================  ===========================================================
customer_id            as read from the source (int for CDNOW, ``C000001`` simulated)
tier                   value tier label (the prospect label for customers with no purchase)
tier_2d                ``"<tier> / <second dimension>"`` (empty without a second dimension)
stage                  lifecycle stage (prospect, new, one-time, repeat, loyal, dormant, lost)
segment                RFM rule segment or k-means cluster name (``prospect`` for prospects)
r_score, f_score,      1–5 (empty for prospects)
m_score, rfm_score     ``rfm_score`` = 100 R + 10 F + M
clv                    discounted CLV over the value horizon (empty for prospects)
p_alive                probability the customer is still active (empty for prospects)
expected_purchases     over the value horizon (empty for prospects)
clv_at_risk            clv × (1 − p_alive) (empty for prospects)
action                 the playbook action
run_date               the run's date (YYYY-MM-DD)
=====================  ===========================================================

CSV is UTF-8 with CRLF line ends (RFC 4180); ``csv_bom=True`` adds a byte-order mark so Excel shows Chinese labels correctly.
Reading accepts either.

CSV cells are inert in a spreadsheet (OWASP's advice on CSV injection): every text cell and
header that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading
``'``, which Excel and LibreOffice show as text and do not evaluate -- a customer id or tier label
such as ``=HYPERLINK(...)`` is never a live formula. Text that already starts with ``'`` gets one
too, so :func:`read_table` can strip exactly one quote and read back the values written.
Numbers are left alone and Parquet keeps the raw values. Files are written to a temporary name and renamed into place, so a
failed run never leaves a half-written export over the last good one.
"""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from clvkit.errors import DataError

ASSIGNMENT_COLUMNS = ("customer_id", "tier", "tier_2d", "stage", "segment", "r_score", "f_score",
                      "m_score", "rfm_score", "clv", "p_alive", "expected_purchases",
                      "clv_at_risk", "action", "run_date")
SCORE_COLUMNS = ("r_score", "f_score", "m_score", "rfm_score")
LABEL_COLUMNS = ("tier", "tier_2d", "stage", "segment", "action")


def check_assignments(table: pd.DataFrame, *, file: object = None) -> None:
    """Raise a ``DataError`` if ``table`` lacks an export column or repeats a customer."""
    missing = [c for c in ASSIGNMENT_COLUMNS if c not in table.columns]
    if missing:
        raise DataError(f"tier assignments lack column(s) {', '.join(missing)}", file=file,
                        column=missing[0], fix="use a tiers table written by clvkit score")
    dup = table["customer_id"][table["customer_id"].duplicated()]
    if len(dup):
        raise DataError(f"{len(dup)} customers appear twice", file=file, column="customer_id",
                        rows=dup.unique(), fix="one row per customer")


#: First characters that make a spreadsheet treat a cell as a formula (OWASP), plus the quote
#: itself so that neutralising can be undone exactly on reading.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "'")


def neutralise(value):
    """A text cell made inert for spreadsheets: ``'`` prefixed when it starts with a trigger."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def neutralise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` with every text cell and header neutralised; numbers untouched."""
    out = frame.rename(columns=lambda c: neutralise(str(c)) if isinstance(c, str) else c)
    for col in out.columns:
        column = out[col]
        if pd.api.types.is_string_dtype(column) or column.dtype == object:
            out[col] = column.map(neutralise, na_action="ignore")
    return out


def restore(value):
    """Undo :func:`neutralise` (one leading ``'`` removed) for a value read back from CSV."""
    if isinstance(value, str) and value.startswith("'"):
        return value[1:]
    return value


def write_table(frame: pd.DataFrame, path: str | os.PathLike, *, csv_bom: bool = False) -> Path:
    """Write ``frame`` as CSV or Parquet (by suffix), atomically; categoricals become strings.

    CSV text cells and headers are neutralised against formula injection (:func:`neutralise`);
    Parquet keeps the raw values.
    """
    path = Path(path)
    out = frame.copy()
    for col in out.columns:
        if isinstance(out[col].dtype, pd.CategoricalDtype):
            out[col] = out[col].astype("string")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    if path.suffix == ".csv":
        # CRLF rows (RFC 4180): the csv module then quotes a cell holding a lone CR, which a
        # spreadsheet would otherwise read as a line break
        neutralise_frame(out).to_csv(tmp, index=False, lineterminator="\r\n",
                                     encoding="utf-8-sig" if csv_bom else "utf-8")
    elif path.suffix == ".parquet":
        out.to_parquet(tmp, index=False)
    else:
        raise ValueError(f"{path}: unknown table format; use .csv or .parquet")
    os.replace(tmp, path)
    return path


def write_assignments(table: pd.DataFrame, out_dir: str | os.PathLike, *, csv_bom: bool = False,
                      stem: str = "tiers") -> dict[str, Path]:
    """Write the assignment table as ``<stem>.csv`` and ``<stem>.parquet`` in ``out_dir``.

    Returns
    -------
    dict
        ``{"csv": path, "parquet": path}``.
    """
    check_assignments(table)
    table = table.loc[:, list(ASSIGNMENT_COLUMNS)]
    out_dir = Path(out_dir)
    return {fmt: write_table(table, out_dir / f"{stem}.{fmt}", csv_bom=csv_bom)
            for fmt in ("csv", "parquet")}


def read_table(path: str | os.PathLike, *, dtype: dict | None = None) -> pd.DataFrame:
    """Read a CSV (UTF-8, with or without BOM) or Parquet table written by :func:`write_table`.

    ``dtype`` (CSV only) fixes column types, e.g. labels as strings even when a column is empty.
    CSV text cells and headers neutralised on writing are restored (:func:`restore`).
    """
    path = Path(path)
    if not path.exists():
        raise DataError("file not found", file=path, fix="check the path (previous_run in params)")
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    if path.suffix == ".csv":
        table = pd.read_csv(path, encoding="utf-8-sig", dtype=dtype, low_memory=False)
        table = table.rename(columns=restore)
        for col in table.columns:
            if pd.api.types.is_string_dtype(table[col]) or table[col].dtype == object:
                table[col] = table[col].map(restore, na_action="ignore")
        return table
    raise DataError(f"unknown table format {path.suffix!r}", file=path, fix="use .csv or .parquet")


def read_assignments(path: str | os.PathLike) -> pd.DataFrame:
    """Read a tier export (e.g. the previous run's) back, with the export's column types.

    Scores come back as nullable integers, ``run_date`` as a date, labels as strings.
    """
    table = read_table(path, dtype=dict.fromkeys(LABEL_COLUMNS, "string"))
    check_assignments(table, file=path)
    for col in SCORE_COLUMNS:
        table[col] = table[col].astype("Int64")
    for col in ("clv", "p_alive", "expected_purchases", "clv_at_risk"):
        table[col] = table[col].astype("float64")
    for col in LABEL_COLUMNS:
        table[col] = table[col].astype("string")
    table["run_date"] = pd.to_datetime(table["run_date"])
    return table.loc[:, list(ASSIGNMENT_COLUMNS)]
