"""A simulated retail customer base that no single model family describes, with its truth.

The data must not share any one model's assumptions, or it hides what that model gets wrong
(issue 12.3: a BG/NBD-shaped simulator made every one-time buyer "certainly alive", as BG/NBD
says, and nobody noticed). Each buying customer has

* a purchase rate ``λ ~ Gamma(r, alpha)`` (per week); purchases follow a Poisson process whose
  rate is λ times a **seasonal** factor ``1 + seasonality · cos(2π (day of year − 330) / 365.25)``
  (a late-November peak), simulated exactly by a change of clock;
* **two ways to leave**: after each repeat purchase a coin with ``p ~ Beta(a, b)`` (the BG/NBD
  story), *and* a lifetime from the first purchase that is exponential with rate
  ``μ ~ Gamma(s, beta)`` per week (the Pareto/NBD story) — so a customer can leave before ever
  buying again;
* a first purchase spread over the whole window (``acquisition_share`` 1: customers are
  **acquired throughout**, so recent first-time buyers exist);
* Gamma-Gamma spend: ``ν ~ Gamma(q, rate=gamma)`` per customer and each order ``~ Gamma(p,
  rate=ν)`` (mean ``p / ν``); a share ``bulk_share`` of customers are **bulk buyers**, of whose
  orders ``BULK_PROB`` are ``BULK_SIZE`` times larger.

``lifetime=False, seasonality=0, bulk_share=0, acquisition_share=0.5`` gives the pure BG/NBD +
Gamma-Gamma story (for recovery tests of those models). The simulation runs ``future_days`` past
the observation end, so the truth holds what each customer actually did next. Customer attributes
lean mildly on the customer's true value; prospects sign up and never buy. Everything is
vectorised numpy driven by one ``np.random.default_rng(seed)``.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from clvkit.datasets._process import BULK_PROB, BULK_SIZE, season_clock, simulate_purchases
from clvkit.errors import ConfigError

__all__ = ["DEFAULT_PARAMS", "SimulatedData", "SimulationTruth", "season_clock", "simulate",
           "simulate_bgnbd_purchases", "simulate_purchases"]

#: True parameters: purchase rate (r, alpha in weeks), dropout coin after repeat purchases
#: (a, b), lifetime hazard (s, beta in weeks; used when ``lifetime=True``) and Gamma-Gamma spend
#: (p, q, gamma). Chosen so a two-year window gives about three purchases per customer.
DEFAULT_PARAMS = {"r": 0.5, "alpha": 4.0, "a": 0.8, "b": 2.5, "s": 0.8, "beta": 40.0,
                  "p": 6.0, "q": 4.0, "gamma": 25.0}

ATTRIBUTES = {  # categories, base shares, and how strongly value tilts towards later categories
    "region": (["North", "South", "East", "West"], [0.3, 0.25, 0.25, 0.2], 0.1),
    "city_tier": (["tier 3", "tier 2", "tier 1"], [0.35, 0.4, 0.25], 0.35),
    "age_band": (["18-24", "25-34", "35-44", "45-54", "55+"], [0.15, 0.3, 0.25, 0.18, 0.12], 0.2),
    "gender": (["female", "male"], [0.52, 0.48], 0.0),
    "income_band": (["<30k", "30-60k", "60-100k", "100k+"], [0.25, 0.38, 0.25, 0.12], 0.45),
    "channel": (["paid social", "paid search", "organic", "referral"], [0.3, 0.3, 0.25, 0.15], 0.3),
}


@dataclass
class SimulationTruth:
    """What generated a simulated data set.

    Attributes
    ----------
    params : dict
        True ``r, alpha, a, b, s, beta`` (rates per week) and Gamma-Gamma ``p, q, gamma``.
    customers : DataFrame
        One row per customer (``customer_id`` column): ``prospect``, ``lam`` (purchase rate *per
        day* before the seasonal factor; ×7 for weeks), ``p_dropout``, ``mu`` (lifetime hazard
        per day, 0 without lifetimes), ``nu``, ``bulk_buyer``, ``mean_spend`` (expected order
        value: p / ν, × (1 + BULK_PROB (BULK_SIZE − 1)) for bulk buyers),
        ``first_purchase``, ``dropout_date`` (NaT while alive at the end of the simulated
        horizon), ``future_purchases`` and ``future_value`` (after the observation end, over
        ``future_horizon_days``). Prospects have NaN parameters and no purchases.
    future_horizon_days : int
        Days simulated after the observation end.
    programme : object or None
        ``clvkit.datasets.programme.ProgrammeTruth`` when the programme was simulated.
    start : Timestamp or None
        Day 0 of the simulation (the seasonal clock's origin).
    seasonality : float
        Amplitude of the seasonal factor (0 = none).
    """

    params: dict
    customers: pd.DataFrame
    future_horizon_days: int
    programme: object = None
    start: pd.Timestamp | None = None
    seasonality: float = 0.0


@dataclass
class SimulatedData:
    """The tables of docs/DATA.md for a simulated customer base, and its truth."""

    transactions: pd.DataFrame
    customers: pd.DataFrame
    surveys: pd.DataFrame
    complaints: pd.DataFrame
    programme: pd.DataFrame
    observation_end: pd.Timestamp
    truth: SimulationTruth
    survey_invites: pd.DataFrame = field(default_factory=pd.DataFrame)


def simulate_bgnbd_purchases(lam, p, start_days, end_days, rng: np.random.Generator):
    """Repeat purchases of BG/NBD customers who are alive at ``start_days``.

    Purchases arrive as a Poisson process with rate ``lam`` (per day); after each one the
    customer drops out for good with probability ``p``. Vectorised by rounds: each round draws the
    next purchase of every customer still active, so the cost is the number of purchases.

    Parameters
    ----------
    lam, p : array_like
        Per-customer purchase rate per day and dropout probability.
    start_days, end_days : array_like or float
        Per-customer window ``(start, end)`` in days from a common origin; the customer is alive
        at ``start`` (typically a first purchase, which is *not* returned).
    rng : numpy.random.Generator

    Returns
    -------
    customer_idx : ndarray of int64
        Position of the customer of each purchase, one row per purchase, grouped by round.
    purchase_days : ndarray of float64
        Time of each purchase, in days from the origin, in ``(start, end)``.
    dropout_days : ndarray of float64
        Per customer, the time of the purchase after which they dropped out; ``inf`` if alive at
        ``end``.
    """
    return simulate_purchases(lam, p, None, start_days, end_days, rng)


def simulate(n_customers: int = 5000, seed: int = 42, *, start="2023-01-01",
             observation_end="2024-12-31", future_days: int = 365, prospect_share: float = 0.1,
             params: dict | None = None, programme: bool | dict = True,
             acquisition_share: float = 1.0, lifetime: bool = True, seasonality: float = 0.25,
             bulk_share: float = 0.02, channel_effects: dict | None = None) -> SimulatedData:
    """Simulate a retail customer base (module doc: a story no single model family tells).

    Parameters
    ----------
    n_customers : int
        Customers in the customer table, prospects included.
    seed : int
        Seed of the one random generator; the same seed gives the same data.
    start, observation_end : date-like
        The observation window (inclusive days).
    future_days : int
        Days simulated after ``observation_end`` for the truth (future purchases and value).
    prospect_share : float
        Share of customers who sign up but never buy.
    params : dict, optional
        Overrides of :data:`DEFAULT_PARAMS` (``r, alpha, s, beta`` per week, ``a, b, p, q,
        gamma``).
    programme : bool or dict
        Add the tiering programme, surveys and complaints
        (:func:`clvkit.datasets.programme.add_programme`; a dict gives its keyword arguments,
        e.g. ``{"assignment": "value"}``); otherwise those tables are empty.
    acquisition_share : float
        First purchases are spread uniformly over this leading share of the window (1: acquired
        throughout).
    lifetime : bool
        Customers also leave at the end of an exponential lifetime (rate ``μ ~ Gamma(s, beta)``
        per week), so before any repeat purchase too.
    seasonality : float
        Amplitude (in [0, 1)) of the seasonal purchase-rate factor.
    bulk_share : float
        Share of buyers who are bulk buyers (``BULK_PROB`` of their orders ``BULK_SIZE``× larger).
    channel_effects : dict, optional
        Acquisition channel as a cause of the purchase rate (for covariate models): a
        coefficient per ``channel`` level (``{"referral": 0.6}``; levels not named 0). The
        channel is then drawn with its base shares before the purchases, independently of
        value, and each buyer's rate is ``λ exp(coefficient)``: a Gamma(r, alpha exp(−γ))
        rate, CLVTools' ``alpha_i = alpha exp(−γ'x)``. Without it (the default) the channel
        only leans on value, like the other attributes, and the data are unchanged.

    Returns
    -------
    SimulatedData
        ``transactions`` (``customer_id`` strings ``C000001``…, ``date`` at day resolution,
        ``amount``), ``customers`` (signup date and attributes), ``surveys``, ``complaints``,
        ``programme``, ``observation_end`` and ``truth`` (:class:`SimulationTruth`).

    Raises
    ------
    ConfigError
        A bad argument or unknown parameter name.

    Examples
    --------
    >>> sim = simulate(1000, seed=1, programme=False)
    >>> sim.customers["customer_id"].iloc[0]
    'C000001'
    """
    theta = _check_args(n_customers, start, observation_end, future_days, prospect_share, params,
                        acquisition_share)
    if not 0.0 <= bulk_share <= 1.0:
        raise ConfigError(f"must be in [0, 1], got {bulk_share!r}", key="bulk_share")
    rng = np.random.default_rng(seed)
    start, obs_end = pd.Timestamp(start).normalize(), pd.Timestamp(observation_end).normalize()
    window = (obs_end - start).days + 1                     # days in the observation window
    horizon = window + int(future_days)                     # days simulated, from start
    n_prospects = int(round(prospect_share * n_customers))
    n_buyers = n_customers - n_prospects

    # --- latent traits; buyers sign up shortly before their first purchase, prospects any time
    buys = np.r_[np.ones(n_buyers, bool), np.zeros(n_prospects, bool)]
    lam = np.r_[rng.gamma(theta["r"], 1.0 / theta["alpha"], n_buyers) / 7.0,   # per day
                np.full(n_prospects, np.nan)]
    p_drop = np.r_[rng.beta(theta["a"], theta["b"], n_buyers), np.full(n_prospects, np.nan)]
    nu = np.r_[rng.gamma(theta["q"], 1.0 / theta["gamma"], n_buyers), np.full(n_prospects, np.nan)]
    mu = np.r_[rng.gamma(theta["s"], 1.0 / theta["beta"], n_buyers) / 7.0 if lifetime
               else np.zeros(n_buyers), np.full(n_prospects, np.nan)]
    bulk = np.r_[rng.random(n_buyers) < bulk_share, np.zeros(n_prospects, bool)]
    first = np.r_[rng.random(n_buyers) * (acquisition_share * window), np.full(n_prospects, np.nan)]
    signup = np.r_[np.maximum(np.floor(first[:n_buyers] - rng.exponential(10.0, n_buyers)), 0),
                   np.floor(rng.random(n_prospects) * window)].astype(np.int64)
    # customer ids follow signup order (ties in random order): reorder every trait by it
    shuffle = rng.permutation(n_customers)
    order = shuffle[np.argsort(_small_int(signup[shuffle]), kind="stable")]
    buys, lam, p_drop, nu, mu, bulk, first, signup = (
        x[order] for x in (buys, lam, p_drop, nu, mu, bulk, first, signup))
    width = max(6, len(str(n_customers)))
    ids = _id_strings(np.arange(1, n_customers + 1), width)
    channel = None
    if channel_effects:  # the channel drives the purchase rate (drawn only when asked for)
        cats, shares, _ = ATTRIBUTES["channel"]
        unknown = [k for k in channel_effects if k not in cats]
        if unknown:
            raise ConfigError(f"unknown channel {unknown[0]!r}", key="channel_effects",
                              fix=f"use some of {', '.join(cats)}")
        pick = rng.choice(len(cats), n_customers, p=shares)
        lam = lam * np.exp(np.array([float(channel_effects.get(c, 0.0)) for c in cats]))[pick]
        channel = np.asarray(cats, dtype=object)[pick]

    # --- purchases: first purchase, then repeats through the future horizon ----------------
    buyers = np.flatnonzero(buys)
    clock = season_clock(start, horizon, seasonality)
    idx, when, dropout = simulate_purchases(lam[buyers], p_drop[buyers], mu[buyers],
                                            first[buyers], horizon, rng, clock)
    who = np.r_[buyers, buyers[idx]]                         # customer position per purchase
    day = np.floor(np.r_[first[buyers], when]).astype(np.int64)
    size = np.where(bulk[who] & (rng.random(who.size) < BULK_PROB), BULK_SIZE, 1.0)
    amount = np.maximum(np.round(size * rng.gamma(theta["p"], 1.0, who.size) / nu[who], 2), 0.01)
    seen = day < window
    rows = np.flatnonzero(seen)
    rows = rows[np.argsort(_small_int(day[rows]), kind="stable")]      # by date
    tx = pd.DataFrame({"customer_id": _id_strings(who[rows] + 1, width),
                       "date": _dates(start, day[rows]), "amount": amount[rows]})

    # --- customer attributes lean mildly on true value ------------------------------------
    mean_spend = theta["p"] / nu * np.where(bulk, 1.0 + BULK_PROB * (BULK_SIZE - 1.0), 1.0)
    value = np.log(lam * mean_spend)
    z = (value - np.nanmean(value)) / (np.nanstd(value) or 1.0)
    z[~buys] = rng.normal(-0.5, 1.0, int((~buys).sum()))    # prospects lean low
    attrs = {name: _tilted_choice(rng, z, cats, shares, tilt)
             for name, (cats, shares, tilt) in ATTRIBUTES.items()}
    if channel is not None:
        attrs["channel"] = pd.array(channel, dtype="str")
    n_seen = np.bincount(who[seen], minlength=n_customers)
    interactions = rng.poisson(1.0 + 0.6 * n_seen + np.exp(0.3 * z))
    customers = pd.DataFrame({"customer_id": ids, "signup_date": _dates(start, signup), **attrs,
                              "interactions": interactions})

    # --- the truth, including what happens after the observation end ---------------------
    drop_day = np.full(n_customers, np.nan)
    drop_day[buyers] = np.floor(dropout)                     # inf (alive) becomes NaT below
    future = ~seen
    truth_customers = pd.DataFrame({
        "customer_id": ids, "prospect": ~buys, "lam": lam, "p_dropout": p_drop, "mu": mu,
        "nu": nu, "bulk_buyer": bulk, "mean_spend": mean_spend,
        "first_purchase": _dates(start, np.floor(first)),
        "dropout_date": _dates(start, drop_day),
        "future_purchases": np.bincount(who[future], minlength=n_customers),
        "future_value": np.bincount(who[future], weights=amount[future], minlength=n_customers),
    })

    truth = SimulationTruth(params=dict(theta), customers=truth_customers,
                            future_horizon_days=int(future_days), start=start,
                            seasonality=float(seasonality))
    sim = SimulatedData(transactions=tx, customers=customers, observation_end=obs_end, truth=truth,
                        **_empty_tables(ids.dtype))
    if programme:
        from clvkit.datasets.programme import add_programme

        sim = add_programme(sim, rng, **(programme if isinstance(programme, dict) else {}))
    return sim


def _dates(origin: pd.Timestamp, days) -> pd.Series:
    """Day offsets (NaN → NaT) from ``origin`` as a datetime64[us] Series."""
    days = np.asarray(days, dtype=np.float64)
    out = np.full(days.shape, np.datetime64("NaT"), dtype="datetime64[us]")
    ok = np.isfinite(days)
    out[ok] = origin.to_datetime64().astype("datetime64[us]") + (
        days[ok].astype(np.int64) * np.timedelta64(86_400_000_000, "us"))
    return pd.Series(out)


def _small_int(days: np.ndarray) -> np.ndarray:
    """Day numbers as int16 when they fit, so a stable argsort is an O(n) radix sort."""
    return days.astype(np.int16) if days.size and 0 <= days.min() and days.max() < 2**15 else days


def _id_strings(numbers: np.ndarray, width: int):
    """Customer ids ``C000001``… as a pandas ``str`` array (built in Arrow: fast at 10^7)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    digits = pc.utf8_lpad(pc.cast(pa.array(numbers), pa.string()), width=width, padding="0")
    return pd.array(pc.binary_join_element_wise("C", digits, ""), dtype="str")


def _tilted_choice(rng, z, categories, shares, tilt):
    """Draw one category per customer (ordered logit): at ``z = 0`` the ``shares``, and a higher
    ``z`` (true value) leans towards later categories by ``tilt`` per standard deviation."""
    import pyarrow as pa

    cuts = np.log(np.cumsum(shares)[:-1] / (1.0 - np.cumsum(shares)[:-1]))  # logistic quantiles
    u = rng.random(z.size)
    latent = tilt * z + np.log(u / (1.0 - u))
    pick = np.searchsorted(cuts, latent)
    return pd.array(pa.array(categories).take(pa.array(pick)), dtype="str")


def _empty_tables(id_dtype) -> dict:
    ids = pd.array([], dtype=id_dtype)
    date = pd.Series([], dtype="datetime64[us]")
    return {
        "surveys": pd.DataFrame({"customer_id": ids, "date": date,
                                 "csat": pd.array([], dtype="Int64"),
                                 "nps": pd.array([], dtype="Int64")}),
        "complaints": pd.DataFrame({"customer_id": ids, "date": date,
                                    "category": pd.array([], dtype="str"),
                                    "resolved": pd.array([], dtype=bool),
                                    "resolution_days": pd.array([], dtype=np.float64)}),
        "programme": pd.DataFrame({"customer_id": ids, "eligible": pd.array([], dtype=bool),
                                   "treated": pd.array([], dtype=bool)}),
        "survey_invites": pd.DataFrame({"customer_id": ids, "date": date}),
    }


def _check_args(n_customers, start, observation_end, future_days, prospect_share, params,
                acquisition_share) -> dict:
    if isinstance(n_customers, bool) or not isinstance(n_customers, (int, np.integer)) \
            or n_customers < 1:
        raise ConfigError(f"must be a positive integer, got {n_customers!r}",
                          key="n_customers")
    if not 0.0 <= prospect_share < 1.0:
        raise ConfigError(f"must be in [0, 1), got {prospect_share!r}",
                          key="prospect_share")
    if not 0.0 < acquisition_share <= 1.0:
        raise ConfigError(f"must be in (0, 1], got {acquisition_share!r}",
                          key="acquisition_share")
    if future_days < 0:
        raise ConfigError(f"must be >= 0, got {future_days!r}", key="future_days")
    try:
        s, e = pd.Timestamp(start), pd.Timestamp(observation_end)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"start and observation_end must be dates ({exc})",
                          key="start", fix="give ISO dates such as '2024-12-31'") from None
    if e.normalize() <= s.normalize():
        raise ConfigError(f"{e.date()} is not after start {s.date()}",
                          key="observation_end")
    theta = dict(DEFAULT_PARAMS)
    for key, val in (params or {}).items():
        if key not in theta:
            close = difflib.get_close_matches(key, list(theta), n=1)
            raise ConfigError(f"unknown parameter {key!r}" + (f"; did you mean {close[0]!r}?"
                                                                 if close else ""),
                              key=f"params.{key}", fix=f"use some of {', '.join(theta)}")
        if not np.isfinite(val) or val <= 0:
            raise ConfigError(f"must be a positive number, got {val!r}", key=f"params.{key}")
        theta[key] = float(val)
    return theta
