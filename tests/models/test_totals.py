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


def _assert_compress_matches_numpy(stats, weights):
    """compress(columns=True) against np.unique, with unit and with the given weights."""
    u_ref, inv = np.unique(stats, axis=0, return_inverse=True)
    for w in (np.ones(len(stats)), weights):
        u, wsum, (levels, codes) = compress(stats, w, columns=True)
        np.testing.assert_array_equal(u, u_ref)
        np.testing.assert_allclose(wsum, np.bincount(inv.ravel(), weights=w))
        for j in range(stats.shape[1]):
            np.testing.assert_array_equal(levels[j], np.unique(stats[:, j]))
            np.testing.assert_array_equal(levels[j][codes[j]], u[:, j])


def test_compress_columns_match_numpy_and_rebuild_rows():
    stats = _rows()
    _assert_compress_matches_numpy(stats, np.random.default_rng(1).integers(1, 4, len(stats)))


def test_scaled_rows_equal_dividing_the_rows():
    u, w, cols = compress(_rows(), np.ones(20_000), columns=True)
    scaled = Rows(u, w, *cols).scaled({1: 52.0, 2: 52.0})
    np.testing.assert_array_equal(scaled.stats[:, 1:], u[:, 1:] / 52.0)
    for j in (1, 2):
        np.testing.assert_array_equal(scaled.levels[j][scaled.codes[j]], u[:, j] / 52.0)


PARAMS = [(0.24, 4.4, 0.79, 2.4), (1.0, 1.0, 1.0, 1.0), (0.1, 0.05, 0.1, 0.1),
          (3.0, 0.01, 0.5, 20.0), (2.0, 300.0, 2.0, 0.3)]
EXTREME = [[2000, 50, 52], [150, 1, 52], [1, 1, 52], [0, 0, 52], [300, 1, 100]]


def _check_total(module, params, stats):
    u, w, cols = compress(stats, np.random.default_rng(2).integers(1, 5, len(stats)),
                          columns=True)
    ll, g = module.loglik(params, *u.T, grad=True)
    rows = Rows(u, w, *cols)
    total, g_total = module.loglik_total(params, rows, grad=True)
    assert total == pytest.approx(w @ ll, rel=1e-12)
    np.testing.assert_allclose(g_total, w @ g, rtol=1e-9, atol=1e-9 * np.abs(w @ g).max())
    assert module.loglik_total(params, rows) == total
    return rows


@pytest.mark.parametrize("module", [bgnbd, mbgnbd])
@pytest.mark.parametrize("params", PARAMS)
def test_total_per_row_form_equals_weighted_sum_of_per_row_loglik(module, params):
    """Daily times (tables larger than the rows) and extreme counts (u > 700): e^u per row."""
    stats = _rows()
    stats[:5] = EXTREME
    _check_total(module, params, stats)


@pytest.mark.parametrize("module", [bgnbd, mbgnbd])
@pytest.mark.parametrize("params", PARAMS)
def test_total_table_form_equals_weighted_sum_of_per_row_loglik(module, params):
    """Weekly times: e^u from the (x, T) and (x, t_x) tables, checked to be the path taken."""
    rows = _check_total(module, params, _rows(grid=7))
    keys = rows._memo[f"bg_total_{module is bgnbd}"][-1]
    assert keys is not None
    r, alpha, a, b = params
    first = int(np.searchsorted(rows.codes[0], 1)) if module is bgnbd else 0
    x, t_x, T = rows.stats[first:].T
    K1 = module._count_terms(r, a, b, rows.levels[0], False)[1]
    e = bgnbd._exp_u_from_tables(np.log(a) - K1, r + rows.levels[0],
                                 np.log(alpha + rows.levels[2]), np.log(alpha + rows.levels[1]),
                                 keys)
    u = np.log(a) - K1[rows.codes[0][first:]] + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
    assert e is not None
    np.testing.assert_allclose(e, np.exp(u), rtol=1e-12)


def test_table_form_declines_when_a_factor_would_overflow():
    """exp overflows above ~709.8: each table exponent must stay within +-700, not only their
    sum (r 10, alpha 25, a e^25, counts to 149: the (x, T) exponent reaches ~715)."""
    lev_x, lev_T, lev_tx = np.arange(150.0), np.linspace(40, 52, 13), np.linspace(0, 52, 53)
    r, alpha, a, b = 10.0, 25.0, np.exp(25.0), 1.0
    g = np.log(a) - bgnbd._count_terms(r, a, b, lev_x, False)[1]
    keys = (np.array([149 * len(lev_T) + 12]), np.array([149 * len(lev_tx) + 52]))
    assert bgnbd._exp_u_from_tables(g, r + lev_x, np.log(alpha + lev_T), np.log(alpha + lev_tx),
                                    keys) is None
    stats = np.column_stack([np.repeat(lev_x, 13), np.full(150 * 13, 30.0),
                             np.tile(lev_T, 150)])
    stats[stats[:, 0] == 0, 1] = 0.0
    u, w, cols = compress(stats, np.ones(len(stats)), columns=True)
    total = bgnbd.loglik_total((r, alpha, a, b), Rows(u, w, *cols))
    assert np.isfinite(total) and total == pytest.approx(w @ bgnbd.loglik((r, alpha, a, b), *u.T),
                                                          rel=1e-12)


def test_bg_and_mbg_totals_on_the_same_rows_do_not_share_cached_terms():
    u, w, cols = compress(_rows(grid=7), np.ones(20_000), columns=True)
    rows, p = Rows(u, w, *cols), (0.5, 2.0, 0.8, 2.5)
    bgnbd.loglik_total(p, rows)
    assert mbgnbd.loglik_total(p, rows) == pytest.approx(w @ mbgnbd.loglik(p, *u.T), rel=1e-12)


def test_empty_rows_total_is_zero():
    u, w, cols = compress(np.empty((0, 3)), np.empty(0), columns=True)
    for module in (bgnbd, mbgnbd):
        assert module.loglik_total((1.0, 1.0, 1.0, 1.0), Rows(u, w, *cols)) == 0.0


def test_subclass_with_its_own_loglik_does_not_inherit_the_total():
    class Other(BetaGeo):
        _loglik = staticmethod(mbgnbd.loglik)

    u, w, cols = compress(_rows(), np.ones(20_000), columns=True)
    rows = Rows(u, w, *cols)
    p = np.array([0.5, 2.0, 0.8, 2.5])
    assert Other()._total(p, rows) == pytest.approx(w @ mbgnbd.loglik(p, *u.T), rel=1e-13)
    assert ModifiedBetaGeo()._total(p, rows) == pytest.approx(w @ mbgnbd.loglik(p, *u.T),
                                                              rel=1e-12)


def test_compress_falls_back_to_numpy_when_the_packed_key_would_overflow():
    """Five columns of ~20,000 distinct values: 20,000^5 > 2^62 combinations."""
    rng = np.random.default_rng(4)
    stats = rng.integers(0, 20_000, (30_000, 5)).astype(float)
    stats[10_000:20_000] = stats[:10_000]                  # repeated rows
    _assert_compress_matches_numpy(stats, rng.integers(1, 4, len(stats)).astype(float))
