"""Time units: the one place where a unit becomes a number of days.

Units are ``"D"`` (day), ``"W"`` (7 days), ``"M"`` (month) and ``"Y"`` (year). A month is not a
fixed number of days on the calendar; where a *duration* is needed (a model fitted in weeks asked
for 12 months of value) a month is the mean Gregorian month, 365.2425 / 12 = 30.436875 days, and
a year 365.2425 days. Nothing else in clvkit hides a conversion.
"""
from __future__ import annotations

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
