"""A point estimate with its interval: the one result type shared by satisfaction and impact.

Every headline number clvkit reports (a CSAT mean, an NPS, a programme uplift) carries its
95 % interval, the number of observations behind it and the name of the interval method, so a
reader can tell how sure it is and a test can check the interval covers the truth.
"""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Estimate:
    """A value with a (by default 95 %) interval.

    Attributes
    ----------
    value, low, high : float
        The point estimate and the interval bounds (``low <= value <= high``).
    n : int
        Observations behind it (responses, customers).
    method : str
        How the interval was made, e.g. ``"Wilson"``, ``"cluster bootstrap (percentile)"``.
    level : float
        Coverage of the interval (0.95 unless chosen otherwise).
    """

    value: float
    low: float
    high: float
    n: int
    method: str = ""
    level: float = 0.95

    @property
    def spans_zero(self) -> bool:
        """True when the interval contains 0 (the data cannot tell the sign apart)."""
        return self.low <= 0.0 <= self.high

    def covers(self, x: float) -> bool:
        """True when ``x`` lies inside the interval (used by coverage checks)."""
        return self.low <= x <= self.high

    def format(self, digits: int = 2, unit: str = "") -> str:
        """Plain words: ``'4.12 (95 % CI 4.05 to 4.19, n=812)'``."""
        if not all(map(math.isfinite, (self.value, self.low, self.high))):
            return f"not available (n={self.n:,})"
        u = f" {unit}" if unit else ""
        return (f"{self.value:.{digits}f}{u} ({self.level:.0%} CI {self.low:.{digits}f} to "
                f"{self.high:.{digits}f}, n={self.n:,})").replace("%", " %", 1)

    def __str__(self) -> str:
        return self.format()
