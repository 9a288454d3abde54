"""MBG/NBD: Batislam et al. (2007) CDNOW estimates, lifetimes parity, mpmath at x = 2,000,
gradient, recovery on simulated data, properties."""
from __future__ import annotations

import mpmath as mp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clvkit.errors import ModelError
from clvkit.models import ModifiedBetaGeo
from clvkit.models import mbgnbd

from model_sim import simulate_bgnbd

PUBLISHED = {"r": 0.525, "alpha": 6.183, "a": 0.891, "b": 1.614}


@pytest.fixture(scope="module")
def fitted(cdnow_summary):
    return ModifiedBetaGeo().fit(cdnow_summary)


@pytest.fixture(scope="module")
def lifetimes_fit(cdnow_summary):
    import lifetimes  # only here: it sets a global pandas option
    s = cdnow_summary
    return lifetimes.ModifiedBetaGeoFitter().fit(s["frequency"].to_numpy(), s["recency"].to_numpy(),
                                                 s["T"].to_numpy())


def test_mbgnbd_params_match_published_cdnow_estimates(fitted):
    for k, v in PUBLISHED.items():
        assert fitted.params_[k] == pytest.approx(v, abs=0.0006)
    assert repr(fitted) == ("<ModifiedBetaGeo fitted on 2,357 customers: "
                            "r=0.525 alpha=6.183 a=0.891 b=1.614>")


def test_mbgnbd_params_and_predictions_match_lifetimes(fitted, lifetimes_fit, cdnow_summary):
    lf, s = lifetimes_fit, cdnow_summary
    np.testing.assert_allclose(fitted.params_[list(PUBLISHED)], lf.params_[list(PUBLISHED)],
                               rtol=1e-3)
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


def _mp_conditional(params, t, x, t_x, T):
    """Wagner and Hoppe's conditional expectation as lifetimes writes it, at 50 digits."""
    with mp.workdps(50):
        r, alpha, a, b = (mp.mpf(v) for v in params)
        t, x, t_x, T = (mp.mpf(v) for v in (t, x, t_x, T))
        hyp = mp.hyp2f1(r + x, b + x + 1, a + b + x, t / (alpha + T + t))
        num = (a + b + x) / (a - 1) * (1 - hyp * ((alpha + T) / (alpha + t + T)) ** (r + x))
        return num / (1 + (a / (b + x)) * ((alpha + T) / (alpha + t_x)) ** (r + x))


def test_finite_and_exact_at_x_2000_where_lifetimes_gives_nan(lifetimes_fit):
    params = tuple(PUBLISHED.values())
    cases = [(39, 2000, 39, 39), (52, 1000, 39, 39), (10, 2000, 38.9, 39), (1, 0, 0, 39)]
    lf = lifetimes_fit
    lf_nan = lf.conditional_expected_number_of_purchases_up_to_time(39, 2000, 39, 39)
    assert np.isnan(lf_nan)
    got = np.array([mbgnbd.expected_purchases(params, *c) for c in cases])
    ref = np.array([float(_mp_conditional(params, *c)) for c in cases])
    np.testing.assert_allclose(got, ref, rtol=1e-9)


def test_loglik_matches_mpmath():
    params = tuple(PUBLISHED.values())
    cases = [(0, 0, 39), (2, 30.43, 38.86), (2000, 38.9, 39)]
    got = mbgnbd.loglik(params, *np.array(cases, float).T)
    with mp.workdps(50):
        r, al, a, b = (mp.mpf(v) for v in params)
        ref = [float(mp.log(mp.gamma(r + x) * al ** r / mp.gamma(r) * mp.beta(a, b + x + 1)
                            / mp.beta(a, b) * ((al + T) ** -(r + x)
                                               + a / (b + x) * (al + t_x) ** -(r + x))))
               for x, t_x, T in (tuple(map(mp.mpf, c)) for c in cases)]
    np.testing.assert_allclose(got, ref, rtol=1e-12)


positive = st.floats(0.01, 50.0)
histories = st.tuples(st.integers(0, 3000), st.floats(0.0, 1.0), st.floats(0.01, 500.0))


@settings(max_examples=60, deadline=None)
@given(st.tuples(positive, positive, positive, positive), st.lists(histories, min_size=1, max_size=8),
       st.floats(0.1, 200.0))
def test_gradient_matches_differences_and_predictions_are_valid(params, hs, t):
    x = np.array([h[0] for h in hs], float)
    T = np.array([h[2] for h in hs])
    t_x = np.where(x > 0, np.array([h[1] for h in hs]) * T, 0.0)
    ll, g = mbgnbd.loglik(params, x, t_x, T, grad=True)
    assert np.all(np.isfinite(ll)) and np.all(np.isfinite(g))
    h = 1e-6
    for j in range(4):
        up, dn = np.log(params).copy(), np.log(params).copy()
        up[j] += h
        dn[j] -= h
        fd = (mbgnbd.loglik(np.exp(up), x, t_x, T) - mbgnbd.loglik(np.exp(dn), x, t_x, T)) / (2 * h)
        np.testing.assert_allclose(g[:, j], fd, rtol=1e-4, atol=1e-6 * (1 + np.abs(ll).max()))
    p = np.exp(-np.logaddexp(0, mbgnbd.log_alive_odds(params, x, t_x, T)))
    assert np.all((p >= 0) & (p <= 1))
    e1 = mbgnbd.expected_purchases(params, t, x, t_x, T)
    e2 = mbgnbd.expected_purchases(params, 2 * t, x, t_x, T)
    assert np.all(np.isfinite(e1)) and np.all(e1 >= 0) and np.all(e2 >= e1 * (1 - 1e-9))


def test_customers_without_repeats_are_not_surely_alive(fitted):
    # Batislam et al. (2007) appendix eq. (5) at x = 0: 1 / (1 + a/b ((alpha+T)/alpha)^r) < 1
    r, alpha, a, b = PUBLISHED.values()
    expected = 1 / (1 + a / b * ((alpha + 39) / alpha) ** r)
    assert fitted.probability_alive(0, 0, 39) == pytest.approx(expected, rel=1e-3)
    assert expected < 0.5


def test_pmf_sums_to_one_and_its_mean_is_the_expectation(fitted):
    n = np.arange(400)
    pmf = fitted.probability_of_purchases(n, horizon=39.0)
    assert pmf.sum() == pytest.approx(1.0, abs=1e-8)
    assert (n * pmf).sum() == pytest.approx(fitted.expected_purchases_new_customer(horizon=39.0), rel=1e-6)


def test_mbgnbd_recovers_simulated_params_within_2_se():
    true = {"r": 0.5, "alpha": 6.0, "a": 0.9, "b": 1.6}
    s = simulate_bgnbd(50_000, *true.values(), seed=7, modified=True)
    m = ModifiedBetaGeo().fit(s)
    for k, v in true.items():
        assert abs(m.params_[k] - v) < 2 * m.se_[k], (k, m.params_[k], m.se_[k])


def test_no_repeat_buyers_is_a_model_error(cdnow_summary):
    with pytest.raises(ModelError, match="no repeat buyers"):
        ModifiedBetaGeo().fit(cdnow_summary[cdnow_summary.frequency == 0])
