"""Numpy simulators of the BG/NBD, MBG/NBD and Gamma-Gamma stories for recovery tests.

They draw from each model's generative story directly (not from clvkit code), so recovering
their parameters tests the likelihoods independently.
"""
from __future__ import annotations

import numpy as np
import pandas as pd


def simulate_bgnbd(n, r, alpha, a, b, *, seed, T_range=(20.0, 60.0), modified=False):
    """(frequency, recency, T) of ``n`` customers drawn from the BG/NBD (MBG/NBD) story.

    Purchase rate ~ Gamma(r, rate alpha); dropout probability ~ Beta(a, b); after each repeat
    purchase (and, for MBG/NBD, also at time 0) the customer drops out with probability p.
    """
    rng = np.random.default_rng(seed)
    lam = rng.gamma(r, 1.0 / alpha, n)
    p = rng.beta(a, b, n)
    T = rng.uniform(*T_range, n)
    t = np.zeros(n)
    x = np.zeros(n)
    t_x = np.zeros(n)
    active = rng.uniform(size=n) > p if modified else np.ones(n, bool)
    while active.any():
        t = t + rng.exponential(1.0, n) / lam
        active &= t <= T
        x += active
        t_x = np.where(active, t, t_x)
        active &= rng.uniform(size=n) > p
    frame = pd.DataFrame({"frequency": x.astype(np.int64), "recency": t_x, "T": T},
                         index=pd.Index([f"C{i:06d}" for i in range(n)], name="customer_id"))
    frame.attrs["time_unit"] = "W"
    return frame


def simulate_spend(frequency, p, q, gamma, *, seed):
    """Mean spend of ``frequency`` transactions per customer under the Gamma-Gamma story."""
    rng = np.random.default_rng(seed)
    x = np.asarray(frequency, dtype=float)
    nu = rng.gamma(q, 1.0 / gamma, x.size)
    total = rng.gamma(np.where(x > 0, p * x, 1.0), 1.0 / nu)
    return np.where(x > 0, total / np.maximum(x, 1), 0.0)


def simulate_bgcnbd(n, k, r, alpha, a, b, *, seed, T_range=(30.0, 60.0), modified=False,
                    horizon=0.0):
    """(frequency, recency, T, litt, frequency_holdout) under the (M)BG/CNBD-k story.

    Tick rate lambda ~ Gamma(r, rate alpha); inter-purchase times Erlang-k(lambda); p ~ Beta(a, b);
    after each repeat purchase (MBG: also the first) the customer drops out with probability p.
    ``frequency_holdout`` counts purchases in (T, T + horizon].
    """
    rng = np.random.default_rng(seed)
    lam = rng.gamma(r, 1.0 / alpha, n)
    p = rng.beta(a, b, n)
    T = rng.uniform(*T_range, n)
    end = T + horizon
    t = np.zeros(n)
    x = np.zeros(n)
    t_x = np.zeros(n)
    litt = np.zeros(n)
    hold = np.zeros(n)
    active = rng.uniform(size=n) > p if modified else np.ones(n, bool)
    while active.any():
        itt = rng.gamma(k, 1.0, n) / lam
        t = t + itt
        active &= t <= end
        cal = active & (t <= T)
        x += cal
        litt += np.where(cal, np.log(itt), 0.0)
        t_x = np.where(cal, t, t_x)
        hold += active & (t > T)
        active &= rng.uniform(size=n) > p
    frame = pd.DataFrame({"frequency": x.astype(np.int64), "recency": t_x, "T": T, "litt": litt,
                          "frequency_holdout": hold},
                         index=pd.Index([f"C{i:06d}" for i in range(n)], name="customer_id"))
    frame.attrs["time_unit"] = "W"
    return frame


def simulate_ggomnbd(n, r, alpha, b, s, beta, *, seed, T_range=(30.0, 60.0), horizon=0.0):
    """(frequency, recency, T, frequency_holdout) under the Gamma-Gompertz/NBD story.

    lambda ~ Gamma(r, rate alpha); eta ~ Gamma(s, rate beta); lifetime tau with survival
    exp(-eta (e^(b tau) - 1)), drawn as log(1 + E/eta)/b with E ~ Exp(1); Poisson(lambda)
    purchases while alive.
    """
    rng = np.random.default_rng(seed)
    lam = rng.gamma(r, 1.0 / alpha, n)
    eta = rng.gamma(s, 1.0 / beta, n)
    tau = np.log1p(rng.exponential(1.0, n) / eta) / b
    T = rng.uniform(*T_range, n)
    end = np.minimum(tau, T + horizon)
    t = np.zeros(n)
    x = np.zeros(n)
    t_x = np.zeros(n)
    hold = np.zeros(n)
    active = np.ones(n, bool)
    while active.any():
        t = t + rng.exponential(1.0, n) / lam
        active &= t <= end
        cal = active & (t <= T)
        x += cal
        t_x = np.where(cal, t, t_x)
        hold += active & (t > T)
    frame = pd.DataFrame({"frequency": x.astype(np.int64), "recency": t_x, "T": T,
                          "frequency_holdout": hold},
                         index=pd.Index([f"C{i:06d}" for i in range(n)], name="customer_id"))
    frame.attrs["time_unit"] = "W"
    return frame


def simulate_paretonbd(n, r, alpha, s, beta, *, seed, T_range=(30.0, 60.0)):
    """(frequency, recency, T) from the Pareto/NBD story: Poisson purchases at a gamma rate until
    an exponential lifetime with a gamma dropout rate ends them (the b -> 0 limit of the
    GGompertz/NBD)."""
    rng = np.random.default_rng(seed)
    lam = rng.gamma(r, 1.0 / alpha, n)
    mu = rng.gamma(s, 1.0 / beta, n)
    T = rng.uniform(*T_range, n)
    active = np.minimum(rng.exponential(1.0 / mu), T)
    x = rng.poisson(lam * active)
    t_x = np.where(x > 0, active * rng.random(n) ** (1.0 / np.maximum(x, 1)), 0.0)
    frame = pd.DataFrame({"frequency": x.astype(np.int64), "recency": t_x, "T": T},
                         index=pd.Index([f"C{i:06d}" for i in range(n)], name="customer_id"))
    frame.attrs["time_unit"] = "W"
    return frame
