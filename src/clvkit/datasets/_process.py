"""The purchase process shared by the base simulator and the programme simulator.

One place for the seasonal clock, the two ways to leave and the bulk-order constants, so the
programme re-simulates treated customers with exactly the process that made the base.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from clvkit.errors import ConfigError

#: Share of a bulk buyer's orders that are bulk orders, and how many times larger they are.
BULK_PROB, BULK_SIZE = 0.3, 10.0
#: Day of the year of the seasonal peak (late November).
SEASON_PEAK_DAY = 330.0


def season_clock(origin, n_days: float, amplitude: float):
    """The seasonal clock: ``(forward, inverse)`` maps between days from ``origin`` and
    operational time Λ(d) = ∫₀ᵈ (1 + amplitude · cos(2π (doy(u) − SEASON_PEAK_DAY) / 365.25)) du.

    A Poisson process of rate λ in operational time is, in days, a process of rate
    λ · (1 + amplitude · cos(...)): drawing exponential gaps on the Λ scale and mapping back is
    exact (a time change), keeps common random numbers and needs no thinning.
    """
    if not 0 <= amplitude < 1:
        raise ConfigError(f"must be in [0, 1), got {amplitude!r}", key="seasonality")
    period = 365.25
    d0 = float(pd.Timestamp(origin).day_of_year - 1) - SEASON_PEAK_DAY
    w = 2 * np.pi / period

    def forward(d):
        d = np.asarray(d, dtype=float)
        return d + amplitude / w * (np.sin(w * (d + d0)) - np.sin(w * d0))

    grid = np.linspace(0.0, float(n_days) + 2.0, int(4 * (n_days + 2)) + 2)
    lam_grid = forward(grid)

    def inverse(tau):
        tau = np.asarray(tau, dtype=float)
        out = np.interp(tau, lam_grid, grid)
        return np.where(tau > lam_grid[-1], np.inf, out)

    if amplitude == 0:
        return (lambda d: np.asarray(d, dtype=float)), (lambda t: np.asarray(t, dtype=float))
    return forward, inverse


def simulate_purchases(lam, p, mu, start_days, end_days, rng: np.random.Generator, clock=None):
    """Repeat purchases of customers alive at ``start_days``, with two ways to leave.

    Purchases arrive as a Poisson process with rate ``lam`` per day (on the seasonal ``clock``,
    :func:`season_clock`, when given); after each one the customer leaves with probability
    ``p``, and independently their lifetime from ``start_days`` is exponential with rate ``mu``
    per day (0 = no lifetime limit; ``None`` = none and no lifetime draw, which keeps the random
    stream of the pure BG/NBD story, ``mu=None`` and no clock).

    Returns
    -------
    customer_idx, purchase_days : ndarray
        One row per purchase (as :func:`simulate_bgnbd_purchases`).
    dropout_days : ndarray
        Per customer, when they left (the purchase after which the coin fell, or the end of
        their lifetime, whichever is first); ``inf`` if alive at ``end``.
    """
    lam = np.asarray(lam, dtype=np.float64)
    n = lam.size
    p = np.broadcast_to(np.asarray(p, dtype=np.float64), n)
    end = np.broadcast_to(np.asarray(end_days, dtype=np.float64), n)
    t0 = np.broadcast_to(np.asarray(start_days, dtype=np.float64), n).copy()
    forward, inverse = clock if clock is not None else (lambda d: d, lambda t: t)
    if mu is None:
        death = np.full(n, np.inf)
    else:
        with np.errstate(divide="ignore"):
            death = t0 + rng.standard_exponential(n) / np.broadcast_to(np.asarray(mu, float), n)
    stop = np.minimum(end, death)
    tau = np.asarray(forward(t0), dtype=float).copy()
    dropout = np.where(death < end, death, np.inf)
    idx_parts, day_parts = [], []
    active = np.flatnonzero(lam > 0)
    while active.size:
        tau_next = tau[active] + rng.standard_exponential(active.size) / lam[active]
        t_next = inverse(tau_next)
        buys = t_next < stop[active]
        active, t_next, tau_next = active[buys], t_next[buys], tau_next[buys]
        idx_parts.append(active)
        day_parts.append(t_next)
        tau[active] = tau_next
        drops = rng.random(active.size) < p[active]
        dropout[active[drops]] = t_next[drops]
        active = active[~drops]
    if not idx_parts:
        return np.zeros(0, np.int64), np.zeros(0), dropout
    return np.concatenate(idx_parts).astype(np.int64), np.concatenate(day_parts), dropout
