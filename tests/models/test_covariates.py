"""Static covariates for Pareto/NBD and BG/NBD (issue 16, item 1): parameter recovery on data
simulated from each model with covariates in CLVTools' parameterisation, invariance to the
scale of a column, persistence, plain-words effects, and one clear error per bad input."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clvkit import config as cfg_mod
from clvkit.errors import ConfigError, DataError, ModelError
from clvkit.models import BetaGeo, Model, ParetoNBD
from clvkit.models.covariates import effects

#: true coefficients, with "offline" as the reference level (sorted first)
TRUE_P = {"channel[online]": -0.6, "channel[store]": -1.0}


def simulate(n, seed, kind):
    """Customers of a Pareto/NBD or BG/NBD whose purchase scale alpha (and dropout) depend on
    the acquisition channel: offline customers buy exp(0.6) times as often as online ones."""
    rng = np.random.default_rng(seed)
    channel = rng.choice(["online", "offline", "store"], n, p=[0.5, 0.3, 0.2])
    off, sto = (channel == "offline").astype(float), (channel == "store").astype(float)
    T = rng.uniform(30, 80, n)
    alpha_i = 8.0 * np.exp(-(0.6 * off - 0.4 * sto))
    lam = rng.gamma(0.8, 1 / alpha_i)
    t, x, t_x, active = np.zeros(n), np.zeros(n), np.zeros(n), np.ones(n, bool)
    if kind == "pnbd":                                   # beta_i = 12 exp(-0.5 offline)
        end = np.minimum(rng.exponential(1 / rng.gamma(0.6, 1 / (12.0 * np.exp(-0.5 * off)))), T)
    else:                                                # a_i, b_i = (0.8, 3) exp(0.7 offline)
        p = rng.beta(0.8 * np.exp(0.7 * off), 3.0 * np.exp(0.7 * off))
        end = T
    while active.any():
        t = t + rng.exponential(1.0, n) / lam
        active &= t <= end
        x += active
        t_x = np.where(active, t, t_x)
        if kind != "pnbd":
            active &= rng.uniform(size=n) > p
    d = pd.DataFrame({"frequency": x, "recency": t_x, "T": T, "channel": channel,
                      "age": rng.normal(40, 10, n).round()},
                     index=pd.Index(np.arange(n), name="customer_id"))
    d.attrs["time_unit"] = "W"
    return d


@pytest.fixture(scope="module")
def pnbd_data():
    return simulate(8000, 1, "pnbd")


@pytest.fixture(scope="module")
def bg_data():
    return simulate(8000, 2, "bgnbd")


@pytest.fixture(scope="module")
def pnbd_fit(pnbd_data):
    return ParetoNBD().fit(pnbd_data, purchase_covariates=["channel"],
                           dropout_covariates=["channel"])


@pytest.fixture(scope="module")
def bg_fit(bg_data):
    return BetaGeo().fit(bg_data, purchase_covariates=["channel"], dropout_covariates=["channel"])


def _within(m, name, truth, k=3.5):
    est, se = m.params_[name], m.se_[name]
    assert abs(est - truth) < k * se, f"{name}: {est:.3f} +/- {se:.3f}, truth {truth}"


def test_pareto_nbd_recovers_the_simulated_coefficients(pnbd_fit):
    m = pnbd_fit
    assert list(m.params_.index) == ["r", "alpha", "s", "beta", "purchase_channel[online]",
                                     "purchase_channel[store]", "dropout_channel[online]",
                                     "dropout_channel[store]"]
    for name, truth in TRUE_P.items():
        _within(m, "purchase_" + name, truth)
    _within(m, "dropout_channel[online]", -0.5)
    _within(m, "dropout_channel[store]", -0.5)
    _within(m, "r", 0.8)
    _within(m, "alpha", 8.0 * np.exp(-0.6))          # the reference level's alpha
    _within(m, "s", 0.6)
    _within(m, "beta", 12.0 * np.exp(-0.5))


def test_bg_nbd_recovers_the_simulated_coefficients(bg_fit):
    m = bg_fit
    for name, truth in TRUE_P.items():
        _within(m, "purchase_" + name, truth)
    _within(m, "dropout_channel[online]", -0.7)
    _within(m, "dropout_channel[store]", -0.7)
    _within(m, "alpha", 8.0 * np.exp(-0.6))
    _within(m, "a", 0.8 * np.exp(0.7))
    _within(m, "b", 3.0 * np.exp(0.7))


def test_covariates_improve_the_likelihood_and_nest_the_plain_model(bg_data, bg_fit):
    plain = BetaGeo().fit(bg_data)
    assert bg_fit.log_likelihood_ > plain.log_likelihood_ + 10
    direct = 0.0                     # the reported log-likelihood is that of the data
    P = pd.get_dummies(bg_data["channel"])[["online", "store"]].to_numpy(float)
    for g in np.unique(P, axis=0):
        rows = (P == g).all(1)
        params = bg_fit._cov_params(g[None], g[None])[0]
        d = bg_data[rows]
        direct += BetaGeo._loglik(params, d["frequency"], d["recency"], d["T"]).sum()
    assert bg_fit.log_likelihood_ == pytest.approx(direct, rel=1e-9)


def test_a_rescaled_numeric_column_rescales_its_coefficient_only(bg_data):
    a = BetaGeo().fit(bg_data, purchase_covariates=["age"])
    b = BetaGeo().fit(bg_data.assign(age=bg_data["age"] * 1000 + 5),
                      purchase_covariates=["age"])
    assert b.params_["purchase_age"] == pytest.approx(a.params_["purchase_age"] / 1000, rel=1e-4)
    assert b.log_likelihood_ == pytest.approx(a.log_likelihood_, rel=1e-9)
    np.testing.assert_allclose(b.params_[["r", "a", "b"]], a.params_[["r", "a", "b"]], rtol=1e-4)


def test_predictions_use_each_customers_parameters(bg_fit, bg_data):
    p = bg_fit.probability_alive()
    e = bg_fit.expected_purchases(bg_data, horizon=26.0)
    assert p.index.equals(bg_data.index) and np.all((p >= 0) & (p <= 1))
    one = bg_data.iloc[[0]]
    P = np.array([[one["channel"].iloc[0] == "online", one["channel"].iloc[0] == "store"]], float)
    plain = bg_fit._plain_model(bg_fit._cov_params(P, P)[0])
    assert e.iloc[0] == pytest.approx(plain.expected_purchases(one, horizon=26.0).iloc[0])
    path = bg_fit.expected_purchases_path([13.0, 26.0], bg_data)
    np.testing.assert_allclose(path[1], e.to_numpy())


def test_save_and_load_keep_the_covariates(pnbd_fit, pnbd_data, tmp_path):
    back = Model.load(pnbd_fit.save(tmp_path / "m.json"))
    assert back.covariates_ == pnbd_fit.covariates_
    pd.testing.assert_series_equal(back.params_, pnbd_fit.params_)
    pd.testing.assert_frame_equal(back.summary(), pnbd_fit.summary())
    np.testing.assert_allclose(back.expected_purchases(pnbd_data, horizon=10.0),
                               pnbd_fit.expected_purchases(horizon=10.0), rtol=1e-12)
    again = Model.load(back.save(tmp_path / "m2.json"))
    pd.testing.assert_series_equal(again.params_, pnbd_fit.params_)


def test_coefficient_intervals_are_normal_and_effects_are_worded(pnbd_fit):
    s = pnbd_fit.summary()
    row = s.loc["purchase_channel[online]"]
    assert row["lower"] == pytest.approx(row["estimate"] - 1.959964 * row["se"], rel=1e-6)
    eff = effects(pnbd_fit, level=0.9)
    online = eff.loc["purchase_channel[online]"]
    assert online["factor"] == pytest.approx(np.exp(row["estimate"]))
    pct = round((1 - online["factor"]) * 100)
    assert online["wording"].startswith(f"customers with channel = online buy {pct} % less often")
    assert "(90% interval" in online["wording"]
    assert "drop out" in eff.loc["dropout_channel[online]", "wording"]
    with pytest.raises(ModelError, match="fitted without covariates"):
        effects(ParetoNBD())


@pytest.mark.parametrize("change, kw, match", [
    (lambda d: d, {"purchase_covariates": ["region"]}, "covariate column 'region' is missing"),
    (lambda d: d.assign(channel=d["channel"].where(d.index > 2)), {"purchase_covariates":
     ["channel"]}, r"column 'channel': 3 customers without a value.*fix: fill"),
])
def test_bad_covariate_input_is_one_data_error(bg_data, change, kw, match):
    with pytest.raises(DataError, match=match):
        BetaGeo().fit(change(bg_data), **kw)


def test_a_constant_covariate_and_unknown_levels_are_refused(bg_data, bg_fit):
    with pytest.raises(ModelError, match="purchase covariate flag has the same value"):
        BetaGeo().fit(bg_data.assign(flag=1.0), purchase_covariates=["flag"])
    with pytest.raises(DataError, match="level the model was not fitted on"):
        bg_fit.probability_alive(bg_data.assign(channel="phone"))
    with pytest.raises(ModelError, match="expected_purchases_new_customer is not available"):
        bg_fit.expected_purchases_new_customer(horizon=10.0)
    with pytest.raises(ModelError, match="predicts from a summary frame that holds the "
                                         "covariate columns \\(channel\\), not from arrays"):
        bg_fit.probability_alive(np.array([1.0]), np.array([2.0]), np.array([10.0]))
    with pytest.raises(ModelError, match="probability_alive_interval is not available"):
        bg_fit.probability_alive_interval(bg_data)


def test_parameter_draws_include_the_coefficients(bg_fit):
    """Draws on (log r, log alpha, log a, log b, coefficients) from the fit's covariance: their
    mean and covariance match it, base parameters stay positive, and a draw predicts per
    customer like the fit (as the report's value intervals use them)."""
    draws = bg_fit.sample_params(4000, seed=1)
    assert list(draws.columns) == list(bg_fit.params_.index)
    coef = [c for c in draws.columns if "[" in c]
    np.testing.assert_allclose(draws[coef].mean(), bg_fit.params_[coef],
                               atol=4 * bg_fit.se_[coef].max() / np.sqrt(4000))
    cov = bg_fit.cov_.loc[coef, coef].to_numpy()                # within ~4 sampling sd:
    np.testing.assert_allclose(draws[coef].var(), np.diag(cov), rtol=0.1)  # sd 2.2 %
    sd = np.sqrt(np.diag(cov))
    np.testing.assert_allclose(draws[coef].corr().to_numpy(), cov / np.outer(sd, sd),
                               atol=0.06)                                   # sd 0.016
    assert (draws[["r", "alpha", "a", "b"]] > 0).all().all()
    same = bg_fit.with_params(bg_fit.params_.to_numpy())
    pd.testing.assert_series_equal(same.probability_alive(), bg_fit.probability_alive())


def test_config_key_model_covariates(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("scenario: cov\ndata: {source: cdnow}\nsatisfaction: {enabled: false}\n"
                    "impact: {enabled: false}\nmodel:\n  transaction: paretonbd\n  covariates:\n"
                    "    purchase: [channel]\n")
    c = cfg_mod.load(path)
    assert c.model.covariates.purchase == ("channel",)
    path.write_text("scenario: cov\ndata: {source: cdnow}\nsatisfaction: {enabled: false}\n"
                    "impact: {enabled: false}\nmodel:\n  transaction: ggomnbd\n  covariates:\n"
                    "    dropout: [channel]\n")
    with pytest.raises(ConfigError, match=r"model\.covariates: covariates need a purchase model "
                                          r"that takes them \(bgnbd, paretonbd, mbgnbd\), not ggomnbd"):
        cfg_mod.load(path)
