"""The shared model machinery: compression, quantiles, validation, optimiser failure modes,
covariance, persistence and parameter draws (model-specific values live in the model tests)."""
from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sstats

from clvkit.errors import ConvergenceError, DataError, ModelError, StatisticalWarning
from clvkit.models import BetaGeo, GammaGamma, Model
from clvkit.models._base import column_quantiles, compress, per_count, rfm_arrays, unique_rows


# ---------------------------------------------------------------- toy models (the add-a-model contract)
def normal_loglik(params, x, *, grad=False):
    """N(mu, sigma) log-density; ``nuisance`` does not enter (a singular Hessian)."""
    mu, sigma, _ = (float(p) for p in params)
    x = np.asarray(x, dtype=float)
    z = (x - mu) / sigma
    ll = -0.5 * z ** 2 - np.log(sigma) - 0.5 * np.log(2 * np.pi)
    if not grad:
        return ll
    g = np.stack([mu * z / sigma, z ** 2 - 1, np.zeros_like(x)], axis=-1)
    return ll, g


class ToyNormal(Model):
    param_names = ("mu", "sigma", "nuisance")
    stat_names = ("value",)
    scale_stat = None
    scale_stats = ()
    scale_params = ()
    needs_time_unit = False
    _loglik = staticmethod(normal_loglik)

    def _statistics(self, data):
        return data[["value"]].to_numpy(dtype=float), self._weights_of(data, len(data))

    def _start_points(self, stats, weights):
        return [np.array([1.0, 1.0, 1.0])]


class ToyNaN(ToyNormal):
    _loglik = staticmethod(lambda params, x, grad=False: (np.full(len(x), np.nan),
                                                          np.zeros((len(x), 3))))


class ToyRunaway(ToyNormal):
    """ll increases without bound in log(nuisance): the estimate runs to the boundary."""
    _loglik = staticmethod(lambda params, x, grad=False: (
        np.full(len(x), np.log(params[2])), np.tile([0.0, 0.0, 1.0], (len(x), 1))))


def _values(n=500, seed=0):
    return pd.DataFrame({"value": np.random.default_rng(seed).normal(3.0, 2.0, n)})


def test_singular_hessian_warns_and_leaves_nan_covariance():
    with pytest.warns(StatisticalWarning, match="Hessian is singular.*standard errors are NaN"):
        m = ToyNormal().fit(_values())
    assert m.params_["mu"] == pytest.approx(_values()["value"].mean(), rel=1e-6)
    assert m.cov_.isna().all().all() and m.se_.isna().all()
    with pytest.raises(ModelError, match="covariance is NaN"):
        m.sample_params(10)


def test_failed_optimisation_is_a_convergence_error_with_checklist_and_result():
    with pytest.raises(ConvergenceError, match="did not converge.*Likely causes.*time unit") as err:
        ToyNaN().fit(_values())
    assert err.value.result is not None


def test_parameter_running_off_is_a_model_error_not_a_converged_fit():
    with pytest.raises(ModelError, match="nuisance ran off to 0 or infinity"):
        ToyRunaway().fit(_values())


# ---------------------------------------------------------------- covariance and summary
@pytest.fixture(scope="module")
def bg(cdnow_summary):
    return BetaGeo(ci_level=0.9).fit(cdnow_summary)


def test_cov_is_symmetric_positive_definite_and_summary_uses_ci_level(bg):
    cov = bg.cov_.to_numpy()
    np.testing.assert_allclose(cov, cov.T)
    assert np.linalg.eigvalsh(cov).min() > 0
    s = bg.summary()
    assert list(s.columns) == ["estimate", "se", "lower", "upper"]
    z = sstats.norm.ppf(0.95)
    np.testing.assert_allclose(np.log(s["upper"] / s["estimate"]), z * s["se"] / s["estimate"])
    assert (s["lower"] < s["estimate"]).all() and (s["estimate"] < s["upper"]).all()
    html = bg._repr_html_()
    assert "BetaGeo" in html and "2,357 customers" in html and "<table" in html


def test_penalizer_shrinks_the_parameters(cdnow_summary, bg):
    pen = BetaGeo(penalizer=0.1).fit(cdnow_summary)
    assert np.sum(pen.params_ ** 2) < np.sum(bg.params_ ** 2)


# ---------------------------------------------------------------- persistence
def test_save_writes_params_cov_unit_and_fingerprint(bg, tmp_path, cdnow_summary):
    doc = json.loads(bg.save(tmp_path / "bg.json").read_text())
    assert doc["model"] == "BetaGeo" and doc["time_unit"] == "W"
    assert doc["params"] == pytest.approx(bg.params_.to_dict())
    assert doc["fit"]["n_customers"] == 2357 and doc["fit"]["converged"] is True
    again = BetaGeo().fit(cdnow_summary.sample(frac=1.0, random_state=0))
    assert again._fingerprint() == doc["fit"]["data_fingerprint"]     # order does not matter
    other = BetaGeo().fit(cdnow_summary.iloc[:2000])
    assert other._fingerprint() != doc["fit"]["data_fingerprint"]


def test_model_load_dispatches_on_the_file_and_class_load_checks_it(bg, tmp_path):
    path = bg.save(tmp_path / "bg.json")
    loaded = Model.load(path)
    assert type(loaded) is BetaGeo and loaded.ci_level == 0.9
    pd.testing.assert_series_equal(loaded.params_, bg.params_)
    with pytest.raises(ModelError, match="holds a BetaGeo model, not a GammaGamma"):
        GammaGamma.load(path)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ModelError, match="not a clvkit model file"):
        BetaGeo.load(bad)


# ---------------------------------------------------------------- draws and intervals
def test_sample_params_follow_the_estimated_sampling_distribution(bg):
    draws = bg.sample_params(4000, seed=1)
    assert list(draws.columns) == ["r", "alpha", "a", "b"] and (draws > 0).all().all()
    log_cov = np.cov(np.log(draws.to_numpy()).T)
    sd = np.sqrt(np.diag(bg._cov_log))
    # sampling error of a covariance from 4,000 draws: about sd_i sd_j / sqrt(4000); allow 4x
    assert np.all(np.abs(log_cov - bg._cov_log) < 4 * np.outer(sd, sd) / np.sqrt(4000))
    pd.testing.assert_frame_equal(draws, bg.sample_params(4000, seed=1))


def test_probability_alive_interval_is_vectorised_and_brackets_the_estimate(bg, cdnow_summary):
    iv = bg.probability_alive_interval(cdnow_summary, level=0.9, n_draws=100, seed=0)
    assert iv.index.equals(cdnow_summary.index)
    np.testing.assert_allclose(iv["estimate"], bg.probability_alive(cdnow_summary))
    assert ((iv["lower"] <= iv["estimate"] + 1e-12) & (iv["estimate"] <= iv["upper"] + 1e-12)).all()
    assert ((iv["lower"] >= 0) & (iv["upper"] <= 1)).all()
    ep = bg.expected_purchases_interval(cdnow_summary, horizon=10.0, level=0.5, n_draws=50, seed=0)
    wide = bg.expected_purchases_interval(cdnow_summary, horizon=10.0, level=0.95, n_draws=50, seed=0)
    assert (wide["upper"] - wide["lower"] >= ep["upper"] - ep["lower"] - 1e-12).all()
    with pytest.raises(DataError, match="level=1.5 must be in"):
        bg.probability_alive_interval(cdnow_summary, level=1.5)


# ---------------------------------------------------------------- helpers
def test_unique_rows_and_compress_match_numpy():
    a = np.random.default_rng(0).integers(0, 6, (3000, 3)).astype(float) / 2
    u, inv = unique_rows(a)
    u2, inv2 = np.unique(a, axis=0, return_inverse=True)
    np.testing.assert_array_equal(u, u2)
    np.testing.assert_array_equal(inv, inv2.ravel())
    cu, w = compress(a, np.ones(len(a)))
    assert w.sum() == 3000 and len(cu) == len(u2)


def test_column_quantiles_match_nanquantile():
    a = np.random.default_rng(1).normal(size=(101, 40))
    a[5, 3] = np.nan
    a[:, 9] = np.nan
    got = column_quantiles(a, [0.05, 0.5, 0.95])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ref = np.nanquantile(a, [0.05, 0.5, 0.95], axis=0)
    for g, r in zip(got, ref):
        np.testing.assert_allclose(g, r, equal_nan=True)


def test_per_count_uses_a_table_only_for_integer_counts():
    x = np.random.default_rng(2).integers(0, 30, 500).astype(float)
    np.testing.assert_allclose(per_count(lambda k: np.stack([k ** 2, np.sqrt(k)]), x),
                               np.stack([x ** 2, np.sqrt(x)]))
    frac = x + 0.5
    np.testing.assert_allclose(per_count(lambda k: k ** 2, frac), frac ** 2)


def test_rfm_arrays_names_the_first_ids():
    frame = pd.DataFrame({"frequency": [1, 2, 3], "recency": [5.0, 9.0, 1.0], "T": [6.0, 8.0, 2.0]},
                         index=pd.Index(["A", "B", "C"], name="customer_id"))
    with pytest.raises(DataError, match=r"recency > T for 1 customers.*\(e\.g\. row B\).*observation_end"):
        rfm_arrays(frame)
    x, t_x, T, index = rfm_arrays(frame.assign(recency=[5.0, 8.0, 1.0]))
    assert index.equals(frame.index) and x.dtype == float
