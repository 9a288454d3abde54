"""BG/BB: donations estimates of Fader, Hardie and Shang (2010), lifetimes parity, analytic
gradient, recovery on simulated data, properties and input validation."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clvkit.datasets import load_donations
from clvkit.errors import DataError, ModelError
from clvkit.models import bgbb
from clvkit.models.bgbb import BetaGeoBetaBinom

FHS2010 = (1.204, 0.750, 0.657, 2.783)


@pytest.fixture(scope="module")
def donations():
    return load_donations()


@pytest.fixture(scope="module")
def fitted(donations):
    return BetaGeoBetaBinom().fit(donations)


def test_bgbb_params_match_fhs2010_donations(fitted):
    np.testing.assert_allclose(fitted.params_.to_numpy(), FHS2010, rtol=1e-3)
    assert fitted.n_customers_ == 11_104
    assert fitted.log_likelihood_ == pytest.approx(-33_225.6, abs=0.05)   # FHS 2010, Table 2


def test_bgbb_p_alive_matches_fhs2010(fitted):
    p = fitted.probability_alive([0, 2, 6], [0, 4, 6], 6)
    np.testing.assert_allclose(p, [0.11, 0.59, 0.93], atol=0.005)


def test_bgbb_fit_and_predictions_match_lifetimes(fitted, donations):
    import lifetimes
    lt = lifetimes.BetaGeoBetaBinomFitter().fit(donations["frequency"], donations["recency"],
                                                donations["periods"], weights=donations["weights"])
    np.testing.assert_allclose(fitted.params_.to_numpy(), lt.params_.to_numpy(), rtol=1e-3)
    lt.params_ = fitted.params_.copy()
    x, t_x, n = (donations[c].to_numpy() for c in ("frequency", "recency", "periods"))
    for m in (1, 5):
        np.testing.assert_allclose(fitted.probability_alive(x, t_x, n, future=m),
                                   lt.conditional_probability_alive(m, x, t_x, n), rtol=1e-9)
        np.testing.assert_allclose(
            fitted.expected_purchases(x, t_x, n, horizon=m),
            lt.conditional_expected_number_of_purchases_up_to_time(m, x, t_x, n), rtol=1e-9)
    counts = lt.expected_number_of_transactions_in_first_n_periods(6)["model"]
    pmf = fitted.probability_of_purchases(counts.index.to_numpy(), horizon=6) * 11_104
    np.testing.assert_allclose(pmf, counts.to_numpy(), rtol=1e-9)


def test_bgbb_gradient_matches_central_differences(donations):
    x, t_x, n = (donations[c].to_numpy() for c in ("frequency", "recency", "periods"))
    params = np.array(FHS2010)
    _, g = bgbb.loglik(params, x, t_x, n, grad=True)
    for i in range(4):
        up, dn = np.log(params), np.log(params)
        up[i] += 1e-6
        dn[i] -= 1e-6
        fd = (bgbb.loglik(np.exp(up), x, t_x, n) - bgbb.loglik(np.exp(dn), x, t_x, n)) / 2e-6
        np.testing.assert_allclose(g[:, i], fd, rtol=1e-6, atol=1e-7)


def test_bgbb_scalar_calls_equal_array_call_and_weights_equal_expansion(donations):
    x, t_x, n = (donations[c].to_numpy() for c in ("frequency", "recency", "periods"))
    arr = bgbb.loglik(FHS2010, x, t_x, n)
    np.testing.assert_allclose(arr, [float(bgbb.loglik(FHS2010, *r)) for r in zip(x, t_x, n)])
    expanded = donations.loc[donations.index.repeat(donations["weights"])].drop(columns="weights")
    np.testing.assert_allclose(BetaGeoBetaBinom().fit(expanded).params_,
                               BetaGeoBetaBinom().fit(donations).params_, rtol=1e-7)


def test_bgbb_new_customer_expectation_is_pmf_mean_and_pmf_sums_to_one(fitted):
    k = np.arange(0, 11)
    pmf = fitted.probability_of_purchases(k, horizon=10)
    assert pmf.sum() == pytest.approx(1.0, abs=1e-12)
    assert fitted.expected_purchases_new_customer(horizon=10) == pytest.approx(pmf @ k, rel=1e-12)


def simulate_bgbb(params, n_customers, n_periods, seed):
    a, b, g, d = params
    rng = np.random.default_rng(seed)
    p = rng.beta(a, b, n_customers)[:, None]
    theta = rng.beta(g, d, n_customers)[:, None]
    alive = np.cumprod(rng.random((n_customers, n_periods)) >= theta, axis=1)  # alive at 1..n
    buys = alive.astype(bool) & (rng.random((n_customers, n_periods)) < p)
    x = buys.sum(1)
    t_x = np.where(x > 0, n_periods - np.argmax(buys[:, ::-1], axis=1), 0)
    return pd.DataFrame({"frequency": x, "recency": t_x, "n_periods": n_periods})


def test_bgbb_recovers_simulated_params_within_2_se():
    truth = np.array([1.2, 0.75, 0.66, 2.8])
    model = BetaGeoBetaBinom().fit(simulate_bgbb(truth, 50_000, 8, seed=5))
    z = (model.params_.to_numpy() - truth) / model.se_.to_numpy()
    assert np.all(np.abs(z) < 2), z


hist = st.integers(1, 30).flatmap(lambda n: st.integers(0, n).flatmap(
    lambda tx: st.tuples(st.integers(1 if tx else 0, tx) if tx else st.just(0), st.just(tx),
                         st.just(n))))
params_st = st.tuples(*[st.floats(0.01, 50)] * 4)


@settings(max_examples=80, deadline=None, derandomize=True)
@given(params=params_st, h=hist)
def test_bgbb_properties(params, h):
    ll, g = bgbb.loglik(params, *h, grad=True)
    assert np.isfinite(ll) and ll <= 1e-12 and np.isfinite(g).all()
    p = bgbb.probability_alive(params, *h)
    assert 0 <= p <= 1 + 1e-12
    e = bgbb.expected_purchases(params, np.arange(0, 8), *h)
    assert np.all(e >= 0) and np.all(np.diff(e) >= 0)


@pytest.mark.parametrize("frame,match", [
    (pd.DataFrame({"frequency": [1], "recency": [2]}), "missing column.*n_periods"),
    (pd.DataFrame({"frequency": [1.5], "recency": [2], "n_periods": [6]}),
     "frequency.*not whole numbers"),
    (pd.DataFrame({"frequency": [1], "recency": [7], "n_periods": [6]}), "recency > n_periods"),
    (pd.DataFrame({"frequency": [3], "recency": [2], "n_periods": [6]}), "frequency > recency"),
    (pd.DataFrame({"frequency": [0], "recency": [2], "n_periods": [6]}),
     "recency > 0 with frequency 0"),
])
def test_bgbb_bad_input_names_the_rule(frame, match):
    with pytest.raises(DataError, match=match):
        BetaGeoBetaBinom().fit(frame)


def test_bgbb_without_any_transactions_is_a_model_error():
    frame = pd.DataFrame({"frequency": 0, "recency": 0, "n_periods": [3, 4, 5, 6, 7]})
    with pytest.raises(ModelError, match="no customer transacted"):
        BetaGeoBetaBinom().fit(frame)


def test_bgbb_prediction_counts_must_be_whole(fitted):
    with pytest.raises(DataError, match="horizon must be a whole number"):
        fitted.expected_purchases([1], [2], [6], horizon=1.5)


def test_bgbb_intervals_bracket_the_estimate(fitted, donations):
    out = fitted.probability_alive_interval(donations, n_draws=100, seed=1)
    assert out.index.equals(donations.index)
    assert (out["lower"] <= out["estimate"] + 1e-12).all()
    assert (out["estimate"] <= out["upper"] + 1e-12).all()
    assert (out["lower"] >= 0).all() and (out["upper"] <= 1).all()
    e = fitted.expected_purchases_interval(donations, horizon=5, n_draws=100, seed=1)
    np.testing.assert_allclose(e["estimate"], fitted.expected_purchases(donations, horizon=5))
