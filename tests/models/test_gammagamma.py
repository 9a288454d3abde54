"""Gamma-Gamma: FHL (2005, RFM and CLV) CDNOW values, lifetimes parity, gradient, recovery,
the frequency-spend correlation warning, bad input."""
from __future__ import annotations

import warnings

import mpmath as mp
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clvkit.errors import DataError, ModelError, StatisticalWarning
from clvkit.models import GammaGamma
from clvkit.models import gammagamma as gg

from model_sim import simulate_spend

FHL = {"p": 6.25, "q": 3.74, "gamma": 15.44}
FIRST_TEN = [24.65, 18.91, 35.17, 35.17, 35.17, 71.46, 18.91, 35.17, 27.28, 35.17]


@pytest.fixture(scope="module")
def fitted(cdnow_spend):
    return GammaGamma().fit(cdnow_spend)


def test_gammagamma_params_match_fhl2005(fitted):
    for k, v in FHL.items():
        assert fitted.params_[k] == pytest.approx(v, abs=0.01)
    assert fitted.log_likelihood_ == pytest.approx(-4055.92, abs=0.01)
    assert fitted.n_customers_ == 946 and fitted.n_excluded_ == 2357 - 946
    assert fitted.time_unit_ == "W"
    assert "1,411 customers without repeat purchases were excluded" in fitted._repr_html_()


def test_expected_spend_of_first_ten_match_fhl2005(fitted, cdnow_spend):
    got = fitted.expected_spend(cdnow_spend).iloc[:10]
    np.testing.assert_allclose(got, FIRST_TEN, atol=0.01)
    assert got.index.equals(cdnow_spend.index[:10]) and got.name == "expected_spend"


def test_params_se_and_predictions_match_lifetimes(fitted, cdnow_spend):
    import lifetimes  # only here: it sets a global pandas option
    r = cdnow_spend[cdnow_spend.frequency > 0]
    lf = lifetimes.GammaGammaFitter().fit(r["frequency"].to_numpy(), r["monetary_value"].to_numpy())
    ours = fitted.params_.to_numpy()
    np.testing.assert_allclose(ours, lf.params_[["p", "q", "v"]], rtol=1e-3)
    np.testing.assert_allclose(fitted.se_.to_numpy(), lf.summary["se(coef)"][["p", "q", "v"]],
                               rtol=2e-2)
    np.testing.assert_allclose(
        fitted.expected_spend(cdnow_spend).to_numpy(),
        lf.conditional_expected_average_profit(cdnow_spend["frequency"],
                                               cdnow_spend["monetary_value"]).to_numpy(), rtol=1e-3)


def test_loglik_matches_mpmath():
    params, cases = (6.25, 3.74, 15.44), [(1, 10.0), (5, 30.0), (2000, 0.5)]
    got = gg.loglik(params, *np.array(cases).T)
    with mp.workdps(50):
        p, q, g = map(mp.mpf, params)
        # density of the mean of x gamma(p, nu) values, mixed over nu ~ gamma(q, g)
        ref = [float(mp.log(mp.gamma(p * x + q) / (mp.gamma(p * x) * mp.gamma(q)) * g ** q
                            * mp.mpf(m) ** (p * x - 1) * mp.mpf(x) ** (p * x)
                            / (x * mp.mpf(m) + g) ** (p * x + q))) for x, m in cases]
    np.testing.assert_allclose(got, ref, rtol=1e-12)


@settings(max_examples=60, deadline=None)
@given(st.tuples(*[st.floats(0.05, 50.0)] * 3),
       st.lists(st.tuples(st.integers(1, 3000), st.floats(0.01, 1e4)), min_size=1, max_size=8))
def test_gradient_matches_differences(params, rows):
    x, m = np.array(rows, float).T
    ll, g = gg.loglik(params, x, m, grad=True)
    assert np.all(np.isfinite(ll)) and np.all(np.isfinite(g))
    h = 1e-6
    # the terms cancel: finite differences carry roundoff ~ eps * (size of the terms) / h
    terms = (params[0] * x + params[1]) * (1 + np.abs(np.log(x * m + params[2])))
    for j in range(3):
        up, dn = np.log(params).copy(), np.log(params).copy()
        up[j] += h
        dn[j] -= h
        fd = (gg.loglik(np.exp(up), x, m) - gg.loglik(np.exp(dn), x, m)) / (2 * h)
        np.testing.assert_allclose(g[:, j], fd, rtol=1e-4, atol=1e-9 * (1 + terms.max()))


def _spend_frame(n, true, seed):
    rng = np.random.default_rng(seed)
    x = rng.poisson(3.0, n)
    frame = pd.DataFrame({"frequency": x, "monetary_value": simulate_spend(x, *true, seed=seed)})
    frame.attrs["time_unit"] = "W"
    return frame


def test_gammagamma_recovers_simulated_params_within_2_se():
    true = (6.0, 4.0, 15.0)
    m = GammaGamma().fit(_spend_frame(50_000, true, seed=11))
    for k, v in zip(("p", "q", "gamma"), true):
        assert abs(m.params_[k] - v) < 2 * m.se_[k], (k, m.params_[k], m.se_[k])


def test_reports_correlation_and_warns_only_when_strong(fitted):
    assert abs(fitted.frequency_spend_corr_) < 0.3
    with warnings.catch_warnings():
        warnings.simplefilter("error", StatisticalWarning)
        GammaGamma().fit(_spend_frame(2000, (6.0, 4.0, 15.0), seed=3))
    corr = _spend_frame(2000, (6.0, 4.0, 15.0), seed=3)
    corr["monetary_value"] = corr["monetary_value"] * (1 + corr["frequency"])
    with pytest.warns(StatisticalWarning, match="correlated .*assumes they are independent"):
        m = GammaGamma().fit(corr)
    assert m.frequency_spend_corr_ > 0.3


def test_no_repeaters_and_infinite_mean_are_model_errors(cdnow_spend, fitted):
    with pytest.raises(ModelError, match="none of the 1,411 customers has a repeat purchase"):
        GammaGamma().fit(cdnow_spend[cdnow_spend.frequency == 0])
    pd.testing.assert_series_equal(fitted.expected_spend(), fitted.expected_spend(cdnow_spend))
    heavy = fitted.with_params([6.0, 0.9, 15.0])
    with pytest.raises(ModelError, match="q = 0.900 <= 1, so mean spend is infinite"):
        heavy.expected_spend(2, 30.0)


@pytest.mark.parametrize("change, match", [
    (lambda s: s.assign(monetary_value=np.where(s.index == 1, 0.0, s.monetary_value)),
     r"1 repeat customers with monetary_value <= 0.*row 1"),
    (lambda s: s.drop(columns="monetary_value"), "missing column.*monetary_value"),
    (lambda s: s.assign(frequency=s.frequency * 1.5), "non-integer values"),
    (lambda s: s.assign(monetary_value=-s.monetary_value - 1), "column 'monetary_value'.*negative"),
])
def test_bad_spend_input_is_a_data_error(cdnow_spend, change, match):
    with pytest.raises(DataError, match=match):
        GammaGamma().fit(change(cdnow_spend))


def test_interval_brackets_the_estimate(fitted, cdnow_spend):
    iv = fitted.expected_spend_interval(cdnow_spend, level=0.9, n_draws=200, seed=0)
    assert list(iv.columns) == ["estimate", "lower", "upper"]
    assert iv.index.equals(cdnow_spend.index)
    assert np.all(iv["lower"] <= iv["estimate"]) and np.all(iv["estimate"] <= iv["upper"])
    again = fitted.expected_spend_interval(cdnow_spend, level=0.9, n_draws=200, seed=0)
    pd.testing.assert_frame_equal(iv, again)
