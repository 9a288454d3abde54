"""Pareto/NBD: likelihood vs 50-digit mpmath, analytic gradient, predictions vs lifetimes,
CDNOW estimates of Fader, Hardie and Lee (2005), recovery on simulated data, properties."""
from __future__ import annotations

import mpmath as mp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clvkit.models import paretonbd as pnbd

CDNOW = (0.553, 10.578, 0.606, 11.669)          # FHL (2005) Table/appendix, weekly
BETA_GG_ALPHA = (0.254, 5.24, 0.524, 40.79)      # beta >> alpha: scipy's hyp2f1 overflows here
ALPHA_GG_BETA = (0.254, 40.79, 0.524, 5.24)


def mp_loglik(params, x, t_x, T):
    """The note's eq. (22) with its two 2F1 branches, untransformed, at 50 digits."""
    with mp.workdps(50):
        r, a, s, b = (mp.mpf(v) for v in params)
        x, t_x, T = mp.mpf(x), mp.mpf(t_x), mp.mpf(T)
        if a >= b:
            F = lambda t: mp.hyp2f1(r + s + x, s + 1, r + s + x + 1, (a - b) / (a + t)) / (a + t) ** (r + s + x)  # noqa: E731,E501
        else:
            F = lambda t: mp.hyp2f1(r + s + x, r + x, r + s + x + 1, (b - a) / (b + t)) / (b + t) ** (r + s + x)  # noqa: E731,E501
        pre = mp.gamma(r + x) * a ** r * b ** s / mp.gamma(r)
        return mp.log(pre * ((a + T) ** -(r + x) * (b + T) ** -s + s / (r + s + x) * (F(t_x) - F(T))))


HISTORIES = [(0, 0, 39), (1, 0.5, 39), (2, 30.43, 38.86), (7, 39, 39), (50, 20, 39), (300, 2, 39),
             (1200, 30, 39), (2000, 1, 39), (2000, 38.9, 39), (2000, 39, 39), (3, 10, 400)]


@pytest.mark.parametrize("params", [CDNOW, BETA_GG_ALPHA, ALPHA_GG_BETA, (2.0, 0.3, 0.1, 0.3)])
def test_loglik_matches_mpmath_50_digits_up_to_x_2000(params):
    x, t_x, T = np.array(HISTORIES, dtype=float).T
    ours = pnbd.loglik(params, x, t_x, T)
    ref = np.array([float(mp_loglik(params, *h)) for h in HISTORIES])
    np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-12)


def test_finite_where_scipy_hyp2f1_overflows_and_lifetimes_returns_nan():
    from scipy.special import hyp2f1
    r, a, s, b = BETA_GG_ALPHA
    x, t_x, T = 1200.0, 30.0, 39.0
    assert np.isinf(hyp2f1(r + s + x, r + x, r + s + x + 1, (b - a) / (b + t_x)))
    import lifetimes
    import pandas as pd
    lt = lifetimes.ParetoNBDFitter._conditional_log_likelihood(
        list(BETA_GG_ALPHA), pd.Series([x]), pd.Series([t_x]), pd.Series([T]))
    assert not np.isfinite(np.asarray(lt, dtype=float)).all()
    ours = pnbd.loglik(BETA_GG_ALPHA, x, t_x, T)
    assert ours == pytest.approx(float(mp_loglik(BETA_GG_ALPHA, x, t_x, T)), rel=1e-12)


@pytest.mark.parametrize("params", [CDNOW, BETA_GG_ALPHA, ALPHA_GG_BETA])
def test_gradient_matches_central_differences(params):
    x, t_x, T = np.array(HISTORIES[:-2] + [(3, 10, 40)], dtype=float).T
    _, g = pnbd.loglik(params, x, t_x, T, grad=True)
    h = 1e-6
    for i in range(4):
        up, dn = np.log(params), np.log(params)
        up[i] += h
        dn[i] -= h
        fd = (pnbd.loglik(np.exp(up), x, t_x, T) - pnbd.loglik(np.exp(dn), x, t_x, T)) / (2 * h)
        np.testing.assert_allclose(g[:, i], fd, rtol=1e-5, atol=1e-5)


def test_hyp2f1_series_matches_mpmath_and_its_derivatives():
    b, c, z = np.array([0.7, 20.0, 2000.5]), np.array([2.1, 21.6, 2001.9]), np.array([0.0, 0.5, 0.97])
    lS, db, dc, dz = pnbd.log_hyp2f1_1bc(b, c, z)
    with mp.workdps(30):
        f = lambda bb, cc, zz: mp.log(mp.hyp2f1(1, bb, cc, zz))  # noqa: E731
        for i in range(3):
            bi, ci, zi = (mp.mpf(float(v[i])) for v in (b, c, z))
            assert lS[i] == pytest.approx(float(f(bi, ci, zi)), rel=1e-13, abs=1e-15)
            assert db[i] == pytest.approx(float(mp.diff(lambda u: f(u, ci, zi), bi)), rel=1e-9, abs=1e-12)
            assert dc[i] == pytest.approx(float(mp.diff(lambda u: f(bi, u, zi), ci)), rel=1e-9, abs=1e-12)
            assert dz[i] == pytest.approx(float(mp.diff(lambda u: f(bi, ci, u), zi)), rel=1e-9)


def test_scalar_calls_sum_to_the_array_call():
    x, t_x, T = np.array(HISTORIES, dtype=float).T
    arr = pnbd.loglik(CDNOW, x, t_x, T)
    scal = [float(pnbd.loglik(CDNOW, *h)) for h in HISTORIES]
    np.testing.assert_allclose(arr, scal, rtol=1e-14)


def lifetimes_pareto(params):
    import lifetimes
    import pandas as pd
    model = lifetimes.ParetoNBDFitter()
    model.params_ = pd.Series(dict(zip(pnbd.PARAM_NAMES, params)))
    return model


@pytest.mark.parametrize("params", [CDNOW, ALPHA_GG_BETA])
def test_predictions_match_lifetimes(params):
    lt = lifetimes_pareto(params)
    x = np.array([0, 1, 2, 5, 10, 30.0])
    t_x = np.array([0, 3.0, 30.43, 20, 35, 38.0])
    T = np.array([39, 39, 38.86, 39, 39, 39.0])
    np.testing.assert_allclose(np.exp(pnbd.log_probability_alive(params, x, t_x, T)),
                               lt.conditional_probability_alive(x, t_x, T), rtol=1e-9)
    for t in (1.0, 39.0, 78.0):
        np.testing.assert_allclose(
            pnbd.expected_purchases(params, t, x, t_x, T),
            lt.conditional_expected_number_of_purchases_up_to_time(t, x, t_x, T), rtol=1e-9)
    t = np.array([1.0, 3, 32, 78])
    np.testing.assert_allclose(pnbd.expected_purchases_new_customer(params, t),
                               lt.expected_number_of_purchases_up_to_time(t), rtol=1e-9)


def mp_probability_of_purchases(params, n, t):
    with mp.workdps(30):
        r, a, s, b = (mp.mpf(v) for v in params)
        nbd = lambda tau: (mp.gamma(r + n) / (mp.gamma(r) * mp.factorial(n))  # noqa: E731
                           * (a / (a + tau)) ** r * (tau / (a + tau)) ** n)
        return (b / (b + t)) ** s * nbd(mp.mpf(t)) + mp.quad(
            lambda tau: s * b ** s / (b + tau) ** (s + 1) * nbd(tau), [0, t])


@pytest.mark.parametrize("params,t", [(CDNOW, 39.0), (BETA_GG_ALPHA, 200.0)])
def test_probability_of_purchases_matches_mpmath_and_sums_to_one(params, t):
    n = np.array([0, 1, 2, 5, 30])
    ours = pnbd.probability_of_purchases(params, n, t)
    ref = [float(mp_probability_of_purchases(params, int(k), t)) for k in n]
    np.testing.assert_allclose(ours, ref, rtol=1e-10)
    assert pnbd.probability_of_purchases(params, np.arange(3000), t).sum() == pytest.approx(1, abs=1e-9)


histories = st.tuples(st.integers(0, 3000), st.floats(0, 1), st.floats(0.01, 500)).map(
    lambda h: (h[0], 0.0 if h[0] == 0 else h[1] * h[2], h[2]))
params_st = st.tuples(*[st.floats(0.01, 100)] * 4)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(params=params_st, h=histories)
def test_loglik_and_gradient_finite_palive_in_unit_interval(params, h):
    ll, g = pnbd.loglik(params, *h, grad=True)
    assert np.isfinite(ll) and np.isfinite(g).all()
    p = np.exp(pnbd.log_probability_alive(params, *h))
    assert 0.0 <= p <= 1.0


@settings(max_examples=40, deadline=None, derandomize=True)
@given(params=params_st, h=histories)
def test_expected_purchases_nonnegative_and_nondecreasing_in_t(params, h):
    t = np.array([0.0, 0.5, 1.0, 10.0, 100.0])
    e = pnbd.expected_purchases(params, t, *h)
    assert np.all(e >= 0) and np.all(np.diff(e) >= -1e-12 * e.max())
    e0 = pnbd.expected_purchases_new_customer(params, t)
    assert np.all(e0 >= 0) and np.all(np.diff(e0) >= 0)


# ------------------------------------------------------------------ the fitted model
import pandas as pd  # noqa: E402

from clvkit.datasets.cdnow import lifetimes_data_path  # noqa: E402
from clvkit.models.paretonbd import ParetoNBD  # noqa: E402


@pytest.fixture(scope="module")
def cdnow():
    return pd.read_csv(lifetimes_data_path("cdnow_customers_summary.csv"), index_col="ID")


@pytest.fixture(scope="module")
def fitted(cdnow):
    return ParetoNBD().fit(cdnow, time_unit="W")


def test_paretonbd_params_match_fhl2005_cdnow(fitted):
    np.testing.assert_allclose(fitted.params_.to_numpy(), CDNOW, rtol=2e-3)
    assert fitted.log_likelihood_ == pytest.approx(-9594.98, abs=0.01)
    assert fitted.se_["r"] == pytest.approx(0.0476, abs=5e-4)
    assert fitted.converged_ and fitted.time_unit_ == "W"


def test_paretonbd_fit_and_predictions_match_lifetimes_on_cdnow(fitted, cdnow):
    import lifetimes
    lt = lifetimes.ParetoNBDFitter().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])
    np.testing.assert_allclose(fitted.params_.to_numpy(), lt.params_.to_numpy(), rtol=1e-3)
    lt.params_ = fitted.params_.copy()   # identical parameters: compare the formulas
    np.testing.assert_allclose(fitted.probability_alive(cdnow).to_numpy(),
                               lt.conditional_probability_alive(cdnow["frequency"],
                                                                cdnow["recency"], cdnow["T"]),
                               rtol=1e-9)
    np.testing.assert_allclose(
        fitted.expected_purchases(cdnow, horizon=39).to_numpy(),
        lt.conditional_expected_number_of_purchases_up_to_time(39, cdnow["frequency"],
                                                               cdnow["recency"], cdnow["T"]),
        rtol=1e-9)


def test_paretonbd_weighted_compressed_rows_equal_expanded_rows(cdnow):
    counts = cdnow.groupby(["frequency", "recency", "T"]).size().rename("weights").reset_index()
    a = ParetoNBD().fit(counts, time_unit="W")
    b = ParetoNBD().fit(cdnow, time_unit="W")
    np.testing.assert_allclose(a.params_, b.params_, rtol=1e-8)
    assert a.log_likelihood_ == pytest.approx(b.log_likelihood_, rel=1e-12)
    assert a.n_customers_ == b.n_customers_ == 2357


def simulate_paretonbd(params, n, seed):
    """Customers from the Pareto/NBD story itself, independent of the likelihood code."""
    r, alpha, s, beta = params
    rng = np.random.default_rng(seed)
    lam = rng.gamma(r, 1 / alpha, n)
    mu = rng.gamma(s, 1 / beta, n)
    T = rng.choice([26.0, 39.0, 52.0], n)
    active = np.minimum(rng.exponential(1 / mu), T)
    x = rng.poisson(lam * active)
    t_x = np.where(x > 0, active * rng.random(n) ** (1 / np.maximum(x, 1)), 0.0)
    return pd.DataFrame({"frequency": x, "recency": t_x, "T": T})


@pytest.mark.slow
def test_paretonbd_recovers_simulated_params_within_2_se():
    truth = np.array([0.8, 6.0, 0.5, 9.0])
    model = ParetoNBD().fit(simulate_paretonbd(truth, 50_000, seed=11), time_unit="W")
    z = (model.params_.to_numpy() - truth) / model.se_.to_numpy()
    assert np.all(np.abs(z) < 2), z


def test_paretonbd_heavy_buyers_beta_much_larger_than_alpha_stay_finite():
    m = ParetoNBD()
    m.params_ = pd.Series(BETA_GG_ALPHA, index=list(pnbd.PARAM_NAMES))
    m.time_unit_, m.n_customers_ = "W", 1
    x, t_x, T = np.array([1200.0, 2000.0]), np.array([30.0, 38.0]), np.array([39.0, 39.0])
    assert np.isfinite(m.probability_alive(x, t_x, T)).all()
    e = m.expected_purchases(x, t_x, T, horizon=10.0)
    assert np.isfinite(e).all() and (e > 0).all()


def test_paretonbd_path_equals_pointwise_predictions_and_feeds_clv(fitted):
    from clvkit.models import GammaGamma
    from clvkit.value import customer_lifetime_value
    cdnow_spend = pd.read_csv(lifetimes_data_path("cdnow_customers_summary_with_transactions.csv"),
                              index_col="ID").rename(columns={"x": "frequency", "t_x": "recency",
                                                              "zbar": "monetary_value"})
    cdnow_spend.attrs["time_unit"] = "W"
    data = cdnow_spend[["frequency", "recency", "T"]]
    ts = np.array([1.0, 4.35, 26.0, 52.18])
    path = fitted.expected_purchases_path(ts, data)
    for i, t in enumerate(ts):
        np.testing.assert_allclose(path[i], pnbd.expected_purchases(
            fitted.params_.to_numpy(), t, *(data[c].to_numpy() for c in ("frequency", "recency", "T"))),
            rtol=1e-12)
    gg = GammaGamma().fit(cdnow_spend[["frequency", "monetary_value"]])
    clv = customer_lifetime_value(fitted, gg, cdnow_spend, horizon=12, horizon_unit="M")
    assert clv.index.equals(cdnow_spend.index)
    assert np.isfinite(clv).all() and (clv >= 0).all() and clv.sum() > 0


def test_paretonbd_intervals_bracket_the_estimate(fitted, cdnow):
    out = fitted.probability_alive_interval(cdnow.iloc[:300], n_draws=100, seed=1)
    assert (out["lower"] <= out["estimate"] + 1e-12).all()
    assert (out["estimate"] <= out["upper"] + 1e-12).all()
    assert (out["upper"] - out["lower"]).max() > 0.01        # parameter uncertainty shows
