"""Simulated tiering programme, satisfaction surveys and complaints, with known true effects.

``clvkit.datasets.simulate`` calls :func:`add_programme` once purchase histories exist. It

1. picks the programme: from ``start`` (default 60 % into the observation window), the
   *eligible* customers are the top ``eligible_share`` of pre-start buyers by pre-start spend,
   and half of them is *treated*: a seeded random half (``assignment="random"``, so the effect
   is identifiable) or the most valuable half by pre-start spend (``assignment="value"``: the
   selection on value that makes a plain difference-in-differences show regression to the mean);
2. re-simulates every treated customer who is still alive at ``start`` twice from ``start`` on —
   once with the programme (higher purchase rate, lower dropout probability and hazard, higher
   spend) and once without — with common random numbers (the k-th purchase of both worlds shares
   its exponential gap on the seasonal clock, dropout uniform, spend and bulk draws, and both
   worlds share the lifetime draw), keeps the "with" world in the data and uses both worlds to
   compute the true effects; the purchase process, the dropout coin and the exponential lifetime
   are all memoryless, so re-simulating a customer alive at ``start`` is exact;
3. draws satisfaction surveys (relationship surveys sent at random times, tier-dependent
   response rates; CSAT 1–5 and NPS 0–10 from a latent satisfaction that rises with value,
   falls once a customer has churned and rises for treated customers after the start) and
   complaints (more for churners).

True effects (``truth.programme.effects``) are average effects on the treated in the post window
``[start, post_end)``, computed from both potential outcomes of every treated customer, on the
scale :func:`clvkit.impact.difference_in_differences` reports:

* ``csat`` / ``nps``: response-level mean CSAT (points) / NPS (points, −100…100) of treated
  customers' responses in the post window, with minus without the programme;
* ``repurchase``: percentage points of treated customers with a purchase in the post window;
* ``conversion``: the same among treated one-time buyers (a single purchase day before start);
* ``churn``: percentage points of treated customers lapsed at ``post_end`` (no purchase in the
  last ``churn_window_days``);
* ``spend``: spend per treated customer in the post window (currency).

The pre window is ``[pre_start, start)`` with the same length as the post window.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from clvkit.datasets._process import BULK_PROB, BULK_SIZE, season_clock

DEFAULT_EFFECTS = {"purchase_rate": 1.3, "dropout": 0.6, "spend": 1.15, "satisfaction": 0.4}
CATEGORIES = np.array(["delivery", "product", "billing", "service", "website"])
CATEGORY_P = np.array([0.3, 0.25, 0.15, 0.2, 0.1])
_CSAT_CUTS = np.array([-1.6, -0.8, 0.1, 1.0])   # latent → 1..5
_RESPONSE_BY_QUARTILE = np.array([0.12, 0.18, 0.25, 0.35])


@dataclass(frozen=True)
class ProgrammeTruth:
    """The simulated programme's dates, levers and true average effects on the treated."""

    start: pd.Timestamp
    pre_start: pd.Timestamp
    post_end: pd.Timestamp
    churn_window_days: int
    effects: dict
    levers: dict
    n_eligible: int
    n_treated: int
    definitions: dict = field(default_factory=dict)
    assignment: str = "random"


DEFINITIONS = {
    "csat": "response-level mean CSAT (1–5 points) of treated customers' responses in the post "
            "window, with minus without the programme",
    "nps": "NPS (points, −100…100) of treated customers' responses in the post window, with "
           "minus without",
    "repurchase": "percentage points of treated customers with a purchase in the post window",
    "conversion": "percentage points of treated one-time buyers (one purchase day before the "
                  "window) who buy in the window",
    "churn": "percentage points of treated customers with no purchase in the last "
             "churn_window_days of the window",
    "spend": "spend per treated customer in the post window",
}


def _coupled_purchases(lam, p, mu, t_end, rate_mult, drop_mult, shape, rng, clock=None,
                       offset=0.0):
    """Post-start purchases of customers alive at t=0 in two worlds with common random numbers.

    ``clock`` (``season_clock`` forward/inverse, in days from the simulation start; ``offset`` =
    the programme start in those days) makes the purchase rate seasonal; ``mu`` is the lifetime
    hazard per day (0 = none), scaled by ``drop_mult`` with the programme as ``p`` is.

    Returns, per world w in (0 = without, 1 = with): (idx, t, gamma draw, bulk uniform) per
    purchase and the dropout time per customer (inf while alive at ``t_end``).
    """
    n = lam.size
    forward, inverse = clock if clock is not None else (lambda d: d, lambda t: t)
    tau0 = float(np.asarray(forward(offset)))
    tau = np.full((2, n), tau0)
    alive = np.ones((2, n), dtype=bool)
    rates = np.vstack([lam, lam * rate_mult])
    probs = np.vstack([p, np.minimum(p * drop_mult, 1.0)])
    life = rng.standard_exponential(n)
    with np.errstate(divide="ignore"):
        death = np.vstack([life / mu, life / (mu * drop_mult)])
    stop = np.minimum(death, t_end)
    drop = np.where(death < t_end, death, np.inf)
    out = ([], [])
    active = np.arange(n)
    while active.size:
        e = rng.standard_exponential(active.size)
        u = rng.random(active.size)
        g = rng.standard_gamma(shape, active.size)
        ub = rng.random(active.size)
        keep = np.zeros(active.size, dtype=bool)
        for w in (0, 1):
            nt_tau = tau[w, active] + e / rates[w, active]
            nt = inverse(nt_tau) - offset
            buys = alive[w, active] & (nt < stop[w, active])
            out[w].append((active[buys], nt[buys], g[buys], ub[buys]))
            tau[w, active] = nt_tau
            gone = buys & (u < probs[w, active])
            drop[w, active[gone]] = nt[gone]
            alive[w, active] = buys & ~gone
            keep |= alive[w, active]
        active = active[keep]
    worlds = []
    for w in (0, 1):
        parts = (np.concatenate(x) for x in zip(*out[w])) if out[w] else ([],) * 4
        worlds.append(tuple(parts))
    return worlds, drop


def _days(dates: pd.Series, origin: pd.Timestamp) -> np.ndarray:
    return np.array((dates - origin) / pd.Timedelta(days=1), dtype=float)


def add_programme(sim, rng: np.random.Generator, *, start=None, eligible_share: float = 0.5,
                  effects: dict | None = None, churn_window_days: int = 180,
                  survey_every_days: float = 180.0, assignment: str = "random",
                  selection_noise: float = 0.0):
    """Add the tiering programme, surveys and complaints to a simulated customer base.

    Parameters
    ----------
    sim : SimulatedData
        Output of ``clvkit.datasets.simulate`` before the programme (transactions, customers,
        ``truth.customers`` with ``lam`` per day, ``p_dropout``, ``dropout_date``, ``mean_spend``).
    rng : numpy.random.Generator
        The simulator's generator (the result is deterministic for its seed).
    start : date-like, optional
        Programme start; default 60 % into the observation window (rounded to a day).
    eligible_share : float
        Share of pre-start buyers (by pre-start spend) eligible; half of them are treated.
    effects : dict, optional
        Levers on treated customers after ``start``: multipliers ``purchase_rate``, ``dropout``
        (of the dropout probability), ``spend``, and ``satisfaction`` (a shift of the latent
        satisfaction, in its standard deviations). Defaults in ``DEFAULT_EFFECTS``.
    churn_window_days : int
        Window of the ``churn`` outcome (no purchase in the last that many days of a window).
    survey_every_days : float
        Mean days between survey invitations per customer.
    assignment : {"random", "value"}
        Which eligible customers are treated: a random half, or the half with the highest
        value score, log(pre-start spend) + ``selection_noise`` × N(0, 1) (selection on value;
        noise 0 = strictly the top spenders, a positive noise = a judgement that mostly but not
        only follows spend).

    Returns
    -------
    SimulatedData
        With ``surveys``, ``complaints``, ``programme`` (and ``survey_invites``) filled, treated
        customers' purchases after ``start`` re-simulated, and ``truth.programme`` set.
    """
    if assignment not in ("random", "value"):
        raise ValueError(f"assignment must be 'random' or 'value', got {assignment!r}")
    levers = {**DEFAULT_EFFECTS, **(effects or {})}
    tx, cust, truth = sim.transactions, sim.customers, sim.truth
    ids = pd.Index(cust["customer_id"])
    n = ids.size
    tc = _aligned(truth.customers, ids)
    obs_end = pd.Timestamp(sim.observation_end).normalize()
    obs_start = pd.Timestamp(min(tx["date"].min(), pd.to_datetime(cust["signup_date"]).min()))
    obs_start = obs_start.normalize()
    if start is None:
        start = obs_start + (obs_end - obs_start) * 0.6
    start = pd.Timestamp(start).normalize()
    post_end = obs_end + pd.Timedelta(days=1)
    L = (post_end - start).days                              # post window length, days
    pre_start = start - pd.Timedelta(days=L)
    future_days = float(getattr(truth, "future_horizon_days", 0) or 0)

    # --- eligibility and treatment (integer codes throughout: string ops are slow) ----------
    ci = _positions(ids, tx["customer_id"])
    tday = np.floor(_days(tx["date"], start)).astype(np.int64)   # days from start
    pre = tday < 0
    amt = tx["amount"].to_numpy(dtype=float)
    pre_spend = np.bincount(ci[pre], weights=amt[pre], minlength=n)
    bought = np.bincount(ci[pre], minlength=n) > 0
    buyers = np.flatnonzero(bought)
    n_elig = int(round(eligible_share * buyers.size))
    order = buyers[np.lexsort((buyers, -pre_spend[buyers]))]
    eligible = np.zeros(n, dtype=bool)
    eligible[order[:n_elig]] = True
    treated = np.zeros(n, dtype=bool)
    shuffled = rng.permutation(np.flatnonzero(eligible))
    if assignment == "value":       # the most valuable half of the eligible, by a value score
        score = np.log(np.maximum(pre_spend[shuffled], 1e-9)) + selection_noise * rng.normal(
            size=shuffled.size)
        shuffled = shuffled[np.argsort(-score, kind="stable")]
    treated[shuffled[: n_elig // 2]] = True

    # --- re-simulate treated customers alive at start in both worlds ---------------------
    d_orig = _days(pd.to_datetime(tc["dropout_date"]), start)
    d_orig[np.isnan(d_orig)] = np.inf
    resim = np.flatnonzero(treated & (d_orig >= 0) & bought)
    lam = tc["lam"].to_numpy(dtype=float)
    shape = float(truth.params.get("p", 6.0))
    mean_spend = tc["mean_spend"].to_numpy(dtype=float)
    mu = tc["mu"].to_numpy(dtype=float) if "mu" in tc.columns else np.zeros(n)
    bulk = (tc["bulk_buyer"].to_numpy(dtype=bool) if "bulk_buyer" in tc.columns
            else np.zeros(n, dtype=bool))
    order_mean = (shape / tc["nu"].to_numpy(dtype=float) if "nu" in tc.columns
                  else mean_spend)                   # mean of an ordinary (not bulk) order
    origin = getattr(truth, "start", None)
    clock, offset = None, 0.0
    if origin is not None:
        offset = float((start - pd.Timestamp(origin)).days)
        clock = season_clock(origin, offset + L + future_days + 2,
                             float(getattr(truth, "seasonality", 0.0)))
    worlds, drop_t = _coupled_purchases(lam[resim], tc["p_dropout"].to_numpy(float)[resim],
                                        np.nan_to_num(mu[resim]), L + future_days,
                                        levers["purchase_rate"], levers["dropout"], shape, rng,
                                        clock, offset)
    world_tx = []
    for w, (k, t, g, ub) in enumerate(worlds):
        k = np.asarray(k, dtype=np.int64)
        size = np.where(bulk[resim[k]] & (np.asarray(ub) < BULK_PROB), BULK_SIZE, 1.0)
        amount = (np.asarray(g) * size * order_mean[resim[k]] / shape
                  * (levers["spend"] if w else 1.0))
        world_tx.append((resim[k], np.asarray(t, dtype=float),
                         np.maximum(np.round(amount, 2), 0.01)))

    # Replace treated customers' originals after start by the with-programme world.
    replace = np.zeros(n, dtype=bool)
    replace[resim] = True
    keep = ~(replace[ci] & ~pre)
    k1, t1, a1 = world_tx[1]
    seen = t1 < L
    all_ci = np.r_[ci[keep], k1[seen]]
    all_day = np.r_[tday[keep], np.floor(t1[seen]).astype(np.int64)]
    order_tx = np.lexsort((all_ci, all_day))
    tx_out = pd.DataFrame({
        "customer_id": ids[all_ci[order_tx]],
        "date": (start + pd.to_timedelta(all_day[order_tx], unit="D")).astype(tx["date"].dtype),
        "amount": np.r_[amt[keep], a1[seen]][order_tx]})
    extra = [c for c in tx.columns if c not in tx_out.columns]
    if extra:  # keep extra source columns of the originals (new rows get missing values)
        rest = tx.loc[keep, extra].reset_index(drop=True).reindex(range(all_ci.size))
        tx_out = pd.concat([tx_out, rest.iloc[order_tx].reset_index(drop=True)], axis=1)

    # Per-customer dropout day relative to start in both worlds (inf = never within horizon).
    drop_w = np.vstack([d_orig, d_orig])
    drop_w[:, resim] = np.floor(drop_t)
    tc_out = truth.customers.copy()
    pos = _aligned_positions(truth.customers, ids)
    new_drop = d_orig.copy()
    new_drop[resim] = drop_w[1, resim]
    tc_out["dropout_date"] = pd.Series(
        start + pd.to_timedelta(np.where(np.isfinite(new_drop), new_drop, np.nan), unit="D")
    ).to_numpy()[pos]
    tc_out["dropout_date"] = tc_out["dropout_date"].astype(truth.customers["dropout_date"].dtype)
    fut = ~seen
    if "future_purchases" in tc_out.columns:
        col = tc["future_purchases"].to_numpy().copy()
        col[resim] = np.bincount(k1[fut], minlength=n)[resim]
        tc_out["future_purchases"] = col[pos]
    if "future_value" in tc_out.columns:
        col = tc["future_value"].to_numpy(dtype=float).copy()
        col[resim] = np.bincount(k1[fut], weights=a1[fut], minlength=n)[resim]
        tc_out["future_value"] = col[pos]

    # --- surveys and complaints -----------------------------------------------------------
    first = np.full(n, np.inf)
    np.minimum.at(first, ci, tday.astype(float))
    has = np.isfinite(first)
    value = np.where(has, np.log1p(np.nan_to_num(lam * mean_spend) * 365.0), np.nan)
    quart = np.zeros(n, dtype=np.int64)
    if has.any():
        quart[has] = np.searchsorted(np.quantile(value[has], [0.25, 0.5, 0.75]), value[has])
    z = np.zeros(n)
    if has.any():
        z[has] = (value[has] - value[has].mean()) / (value[has].std() or 1.0)
    surveys, invites, truth_sat = _surveys(rng, ids, first, drop_w, treated, z, quart, levers,
                                           L, survey_every_days, start)
    complaints = _complaints(rng, ids, first, drop_w[1], L, start)

    # --- true effects from both potential outcomes ----------------------------------------
    # Customers not re-simulated have identical outcomes in both worlds: effect 0.
    y = []
    for k, t, a in world_tx:
        inpost = t < L
        y.append((np.bincount(k[inpost], minlength=n) > 0,
                  np.bincount(k[inpost], weights=a[inpost], minlength=n),
                  np.bincount(k[inpost & (t >= L - churn_window_days)], minlength=n) == 0))
    tr = np.flatnonzero(treated)
    span = int(tday.max() - tday.min()) + 1           # one-time buyer: one purchase day pre-start
    days_pre = np.sort(ci[pre].astype(np.int64) * span + (tday[pre] - tday.min()))
    days_pre = days_pre[np.r_[True, days_pre[1:] != days_pre[:-1]]] if days_pre.size else days_pre
    one_time = (np.bincount(days_pre // span, minlength=n) == 1) & treated
    ot = np.flatnonzero(one_time)

    def _mean_diff(v1, v0, rows, scale=1.0):
        return scale * float(np.mean(v1[rows].astype(float) - v0[rows])) if rows.size else 0.0

    out = {"repurchase": _mean_diff(y[1][0], y[0][0], tr, 100.0),
           "conversion": _mean_diff(y[1][0], y[0][0], ot, 100.0),
           "churn": _mean_diff(y[1][2], y[0][2], tr, 100.0),
           "spend": _mean_diff(y[1][1], y[0][1], tr), **truth_sat}

    programme = pd.DataFrame({"customer_id": cust["customer_id"].to_numpy(),
                              "eligible": eligible, "treated": treated})
    ptruth = ProgrammeTruth(start=start, pre_start=pre_start, post_end=post_end,
                            churn_window_days=int(churn_window_days), effects=out, levers=levers,
                            n_eligible=int(eligible.sum()), n_treated=int(treated.sum()),
                            definitions=dict(DEFINITIONS), assignment=assignment)
    new_truth = dataclasses.replace(truth, customers=tc_out, programme=ptruth)
    changes = dict(transactions=tx_out, surveys=surveys, complaints=complaints,
                   programme=programme, truth=new_truth)
    if any(f.name == "survey_invites" for f in dataclasses.fields(sim)):
        changes["survey_invites"] = invites
    return dataclasses.replace(sim, **changes)


def _aligned_positions(frame: pd.DataFrame, ids: pd.Index) -> np.ndarray:
    """Position in ``ids`` of each row of ``frame`` (cheap when already in the same order)."""
    fid = frame["customer_id"] if "customer_id" in frame.columns else frame.index.to_series()
    if len(fid) == ids.size and bool((fid.to_numpy() == ids.to_numpy()).all()):
        return np.arange(ids.size)
    return _positions(ids, fid)


def _positions(ids: pd.Index, values) -> np.ndarray:
    """Position of each value in ``ids`` (−1 if absent): Arrow's hash lookup, pandas' indexer for values Arrow cannot compare."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        found = pc.index_in(pa.array(values), value_set=pa.array(ids))
        return found.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    except (TypeError, ValueError, pa.ArrowException):
        return ids.get_indexer(values)


def _aligned(frame: pd.DataFrame, ids: pd.Index) -> pd.DataFrame:
    """``frame`` (customer_id column or index) in the row order of ``ids``."""
    pos = _aligned_positions(frame, ids)
    out = frame.iloc[np.argsort(pos, kind="stable")].reset_index(drop=True)
    if len(out) != ids.size:
        raise ValueError("truth.customers must hold one row per customer of the customer table")
    return out


def _surveys(rng, ids, first, drop_w, treated, z, quart, levers, L, every, start):
    """Relationship surveys in both worlds; returns the with-programme table and true effects."""
    n = ids.size
    has = np.isfinite(first)
    lo = first
    span = np.where(has, np.maximum(L - lo, 0.0), 0.0)
    k = rng.poisson(span / every)
    i = np.repeat(np.arange(n), k)
    t = np.floor(lo[i] + rng.random(i.size) * span[i])
    u_cust = rng.normal(0.0, 0.8, n)
    eps = rng.normal(0.0, 0.7, i.size)
    eps_nps = rng.normal(0.0, 0.5, i.size)
    u_resp = rng.random(i.size)
    miss = rng.random((2, i.size))
    res = []
    for w in (0, 1):
        churned = t > drop_w[w, i]
        boost = levers["satisfaction"] * (treated[i] & (t >= 0)) if w == 1 else 0.0
        s = 0.5 + 0.4 * z[i] + u_cust[i] - 0.8 * churned + boost + eps
        csat = 1 + np.searchsorted(_CSAT_CUTS, s)
        nps_ = np.clip(np.round(7.0 + 1.8 * (s + eps_nps) - 0.5), 0, 10)
        responds = u_resp < _RESPONSE_BY_QUARTILE[quart[i]] * np.where(churned, 0.5, 1.0)
        res.append((csat, nps_, responds))
    truth = {}
    sel = treated[i] & (t >= 0) & (t < L)
    for name, f in (("csat", lambda c, q: c.astype(float)),
                    ("nps", lambda c, q: 100.0 * ((q >= 9).astype(float) - (q <= 6)))):
        vals = []
        for w in (0, 1):
            csat, nps_, r = res[w]
            m = sel & r & ~(miss[0] < 0.1 if name == "csat" else miss[1] < 0.15)
            vals.append(f(csat, nps_)[m].mean() if m.any() else np.nan)
        truth[name] = float(vals[1] - vals[0]) if np.isfinite(vals).all() else 0.0
    csat, nps_, r = res[1]
    o = np.lexsort((i, t))
    i, t, r, csat, nps_, miss = i[o], t[o], r[o], csat[o], nps_[o], miss[:, o]
    invites = pd.DataFrame({"customer_id": ids[i], "date": _to_dates(start, t)})
    surveys = pd.DataFrame({
        "customer_id": ids[i[r]], "date": _to_dates(start, t[r]),
        "csat": pd.array(np.where(miss[0] < 0.1, 0, csat)[r], dtype="Int64"),
        "nps": pd.array(np.where(miss[1] < 0.15, -1, nps_)[r].astype(np.int64), dtype="Int64")})
    surveys["csat"] = surveys["csat"].mask(surveys["csat"] == 0)
    surveys["nps"] = surveys["nps"].mask(surveys["nps"] == -1)
    return surveys, invites, truth


def _to_dates(start: pd.Timestamp, days) -> pd.Series:
    """Whole days from ``start`` as datetime64[us] (the dtype of the simulated tables)."""
    return pd.Series(start + pd.to_timedelta(np.floor(days), unit="D")).astype("datetime64[us]")


def _complaints(rng, ids, first, drop, L, start):
    """Complaints: 0.15 a year per buyer, plus 2 a year in the 60 days either side of churning."""
    n = ids.size
    has = np.isfinite(first)
    span = np.where(has, np.maximum(L - first, 0.0), 0.0)
    churn_span = np.where(has & (drop < L), np.clip(drop + 60.0, None, L) - np.maximum(
        drop - 60.0, first), 0.0).clip(min=0)
    k1, k2 = rng.poisson(span * 0.15 / 365.0), rng.poisson(churn_span * 2.0 / 365.0)
    i1, i2 = np.repeat(np.arange(n), k1), np.repeat(np.arange(n), k2)
    t = np.r_[first[i1] + rng.random(i1.size) * span[i1],
              np.maximum(drop[i2] - 60.0, first[i2]) + rng.random(i2.size) * churn_span[i2]]
    i = np.r_[i1, i2]
    resolved = rng.random(i.size) < 0.85
    days = np.where(resolved, np.round(rng.gamma(2.0, 3.0, i.size), 1), np.nan)
    o = np.lexsort((i, np.floor(t)))
    i, t, resolved, days = i[o], t[o], resolved[o], days[o]
    return pd.DataFrame({"customer_id": ids[i], "date": _to_dates(start, t),
                         "category": pd.array(CATEGORIES[rng.choice(CATEGORIES.size, i.size,
                                                                    p=CATEGORY_P)], dtype="str"),
                         "resolved": resolved, "resolution_days": days})
