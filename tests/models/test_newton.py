"""The Newton path of the fit (analytic Hessian; subsample warm start above 100,000 rows) lands
on a stationary point of the *row-form* likelihood, which it never evaluates itself."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clvkit.models import BetaGeo, GammaGamma
from clvkit.models._arrays import Rows, compress

from model_sim import simulate_bgnbd, simulate_spend


def _row_gradient(model, stats, weights):
    """Mean gradient in log-parameters of the row-form log-likelihood at the estimate."""
    ll, g = model._loglik(model._params(), *stats.T, grad=True)
    return (weights @ g) / weights.sum()


@pytest.fixture(scope="module")
def big_bg():
    return simulate_bgnbd(150_000, 0.6, 4.0, 0.8, 2.5, seed=11)


def test_bgnbd_newton_fit_on_150k_rows_is_a_stationary_point(big_bg):
    m = BetaGeo().fit(big_bg)
    assert m.n_unique_ > 100_000                       # the subsample warm start was used
    assert m.optimizer_result_.message == "Newton steps converged"
    g = _row_gradient(m, m._stats, m._weights)
    assert np.max(np.abs(g)) < 1e-7
    assert m.params_.to_numpy() == pytest.approx([0.6, 4.0, 0.8, 2.5], rel=0.1)


def test_gammagamma_newton_fit_on_150k_rows_is_a_stationary_point():
    rng = np.random.default_rng(5)
    x = rng.integers(1, 20, 150_000)
    m_ = simulate_spend(x, 6.0, 4.0, 15.0, seed=6)
    data = pd.DataFrame({"frequency": x, "monetary_value": m_})
    m = GammaGamma().fit(data)
    assert not m._compressed and m.optimizer_result_.message == "Newton steps converged"
    g = _row_gradient(m, m._stats, m._weights)
    assert np.max(np.abs(g)) < 1e-7
    assert m.params_.to_numpy() == pytest.approx([6.0, 4.0, 15.0], rel=0.1)
    # the fingerprint does not depend on the row order, compressed or not
    again = GammaGamma().fit(data.sample(frac=1.0, random_state=1))
    assert again.data_fingerprint_ == m.data_fingerprint_


@pytest.mark.parametrize("module", ["bgnbd", "mbgnbd"])
def test_analytic_hessian_matches_differences_of_the_gradient(module, big_bg):
    import importlib
    mod = importlib.import_module(f"clvkit.models.{module}")
    sub = big_bg.iloc[:5000]
    stats = sub[["frequency", "recency", "T"]].to_numpy(float)
    uniq, w, cols = compress(stats, np.ones(len(stats)), columns=True)
    for params in ([0.6, 4.0, 0.8, 2.5], [1.3, 9.0, 3.0, 0.7]):
        theta = np.log(params)
        _, g, H = mod.loglik_total_hess(np.array(params), Rows(uniq, w, *cols))
        num = np.empty((4, 4))
        for j in range(4):
            e = np.zeros(4)
            e[j] = 1e-6
            up = mod.loglik_total(np.exp(theta + e), Rows(uniq, w, *cols), grad=True)[1]
            dn = mod.loglik_total(np.exp(theta - e), Rows(uniq, w, *cols), grad=True)[1]
            num[:, j] = (up - dn) / 2e-6
        np.testing.assert_allclose(H, num, rtol=1e-5, atol=1e-6 * np.abs(H).max())


def test_gammagamma_analytic_hessian_matches_differences_of_the_gradient():
    from clvkit.models import gammagamma as gg
    rng = np.random.default_rng(0)
    x = rng.integers(1, 30, 500).astype(float)
    m = rng.gamma(3, 10, 500)
    stats, w = np.column_stack([x, m]), rng.integers(1, 4, 500).astype(float)
    theta = np.log([2.3, 3.1, 14.0])
    ll, g, H = gg.loglik_total_hess(np.exp(theta), Rows(stats, w, (), ()))
    assert ll == pytest.approx(w @ gg.loglik(np.exp(theta), x, m), rel=1e-12)
    np.testing.assert_allclose(g, w @ gg.loglik(np.exp(theta), x, m, grad=True)[1], rtol=1e-9)
    num = np.empty((3, 3))
    for j in range(3):
        e = np.zeros(3)
        e[j] = 1e-6
        up = gg.loglik_total_hess(np.exp(theta + e), Rows(stats, w, (), ()))[1]
        dn = gg.loglik_total_hess(np.exp(theta - e), Rows(stats, w, (), ()))[1]
        num[:, j] = (up - dn) / 2e-6
    np.testing.assert_allclose(H, num, rtol=1e-6, atol=1e-6 * np.abs(H).max())
