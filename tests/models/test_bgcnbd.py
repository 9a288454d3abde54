"""BG/CNBD-k and MBG/CNBD-k: BTYDplus' reference values, the BTYDplus likelihood transcribed,
the k = 1 special cases (BG/NBD, MBG/NBD: FHL 2005 and Batislam et al. 2007 on CDNOW), exact
predictions against simulation, recovery, gradient and properties.

The BTYDplus grocery data (GPL-3) cannot ship with this MIT package; on it (transactions up to
2006-12-31, weeks) both models choose k = 2 and gain ~780 log-likelihood points over k = 1,
as BTYDplus' demo reports; here the CDNOW data and simulations stand in.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import expit

from clvkit.datasets import load_cdnow
from clvkit.errors import ConfigError, DataError, ModelError
from clvkit.models import BetaGeo, BetaGeoCNBD, ModifiedBetaGeo, ModifiedBetaGeoCNBD
from clvkit.models import bgcnbd, bgnbd, mbgcnbd, mbgnbd
from clvkit.rfm import rfm_summary

from model_sim import simulate_bgcnbd

MODELS = {False: (bgcnbd, BetaGeoCNBD, bgnbd, BetaGeo),
          True: (mbgcnbd, ModifiedBetaGeoCNBD, mbgnbd, ModifiedBetaGeo)}
FHL2005 = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}          # BG/NBD, CDNOW
BATISLAM = {"r": 0.525, "alpha": 6.183, "a": 0.891, "b": 1.614}        # MBG/NBD, CDNOW


def btydplus_ll(params, x, t_x, T, litt, dropout_at_zero):
    """BTYDplus' ``xbgcnbd.LL`` (R/mbg-cnbd-k.R), transcribed line by line for one customer."""
    k, r, alpha, a, b = params
    m = 1 if dropout_at_zero else 0
    P1 = (k - 1) * litt - x * math.log(math.factorial(k - 1))
    P2 = math.lgamma(a) + math.lgamma(b + x + m) - math.lgamma(a + b + x + m) - (
        math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b))
    P3 = math.lgamma(r + k * x) - math.lgamma(r) + r * math.log(alpha)
    P4 = -1 * (r + k * x) * math.log(alpha + T)
    S1 = float(dropout_at_zero or x > 0) * a / (b + x - 1 + m) * (
        (alpha + T) / (alpha + t_x)) ** (r + k * x)
    S2 = 1.0
    for j in range(1, k):
        S2a = 1.0
        for i in range(j):
            S2a *= r + k * x + i
        S2 += S2a * (T - t_x) ** j / (math.factorial(j) * (alpha + T) ** j)
    return P1 + P2 + P3 + P4 + math.log(S1 + S2)


@pytest.fixture(scope="module")
def cdnow_litt():
    return rfm_summary(load_cdnow(), observation_end="1997-09-30", litt=True)


def test_loglik_and_pmf_match_btydplus_reference_values():
    # BTYDplus src/slice-sampling.cpp: its unit-test values for params (3, 0.5, 2, 0.3, 0.6)
    p = (3, 0.5, 2, 0.3, 0.6)
    np.testing.assert_allclose(bgcnbd.loglik(p, [3, 4], 12, 14, 3), [-10.42500, -12.22396],
                               atol=5e-6)
    assert bgcnbd.probability_of_purchases(p, 2, 10.0) == pytest.approx(0.05669, abs=5e-6)
    assert mbgcnbd.probability_of_purchases(p, 2, 10.0) == pytest.approx(0.04548, abs=5e-6)


@pytest.mark.parametrize("modified", [False, True])
def test_loglik_matches_btydplus_transcription(modified):
    mod = MODELS[modified][0]
    rows = [(0, 0.0, 30.0, 0.0), (1, 5.0, 30.0, 1.6), (4, 20.0, 25.0, 5.5), (12, 29.5, 30.0, 9.0),
            (60, 39.0, 39.0, 40.0)]
    for params in [(1, 0.24, 4.4, 0.79, 2.4), (2, 1.3, 2.8, 0.42, 0.79), (5, 0.3, 0.2, 3.0, 0.5),
                   (12, 2.0, 10.0, 0.1, 8.0)]:
        x, t_x, T, litt = map(np.array, zip(*rows))
        got = mod.loglik(params, x, t_x, T, litt)
        ref = [btydplus_ll(params, *row, modified) for row in rows]
        np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-10)


@pytest.mark.parametrize("modified", [False, True])
def test_k1_is_the_nbd_model_exactly(modified, cdnow_summary):
    mod, _, nbd, _ = MODELS[modified]
    q = (0.243, 4.414, 0.793, 2.426)
    p = (1, *q)
    s = cdnow_summary
    x, t_x, T = (s[c].to_numpy() for c in ("frequency", "recency", "T"))
    np.testing.assert_allclose(mod.loglik(p, x, t_x, T), nbd.loglik(q, x, t_x, T), rtol=1e-12)
    np.testing.assert_allclose(mod.log_alive_odds(p, x, t_x, T), nbd.log_alive_odds(q, x, t_x, T),
                               rtol=1e-12)
    for t in (1.0, 39.0, 200.0):
        np.testing.assert_allclose(mod.expected_purchases(p, t, x, t_x, T),
                                   nbd.expected_purchases(q, t, x, t_x, T), rtol=1e-9)
    ts = np.array([0.5, 10.0, 100.0])
    np.testing.assert_allclose(mod.expected_purchases_new_customer(p, ts),
                               nbd.expected_purchases_new_customer(q, ts), rtol=1e-9)
    np.testing.assert_allclose(mod.probability_of_purchases(p, np.arange(8), 20.0),
                               nbd.probability_of_purchases(q, np.arange(8), 20.0), rtol=1e-9)


@pytest.mark.parametrize("modified, published", [(False, FHL2005), (True, BATISLAM)])
def test_k_search_on_cdnow_keeps_k1_with_the_published_estimates(modified, published, cdnow_litt):
    _, cls, _, nbd_cls = MODELS[modified]
    m = cls().fit(cdnow_litt)
    assert m.params_["k"] == 1.0 and m.se_["k"] == 0.0
    for name, value in published.items():
        assert m.params_[name] == pytest.approx(value, abs=6e-4)
    ref = nbd_cls().fit(cdnow_litt)
    assert m.log_likelihood_ == pytest.approx(ref.log_likelihood_, abs=1e-6)
    lls = m.k_log_likelihoods_
    assert list(lls.index) == [1, 2] and lls.idxmax() == 1
    assert lls[2] < lls[1] - bgcnbd.K_STOP_DROP   # a clear fall ends the search at k = 2
    # the log-likelihood of k = 2 includes (k - 1) * sum(litt): it is the refit plus that term
    two = cls(k=2).fit(cdnow_litt)
    assert lls[2] == pytest.approx(two.log_likelihood_, rel=1e-12)
    assert two.log_likelihood_ == pytest.approx(
        cls(k=2).fit(cdnow_litt.drop(columns="litt").assign(litt=0.0)).log_likelihood_
        + cdnow_litt["litt"].sum(), rel=1e-9)


@pytest.mark.parametrize("modified", [False, True])
def test_exact_predictions_match_simulated_holdout(modified):
    """With the true parameters, predicted holdout purchases and P(alive) agree with a
    simulation of the story (20,000 customers, k = 3), within sampling error."""
    mod, cls, _, _ = MODELS[modified]
    true = (3, 0.85, 1.45, 0.79, 2.42)
    d = simulate_bgcnbd(20_000, *true, seed=11, modified=modified, horizon=30.0)
    m = cls(k=3).fit(d.iloc[:2000])          # any fitted model; the truth is plugged in
    at_truth = m.with_params(np.array(true, dtype=float))
    predicted = pd.Series(at_truth.expected_purchases_path([30.0], d)[0], index=d.index)
    assert predicted.sum() == pytest.approx(d["frequency_holdout"].sum(), rel=0.03)
    by_x = pd.DataFrame({"x": np.minimum(d["frequency"], 4), "pred": predicted,
                         "act": d["frequency_holdout"]}).groupby("x").sum()
    np.testing.assert_allclose(by_x["pred"], by_x["act"], rtol=0.08)
    np.testing.assert_allclose(mod.expected_purchases(true, 30.0, *(d[c] for c in (
        "frequency", "recency", "T"))), predicted.to_numpy(), rtol=1e-12)


@pytest.mark.parametrize("modified", [False, True])
def test_recovers_simulated_params_and_k(modified):
    _, cls, _, _ = MODELS[modified]
    true = {"k": 3, "r": 0.85, "alpha": 1.45, "a": 0.79, "b": 2.42}
    d = simulate_bgcnbd(3000, *true.values(), seed=5, modified=modified)
    m = cls().fit(d)
    assert m.params_["k"] == 3
    for name in ("r", "alpha", "a", "b"):
        assert abs(m.params_[name] - true[name]) < 3 * m.se_[name], name


@pytest.mark.slow
@pytest.mark.parametrize("modified", [False, True])
def test_recovers_simulated_params_at_large_n(modified):
    _, cls, _, _ = MODELS[modified]
    true = {"k": 2, "r": 1.3, "alpha": 2.8, "a": 0.42, "b": 0.79}
    d = simulate_bgcnbd(40_000, *true.values(), seed=6, modified=modified)
    m = cls().fit(d)
    assert m.params_["k"] == 2
    for name in ("r", "alpha", "a", "b"):
        assert m.params_[name] == pytest.approx(true[name], rel=0.1)
        assert abs(m.params_[name] - true[name]) < 3 * m.se_[name], name


def _rows(hs):
    x = np.array([h[0] for h in hs], float)
    T = np.array([h[2] for h in hs], float)
    t_x = np.where(x > 0, np.array([h[1] for h in hs]) * T, 0.0)
    return x, t_x, T


params_st = st.tuples(st.integers(1, 6), st.floats(0.05, 5), st.floats(0.05, 20),
                      st.floats(0.05, 5), st.floats(0.05, 8))
rows_st = st.lists(st.tuples(st.integers(0, 80), st.floats(0, 1), st.floats(0.5, 100)),
                   min_size=1, max_size=6)


@settings(max_examples=40, deadline=None)
@given(params=params_st, hs=rows_st, modified=st.booleans())
def test_loglik_finite_and_gradient_matches_differences(params, hs, modified):
    mod = MODELS[modified][0]
    x, t_x, T = _rows(hs)
    ll, g = mod.loglik(params, x, t_x, T, grad=True)
    assert np.all(np.isfinite(ll)) and np.all(np.isfinite(g)) and np.all(g[:, 0] == 0)
    h = 1e-6
    for i in range(1, 5):
        up, dn = np.log(np.array(params, float)), np.log(np.array(params, float))
        up[i] += h
        dn[i] -= h
        num = (mod.loglik(np.exp(up), x, t_x, T) - mod.loglik(np.exp(dn), x, t_x, T)) / (2 * h)
        np.testing.assert_allclose(g[:, i], num, rtol=1e-5, atol=1e-5)


@settings(max_examples=30, deadline=None)
@given(params=params_st, hs=rows_st, modified=st.booleans())
def test_p_alive_in_unit_interval_and_expectation_nondecreasing(params, hs, modified):
    mod = MODELS[modified][0]
    x, t_x, T = _rows(hs)
    p = expit(-mod.log_alive_odds(params, x, t_x, T))
    assert np.all((p >= 0) & (p <= 1))
    path = np.array([mod.expected_purchases(params, t, x, t_x, T) for t in (0.0, 1.0, 10.0, 50.0)])
    assert np.all(np.isfinite(path)) and np.all(path[0] == 0)
    assert np.all(np.diff(path, axis=0) >= -1e-12)


@pytest.mark.parametrize("modified", [False, True])
def test_pmf_sums_to_one_and_its_mean_is_the_new_customer_expectation(modified):
    mod = MODELS[modified][0]
    p = (3, 0.85, 1.45, 0.79, 2.42)
    n = np.arange(3000)
    for t in (2.0, 30.0, 300.0):
        pmf = mod.probability_of_purchases(p, n, t)
        assert pmf.sum() == pytest.approx(1.0, abs=1e-10)
        assert n @ pmf == pytest.approx(mod.expected_purchases_new_customer(p, t), rel=1e-9)


def test_missing_litt_is_a_data_error_that_says_how_to_compute_it(cdnow_summary):
    with pytest.raises(DataError, match=r"column 'litt'.*rfm_summary\(\.\.\., litt=True\)"):
        BetaGeoCNBD().fit(cdnow_summary)
    with pytest.raises(DataError, match="litt"):
        ModifiedBetaGeoCNBD(k=2).fit(cdnow_summary)
    m = BetaGeoCNBD(k=1).fit(cdnow_summary)           # k = 1 needs no litt
    assert m.params_["r"] == pytest.approx(FHL2005["r"], abs=6e-4)


def test_bad_litt_and_bad_k_are_clear_errors(cdnow_litt):
    bad = cdnow_litt.copy()
    bad.loc[bad.index[3], "litt"] = np.nan
    with pytest.raises(DataError, match="litt values"):
        BetaGeoCNBD().fit(bad)
    with pytest.raises(DataError, match="missing column"):
        BetaGeoCNBD().fit(cdnow_litt.drop(columns="frequency"))
    for k in (0, 2.5, True, "2"):
        with pytest.raises(ConfigError, match="k="):
            BetaGeoCNBD(k=k).fit(cdnow_litt)


def test_path_matches_single_horizons_and_array_horizons_say_what_to_use(cdnow_litt):
    m = BetaGeoCNBD(k=2).fit(cdnow_litt)
    s = cdnow_litt.iloc[:40]
    path = m.expected_purchases_path([5.0, 52.0], s)
    stats = [s[c].to_numpy() for c in ("frequency", "recency", "T")]
    np.testing.assert_allclose(path[1], bgcnbd.expected_purchases(m._params(), 52.0, *stats),
                               rtol=1e-12)
    with pytest.raises(ModelError, match="depends on recency too"):
        bgcnbd._no_array_horizon(m._params(), np.ones(3), *stats[:1], stats[2])
    disc = m.discounted_purchases(np.array([5.0, 52.0]), np.array([1.0, 0.5]), s)
    np.testing.assert_allclose(disc, path[0] + 0.5 * (path[1] - path[0]), rtol=1e-12)
    draws = m.sample_params(5)
    assert np.all(draws["k"] == 2.0) and np.all(draws[["r", "alpha", "a", "b"]] > 0)


def test_weighted_rows_equal_expanded_rows(cdnow_litt):
    s = cdnow_litt.iloc[:600]
    w = s.assign(weights=2.0)
    a, b = BetaGeoCNBD(k=2).fit(pd.concat([s, s])), BetaGeoCNBD(k=2).fit(w)
    np.testing.assert_allclose(a.params_, b.params_, rtol=1e-6)
    assert a.log_likelihood_ == pytest.approx(b.log_likelihood_, rel=1e-10)


def _expected_if_alive_by_m(params, t, x, t_x, T, modified):
    """The module doc's double sum taken over purchases m with incomplete-beta tails (the model
    sums over tick counts with recurrences instead)."""
    from scipy.special import betainc, betaln, gammaln, logsumexp
    k, r, alpha, a, b = params
    R0, bp, q = r + k * x, b + x + (1.0 if modified else 0.0), t / (alpha + T + t)
    j = np.arange(k)
    with np.errstate(divide="ignore"):
        lw = gammaln(R0 + j) - gammaln(R0) - gammaln(j + 1) + j * np.log((T - t_x) / (alpha + T))
    lw[0] = 0.0
    pi = np.exp(lw - logsumexp(lw))
    m = np.arange(1, 1200)
    rho = np.exp(betaln(a, bp + m - 1) - betaln(a, bp))
    return sum(pi[i] * np.sum(rho * betainc(m * k - i, R0 + i, q)) for i in j)


@pytest.mark.parametrize("modified", [False, True])
def test_expectation_sums_match_the_sum_over_purchases(modified):
    mod = MODELS[modified][0]
    rows = [(0, 0.0, 30.0), (1, 5.0, 30.0), (4, 20.0, 25.0), (12, 29.5, 30.0), (60, 30.0, 39.0),
            (300, 38.0, 39.0)]
    for params in [(2, 1.3, 2.8, 0.42, 0.79), (5, 0.3, 0.2, 3.0, 0.5), (12, 2.0, 10.0, 0.1, 8.0)]:
        for t in (0.5, 52.0):
            x, t_x, T = map(np.array, zip(*rows))
            alive = expit(-mod.log_alive_odds(params, x, t_x, T))
            ref = [_expected_if_alive_by_m(params, t, *row, modified) for row in rows]
            np.testing.assert_allclose(mod.expected_purchases(params, t, x, t_x, T),
                                       alive * ref, rtol=1e-8, atol=1e-14)


@pytest.mark.parametrize("modified", [False, True])
def test_log_likelihood_is_the_likelihood_of_the_data_in_their_units(modified, cdnow_litt):
    """The fit works on time rescaled to max T = 1; the reported log-likelihood is that of the
    data as given (with (k - 1) litt), evaluated directly."""
    mod, cls, _, _ = MODELS[modified]
    for k in (1, 3):
        m = cls(k=k).fit(cdnow_litt)
        s = cdnow_litt
        direct = mod.loglik(m._params(), *(s[c].to_numpy() for c in ("frequency", "recency", "T",
                                                                      "litt"))).sum()
        assert m.log_likelihood_ == pytest.approx(direct, rel=1e-10)
