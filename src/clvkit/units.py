"""Time units: the one place where a unit becomes a number of days.

Units are ``"D"`` (day), ``"W"`` (7 days), ``"M"`` (month) and ``"Y"`` (year). A month is not a
fixed number of days on the calendar; where a *duration* is needed (a model fitted in weeks asked
for 12 months of value) a month is the mean Gregorian month, 365.2425 / 12 = 30.436875 days, and
a year 365.2425 days. Nothing else in clvkit hides a conversion.

A calibration split (fit to here, check on the rest) is read here too, by
:func:`calibration_end`: a date, a duration such as ``104W`` or a share such as ``0.7``.
"""
from __future__ import annotations

import re

import pandas as pd

DAYS_PER_UNIT = {"D": 1.0, "W": 7.0, "M": 365.2425 / 12.0, "Y": 365.2425}
UNIT_NAMES = {"D": "days", "W": "weeks", "M": "months", "Y": "years"}


def check_unit(unit: str) -> str:
    """Return ``unit`` if it is a known time unit, else raise ``ValueError`` listing the choices."""
    if unit not in DAYS_PER_UNIT:
        raise ValueError(f"unknown time unit {unit!r}; use one of {', '.join(DAYS_PER_UNIT)}")
    return unit


def convert(value, from_unit: str, to_unit: str):
    """Convert a duration (scalar or array) from one unit to another."""
    return value * (DAYS_PER_UNIT[check_unit(from_unit)] / DAYS_PER_UNIT[check_unit(to_unit)])


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([DWMY])\s*$", re.IGNORECASE)


def parse_duration(text: str) -> tuple[float, str]:
    """``"104W"`` -> ``(104.0, "W")``: a positive number followed by one of D, W, M, Y.

    Raises
    ------
    ValueError
        Naming the text and the accepted form.
    """
    match = _DURATION.match(str(text))
    if match is None or float(match.group(1)) <= 0:
        raise ValueError(f"{text!r} is not a duration; write a positive number and a unit, "
                         "e.g. 104W, 18M, 2Y or 365D")
    return float(match.group(1)), match.group(2).upper()


def calendar_offset(amount: float, unit: str) -> pd.DateOffset | pd.Timedelta:
    """A calendar step: whole months and years move the calendar (2024-01-31 + 1M is
    2024-02-29), days and weeks (or fractional months/years) are a fixed number of days."""
    check_unit(unit)
    if unit in ("M", "Y") and float(amount).is_integer():
        return pd.DateOffset(months=int(amount) * (12 if unit == "Y" else 1))
    return pd.Timedelta(days=float(amount) * DAYS_PER_UNIT[unit])


def calibration_end(spec, start, end) -> pd.Timestamp:
    """Resolve a calibration split into its last calibration day, given the data's span.

    This is the one place a split is interpreted, so ``validate``, ``score`` and ``report``
    agree on it.

    Parameters
    ----------
    spec : date-like, str or float
        An ISO date (``2024-06-30``); a duration counted from the first purchase day
        (``"104W"``, ``"18M"``: the first 104 weeks are calibration); or a share of the days
        strictly between 0 and 1 (``0.7``: the first 70 % of the days). Both count the first
        purchase day as day one and give the last day of calibration (inclusive).
    start, end : date-like
        First purchase date and observation end of the data.

    Returns
    -------
    Timestamp
        The calibration end (a day, normalised), strictly after ``start`` and before ``end``.

    Raises
    ------
    ValueError
        A split that cannot be read, or that leaves no calibration or no holdout period; the
        message gives the data's span and what would fit.

    Examples
    --------
    >>> calibration_end("39W", "1997-01-01", "1998-06-30").date()  # CDNOW's published split
    datetime.date(1997, 9, 30)
    >>> calibration_end(0.5, "2024-01-01", "2024-12-31").date()
    datetime.date(2024, 7, 1)
    """
    start, end = pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize()
    span = f"the data run from {start:%Y-%m-%d} to {end:%Y-%m-%d}"
    if isinstance(spec, bool):
        raise ValueError(f"{spec!r} is not a calibration split")
    if isinstance(spec, (int, float)):
        if not 0 < spec < 1:
            raise ValueError(f"a share must be strictly between 0 and 1, got {spec!r}")
        days = round(((end - start).days + 1) * float(spec))
        cal = start + pd.Timedelta(days=days - 1)
        what = f"{spec:g} of the days"
    elif isinstance(spec, str) and _DURATION.match(spec):
        amount, unit = parse_duration(spec)
        cal = (start + calendar_offset(amount, unit)).normalize() - pd.Timedelta(days=1)
        whole = (end - start).days / DAYS_PER_UNIT[unit]
        what = f"{spec.strip()} from the first purchase ({whole:.4g}{unit} in all)"
    else:
        try:
            cal = pd.Timestamp(spec).normalize()
        except (TypeError, ValueError):
            raise ValueError(f"{spec!r} is not a calibration split; give a date (2024-06-30), "
                             "a duration (104W, 18M) or a share (0.7)") from None
        what = f"{cal:%Y-%m-%d}"
    if cal <= start or cal >= end:
        side = "no calibration period" if cal <= start else "no holdout period"
        raise ValueError(f"calibration split {what} ends on {cal:%Y-%m-%d}, leaving {side}: "
                         f"{span}")
    return cal
