"""Typed errors and warnings.

Every error a user can cause is a ``ClvkitError``; its message is one line that names what
failed (file, column, rows, key) and how to fix it. The CLI prints that line and exits 2.
"""
from __future__ import annotations

from collections.abc import Iterable


class ClvkitError(Exception):
    """Root of every error clvkit raises on purpose."""


class DataError(ClvkitError, ValueError):
    """Input data that cannot be used: names the file, column, offending rows and the fix."""

    def __init__(self, problem: str, *, file: object = None, column: str | None = None,
                 rows: Iterable[object] | None = None, fix: str | None = None):
        self.problem, self.file, self.column, self.fix = problem, file, column, fix
        self.rows = list(rows)[:5] if rows is not None else []
        parts = []
        if file is not None:
            parts.append(f"{file}")
        if column is not None:
            parts.append(f"column '{column}'")
        where = ", ".join(parts)
        msg = f"{where}: {problem}" if where else problem
        if self.rows:
            msg += f" (e.g. row {', '.join(map(str, self.rows))})"
        if fix:
            msg += f"; fix: {fix}"
        super().__init__(" ".join(msg.split()))


class ConfigError(ClvkitError, ValueError):
    """A params file that does not validate: names the key path (e.g. ``tiers.rules[1].share``)."""

    def __init__(self, problem: str, *, key: str | None = None, file: object = None,
                 fix: str | None = None):
        self.problem, self.key, self.file, self.fix = problem, key, file, fix
        msg = problem
        if key:
            msg = f"{key}: {msg}"
        if file is not None:
            msg = f"{file}: {msg}"
        if fix:
            msg += f"; fix: {fix}"
        super().__init__(" ".join(msg.split()))


class ModelError(ClvkitError):
    """A model cannot be fitted or used on this input (degenerate data, wrong model file, ...)."""


class ConvergenceError(ModelError):
    """The optimiser failed; carries its result and a checklist of likely causes."""

    def __init__(self, message: str, result: object = None):
        self.result = result
        super().__init__(
            f"{message}. Likely causes: time unit too fine or too coarse for the history "
            "(refit with time_unit='W' or 'D'); too few repeat buyers; a model that does not fit "
            "the data (compare another model); try a small penalizer (e.g. 0.001)."
        )


class NotFittedError(ClvkitError, AttributeError):
    """A prediction was asked of a model that has not been fitted."""


class StatisticalWarning(UserWarning):
    """A result is computed but should be read with care (weak data, violated assumption)."""


class UnitWarning(UserWarning):
    """A time-unit conversion that the user may not have intended."""
