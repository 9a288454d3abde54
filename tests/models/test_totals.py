"""Fast paths of the fit: hash-based compression with per-column codes, and the weighted total
log-likelihoods evaluated on distinct values, against the plain per-row forms."""
import numpy as np
import pytest

from clvkit.models import BetaGeo, ModifiedBetaGeo
from clvkit.models import bgnbd, mbgnbd
from clvkit.models._arrays import Rows, compress


def _rows(n=20_000, seed=0, grid=1):
    """Simulated-looking (x, t_x, T) in weeks on a grid of ``grid`` days, with repeated rows."""
    rng = np.random.default_rng(seed)
    T = rng.integers(1, 365 // grid, n) * grid / 7
    x = rng.poisson(rng.gamma(0.5, 2.0, n)).astype(float)
    t_x = np.where(x > 0, np.floor(rng.uniform(0, 1, n) * T * 7 / grid) * grid / 7, 0.0)
    return np.column_stack([x, t_x, T])


def test_compress_columns_match_numpy_and_rebuild_rows():
    stats = _rows()
    w = np.random.default_rng(1).integers(1, 4, len(stats)).astype(float)
    u_ref, inv = np.unique(stats, axis=0, return_inverse=True)
    for weights in (np.ones(len(stats)), w):
        u, wsum, (levels, codes) = compress(stats, weights, columns=True)
        np.testing.assert_array_equal(u, u_ref)
        np.testing.assert_allclose(wsum, np.bincount(inv.ravel(), weights=weights))
        for j in range(3):
            np.testing.assert_array_equal(levels[j], np.unique(stats[:, j]))
            np.testing.assert_array_equal(levels[j][codes[j]], u[:, j])


def test_scaled_rows_equal_dividing_the_rows():
    u, w, cols = compress(_rows(), np.ones(20_000), columns=True)
    scaled = Rows(u, w, *cols).scaled({1: 52.0, 2: 52.0})
    np.testing.assert_array_equal(scaled.stats[:, 1:], u[:, 1:] / 52.0)
    for j in (1, 2):
        np.testing.assert_array_equal(scaled.levels[j][scaled.codes[j]], u[:, j] / 52.0)


@pytest.mark.parametrize("module", [bgnbd, mbgnbd])
@pytest.mark.parametrize("params", [(0.24, 4.4, 0.79, 2.4), (1.0, 1.0, 1.0, 1.0),
                                    (0.1, 0.05, 0.1, 0.1), (3.0, 0.01, 0.5, 20.0),
                                    (2.0, 300.0, 2.0, 0.3)])
@pytest.mark.parametrize("grid", [1, 7])   # daily times: e^u per row; weekly: e^u from tables
def test_total_equals_weighted_sum_of_per_row_loglik(module, params, grid):
    stats = _rows(grid=grid)
    stats[:5] = [[2000, 50, 52], [150, 1, 52], [1, 1, 52], [0, 0, 52], [300, 1, 100]]
    u, w, cols = compress(stats, np.random.default_rng(2).integers(1, 5, len(stats)),
                          columns=True)
    ll, g = module.loglik(params, *u.T, grad=True)
    total, g_total = module.loglik_total(params, Rows(u, w, *cols), grad=True)
    assert total == pytest.approx(w @ ll, rel=1e-12)
    np.testing.assert_allclose(g_total, w @ g, rtol=1e-9, atol=1e-9 * np.abs(w @ g).max())
    assert module.loglik_total(params, Rows(u, w, *cols)) == total


def test_subclass_with_its_own_loglik_does_not_inherit_the_total():
    class Other(BetaGeo):
        _loglik = staticmethod(mbgnbd.loglik)

    u, w, cols = compress(_rows(), np.ones(20_000), columns=True)
    rows = Rows(u, w, *cols)
    p = np.array([0.5, 2.0, 0.8, 2.5])
    assert Other()._total(p, rows) == pytest.approx(w @ mbgnbd.loglik(p, *u.T), rel=1e-13)
    assert ModifiedBetaGeo()._total(p, rows) == pytest.approx(w @ mbgnbd.loglik(p, *u.T),
                                                              rel=1e-12)


def test_weekly_grid_takes_the_table_form_and_daily_the_per_row_form():
    for grid, tables in ((7, True), (1, False)):
        u, w, cols = compress(_rows(grid=grid), np.ones(20_000), columns=True)
        rows = Rows(u, w, *cols)
        bgnbd.loglik_total((0.24, 4.4, 0.79, 2.4), rows)
        assert (rows._memo["bg_total"][-1] is not None) == tables
