"""BG/NBD: FHL (2005) CDNOW values, lifetimes parity, mpmath checks, gradient, recovery, properties."""
from __future__ import annotations

import mpmath as mp
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clvkit.errors import DataError, ModelError, NotFittedError
from clvkit.models import BetaGeo
from clvkit.models import bgnbd

from model_sim import simulate_bgnbd

FHL2005 = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}


@pytest.fixture(scope="module")
def fitted(cdnow_summary):
    return BetaGeo().fit(cdnow_summary)


@pytest.fixture(scope="module")
def lifetimes_fit(cdnow_summary):
    import lifetimes  # only here: it sets a global pandas option
    s = cdnow_summary
    return lifetimes.BetaGeoFitter().fit(s["frequency"].to_numpy(), s["recency"].to_numpy(),
                                         s["T"].to_numpy())


# ---------------------------------------------------------------- published values
def test_bgnbd_params_match_fhl2005(fitted):
    for k, v in FHL2005.items():
        assert fitted.params_[k] == pytest.approx(v, abs=0.0006)
    assert fitted.log_likelihood_ == pytest.approx(-9582.43, abs=0.01)
    assert fitted.converged_ and fitted.n_customers_ == 2357 and fitted.time_unit_ == "W"


def test_bgnbd_expected_purchases_match_fhl2005(fitted):
    got = fitted.expected_purchases_new_customer(horizon=np.array([1, 3, 32, 78]))
    np.testing.assert_allclose(got, [0.0532, 0.1506, 1.0437, 1.8576], rtol=1e-3)
    assert fitted.expected_purchases(2, 30.43, 38.86, horizon=39) == pytest.approx(1.226, abs=5e-4)


def test_bgnbd_standard_errors_match_lifetimes(fitted, lifetimes_fit):
    ref = lifetimes_fit.summary["se(coef)"]
    np.testing.assert_allclose(fitted.se_[list(FHL2005)], ref[list(FHL2005)], rtol=2e-2)


# ---------------------------------------------------------------- lifetimes parity
def test_bgnbd_params_and_predictions_match_lifetimes(fitted, lifetimes_fit, cdnow_summary):
    lf, s = lifetimes_fit, cdnow_summary
    np.testing.assert_allclose(fitted.params_[list(FHL2005)], lf.params_[list(FHL2005)], rtol=1e-3)
    f, r, T = (s[c].to_numpy() for c in ("frequency", "recency", "T"))
    for t in (1.0, 10.0, 52.0):
        np.testing.assert_allclose(
            fitted.expected_purchases(s, horizon=t).to_numpy(),
            lf.conditional_expected_number_of_purchases_up_to_time(t, f, r, T), rtol=1e-3)
    np.testing.assert_allclose(fitted.probability_alive(s).to_numpy(),
                               lf.conditional_probability_alive(f, r, T), rtol=1e-3)
    ts = np.array([1.0, 5.0, 39.0, 100.0])
    np.testing.assert_allclose(fitted.expected_purchases_new_customer(horizon=ts),
                               lf.expected_number_of_purchases_up_to_time(ts), rtol=1e-3)
    np.testing.assert_allclose(
        fitted.probability_of_purchases(np.arange(6), horizon=20.0),
        [lf.probability_of_n_purchases_up_to_time(20.0, n) for n in range(6)], rtol=1e-3)


def test_bgnbd_penalized_fit_matches_lifetimes(cdnow_summary):
    import lifetimes
    s = cdnow_summary
    lf = lifetimes.BetaGeoFitter(penalizer_coef=0.01).fit(
        s["frequency"].to_numpy(), s["recency"].to_numpy(), s["T"].to_numpy())
    ours = BetaGeo(penalizer=0.01).fit(s)
    np.testing.assert_allclose(ours.params_[list(FHL2005)], lf.params_[list(FHL2005)], rtol=1e-3)


# ---------------------------------------------------------------- numerics
def _mp_conditional(params, t, x, t_x, T):
    """FHL 2005 eq. (10) as printed (no transformation), at 50 digits."""
    with mp.workdps(50):
        r, alpha, a, b = (mp.mpf(v) for v in params)
        t, x, t_x, T = (mp.mpf(v) for v in (t, x, t_x, T))
        hyp = mp.hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + T + t))
        num = (a + b + x - 1) / (a - 1) * (1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp)
        den = 1 + (a / (b + x - 1)) * ((alpha + T) / (alpha + t_x)) ** (r + x) if x > 0 else 1
        return num / den


@pytest.mark.parametrize("params", [(0.243, 4.414, 0.793, 2.426), (2.0, 1.5, 3.0, 0.7),
                                    (0.5, 20.0, 1.4, 9.0), (0.5, 3.0, 1.00001, 2.0), (0.5, 3.0, 1.0000002, 2.0)])
def test_conditional_expectation_matches_mpmath_up_to_x_2000(params):
    cases = [(1, 0, 0, 39), (39, 2, 30.43, 38.86), (10, 50, 38, 39), (52, 300, 39, 39),
             (26, 2000, 38.99, 39), (5, 2000, 39, 39), (100, 7, 3, 400)]
    got = np.array([bgnbd.expected_purchases(params, *c) for c in cases])
    ref = np.array([float(_mp_conditional(params, *c)) for c in cases])
    np.testing.assert_allclose(got, ref, rtol=1e-9 if abs(params[2] - 1) > 1e-3 else 1e-7)


def test_loglik_matches_mpmath_at_heavy_buyers():
    params = (0.243, 4.414, 0.793, 2.426)
    cases = [(0, 0, 39), (2, 30.43, 38.86), (2000, 38.9, 39), (2000, 1.0, 39)]
    got = bgnbd.loglik(params, *np.array(cases, float).T)
    with mp.workdps(50):
        r, al, a, b = (mp.mpf(v) for v in params)
        ref = []
        for x, t_x, T in cases:
            x, t_x, T = mp.mpf(x), mp.mpf(t_x), mp.mpf(T)
            A = mp.gamma(r + x) * al ** r / mp.gamma(r) * mp.beta(a, b + x) / mp.beta(a, b)
            L = (al + T) ** -(r + x)
            if x > 0:
                L += a / (b + x - 1) * (al + t_x) ** -(r + x)
            ref.append(float(mp.log(A * L)))
    np.testing.assert_allclose(got, ref, rtol=1e-12)


histories = st.tuples(st.integers(0, 3000), st.floats(0.0, 1.0), st.floats(0.01, 500.0))
positive = st.floats(0.01, 50.0)


def _rows(hs):
    x = np.array([h[0] for h in hs], float)
    T = np.array([h[2] for h in hs])
    t_x = np.where(x > 0, np.array([h[1] for h in hs]) * T, 0.0)
    return x, t_x, T


@settings(max_examples=60, deadline=None)
@given(st.tuples(positive, positive, positive, positive), st.lists(histories, min_size=1, max_size=8))
def test_loglik_and_gradient_finite_and_gradient_matches_differences(params, hs):
    x, t_x, T = _rows(hs)
    ll, g = bgnbd.loglik(params, x, t_x, T, grad=True)
    assert np.all(np.isfinite(ll)) and np.all(np.isfinite(g))
    h = 1e-6
    for j in range(4):
        up, dn = np.log(params).copy(), np.log(params).copy()
        up[j] += h
        dn[j] -= h
        fd = (bgnbd.loglik(np.exp(up), x, t_x, T) - bgnbd.loglik(np.exp(dn), x, t_x, T)) / (2 * h)
        np.testing.assert_allclose(g[:, j], fd, rtol=1e-4, atol=1e-6 * (1 + np.abs(ll).max()))


@settings(max_examples=60, deadline=None)
@given(st.tuples(positive, positive, positive, positive), st.lists(histories, min_size=1, max_size=8),
       st.floats(0.1, 200.0))
def test_p_alive_in_unit_interval_and_expectations_nonnegative_nondecreasing(params, hs, t):
    x, t_x, T = _rows(hs)
    p = np.exp(-np.logaddexp(0, bgnbd.log_alive_odds(params, x, t_x, T)))
    assert np.all((p >= 0) & (p <= 1))
    e1 = bgnbd.expected_purchases(params, t, x, t_x, T)
    e2 = bgnbd.expected_purchases(params, 2 * t, x, t_x, T)
    assert np.all(np.isfinite(e1)) and np.all(e1 >= 0)
    assert np.all(e2 >= e1 * (1 - 1e-9))


def test_pmf_sums_to_one_and_its_mean_is_the_expectation(fitted):
    n = np.arange(400)
    pmf = fitted.probability_of_purchases(n, horizon=39.0)
    assert pmf.sum() == pytest.approx(1.0, abs=1e-8)
    assert (n * pmf).sum() == pytest.approx(fitted.expected_purchases_new_customer(horizon=39.0), rel=1e-6)


def test_scalar_calls_sum_to_the_array_call(cdnow_summary):
    params = tuple(FHL2005.values())
    s = cdnow_summary.iloc[:40]
    x, t_x, T = (s[c].to_numpy() for c in ("frequency", "recency", "T"))
    whole = bgnbd.loglik(params, x, t_x, T).sum()
    assert sum(float(bgnbd.loglik(params, *row)) for row in zip(x, t_x, T)) == pytest.approx(whole)


def test_weighted_compressed_rows_equal_expanded_rows(cdnow_summary):
    s = cdnow_summary
    grouped = s.groupby(["frequency", "recency", "T"]).size().rename("weights").reset_index()
    grouped.attrs["time_unit"] = "W"
    a, b = BetaGeo().fit(s), BetaGeo().fit(grouped)
    np.testing.assert_allclose(a.params_, b.params_, rtol=1e-6)
    assert a.log_likelihood_ == pytest.approx(b.log_likelihood_, rel=1e-10)
    assert b.n_customers_ == 2357 and b.n_unique_ == a.n_unique_ == len(grouped)


def test_fit_is_invariant_to_the_time_unit(cdnow_summary):
    days = cdnow_summary.assign(recency=cdnow_summary.recency * 7, T=cdnow_summary["T"] * 7)
    days.attrs["time_unit"] = "D"
    w, d = BetaGeo().fit(cdnow_summary), BetaGeo().fit(days)
    assert d.params_["alpha"] == pytest.approx(7 * w.params_["alpha"], rel=1e-5)
    assert d.time_unit_ == "D"
    np.testing.assert_allclose(d.expected_purchases(days, horizon=70), w.expected_purchases(cdnow_summary, horizon=10),
                               rtol=1e-5)


# ---------------------------------------------------------------- recovery
TRUE = {"r": 0.25, "alpha": 4.0, "a": 0.8, "b": 2.5}


def test_bgnbd_recovers_simulated_params_within_2_se():
    s = simulate_bgnbd(50_000, *TRUE.values(), seed=2026)
    m = BetaGeo().fit(s)
    for k, v in TRUE.items():
        assert abs(m.params_[k] - v) < 2 * m.se_[k], (k, m.params_[k], m.se_[k])


# ---------------------------------------------------------------- degenerate and bad input
def test_degenerate_data_are_model_errors(cdnow_summary):
    s = cdnow_summary
    with pytest.raises(ModelError, match="empty input"):
        BetaGeo().fit(s.iloc[:0])
    with pytest.raises(ModelError, match="identical statistics"):
        BetaGeo().fit(s.iloc[[0]])
    with pytest.raises(ModelError, match="identical statistics"):
        BetaGeo().fit(s.iloc[[2, 3, 4, 2, 3]])
    with pytest.raises(ModelError, match="no repeat buyers"):
        BetaGeo().fit(s[s.frequency == 0])
    with pytest.raises(ModelError, match="only 3 distinct customers for 4 parameters"):
        BetaGeo().fit(s.iloc[:3])


@pytest.mark.parametrize("change, match", [
    (lambda s: s.assign(recency=s["T"] + 1.0), r"recency > T for 2357 customers.*e\.g\. row 1, 2"),
    (lambda s: s.assign(frequency=s.frequency + 0.5), "non-integer values.*no silent truncation"),
    (lambda s: s.assign(T=-s["T"]), "column 'T': 2357 negative values"),
    (lambda s: s.drop(columns="recency"), "missing column.*recency"),
    (lambda s: s.assign(frequency=np.where(s.index == 7, np.nan, s.frequency)),
     r"column 'frequency': 1 missing or infinite values \(e\.g\. row 7\)"),
    (lambda s: s.assign(recency=np.where(s.frequency == 0, 1.0, s.recency)),
     "recency > 0 with frequency 0"),
])
def test_bad_summaries_are_data_errors(cdnow_summary, change, match):
    bad = change(cdnow_summary)
    bad.attrs["time_unit"] = "W"
    with pytest.raises(DataError, match=match):
        BetaGeo().fit(bad)


def test_time_unit_is_required_and_checked(cdnow_summary, fitted):
    bare = pd.DataFrame(cdnow_summary)
    bare.attrs = {}
    with pytest.raises(DataError, match="unknown time unit.*pass time_unit='W'"):
        BetaGeo().fit(bare)
    with pytest.raises(DataError, match="time_unit='D' but the summary says 'W'"):
        BetaGeo().fit(cdnow_summary, time_unit="D")
    days = cdnow_summary.copy()
    days.attrs["time_unit"] = "D"
    with pytest.raises(DataError, match="summary is in 'D' but BetaGeo was fitted in 'W'"):
        fitted.probability_alive(days)


def test_not_fitted_says_how_to_fix():
    with pytest.raises(NotFittedError, match=r"not fitted yet: call \.fit\(summary\)"):
        BetaGeo().probability_alive(1, 2, 3)


def test_predictions_index_like_the_frame_and_arrays_give_arrays(fitted, cdnow_summary):
    p = fitted.probability_alive(cdnow_summary)
    assert isinstance(p, pd.Series) and p.index.equals(cdnow_summary.index) and p.name == "p_alive"
    arr = fitted.probability_alive(np.array([0, 2]), np.array([0, 30.43]), np.array([38.86, 38.86]))
    assert isinstance(arr, np.ndarray) and arr.shape == (2,)
    assert arr[1] == pytest.approx(p.loc[1])
    per_t = fitted.expected_purchases(2, 30.43, 38.86, horizon=np.array([10.0, 20.0]))
    assert per_t[0] == pytest.approx(fitted.expected_purchases(2, 30.43, 38.86, horizon=10.0))
    pd.testing.assert_series_equal(fitted.probability_alive(), p)     # the training customers
    pd.testing.assert_series_equal(fitted.expected_purchases(horizon=10.0),
                                   fitted.expected_purchases(cdnow_summary, horizon=10.0))
    with pytest.raises(DataError, match="without recency and T"):
        fitted.probability_alive(np.array([1, 2]))


def test_scipy_hyp2f1_infinities_are_recomputed_by_the_series():
    # scipy 1.17 returns inf for 2F1(1, 1; 101; 19/21), the term of this case
    args = np.array([[1.0, 1.0, 101.0, 19 / 21], [0.5, -0.2, 1.3, 0.99], [-0.3, 2.0, 50.0, 0.95]])
    np.testing.assert_allclose(bgnbd._series(*args.T),
                               [float(mp.hyp2f1(*a)) for a in args], rtol=1e-12)
    params, case = (1.0, 1.0, 2.0, 1.0), (19.0, 99, 0.5, 1.0)
    got = bgnbd.expected_purchases(params, *case)
    assert got == pytest.approx(float(_mp_conditional(params, *case)), rel=1e-9)
