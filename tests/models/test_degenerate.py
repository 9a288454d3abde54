"""BG/NBD, MBG/NBD and Pareto/NBD at the edge of their parameter space (issue 11, item 3).

With no dropout in the data the likelihood rises towards b -> inf, where the model is the NBD;
the fit takes that limit (P(alive) = 1) instead of stopping anywhere on the ridge, where the
hypergeometric predictions overflowed to -inf. An estimate whose predictions are still not
finite (a dropout probability nearly the same for everyone) is refused with a ModelError.
Nothing non-finite reaches a score, also through `clvkit score`.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import optimize
from scipy.special import gammaln

from clvkit import cli
from clvkit.errors import ModelError, StatisticalWarning
from clvkit.models import BetaGeo, Model, ModifiedBetaGeo, bgnbd, mbgnbd

from model_sim import simulate_bgnbd

MODELS = [BetaGeo, ModifiedBetaGeo]


@pytest.fixture(scope="module")
def no_dropout():
    """3,000 customers who never drop out (p ~ Beta(1e-9, 1e9))."""
    return simulate_bgnbd(3000, 0.5, 5.0, 1e-9, 1e9, seed=1)


def nbd_mle(d):
    """The NBD (no-dropout) MLE of (r, alpha), written out here as an independent oracle."""
    x, T = d["frequency"].to_numpy(float), d["T"].to_numpy(float)

    def nll(th):
        r, alpha = np.exp(th)
        return -np.sum(gammaln(r + x) - gammaln(r) + r * np.log(alpha) - (r + x) * np.log(alpha + T))

    res = optimize.minimize(nll, np.log([1.0, 1.0]), method="Nelder-Mead",
                            options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 20_000})
    return np.exp(res.x), -res.fun


@pytest.mark.parametrize("cls", MODELS)
def test_no_dropout_fit_takes_the_nbd_limit(cls, no_dropout):
    with pytest.warns(StatisticalWarning, match=r"no dropout in this history.*b -> infinity"):
        m = cls().fit(no_dropout)
    (r, alpha), ll = nbd_mle(no_dropout)
    assert np.isinf(m.params_["b"]) and m.params_["a"] == 1.0
    assert m.params_[["r", "alpha"]].to_numpy() == pytest.approx([r, alpha], rel=1e-5)
    assert m.log_likelihood_ == pytest.approx(ll, rel=1e-9)
    assert "no dropout" in m.boundary_
    assert np.all(np.isfinite(m.se_[["r", "alpha"]])) and np.isnan(m.se_["b"])
    p = m.probability_alive()
    e = m.expected_purchases(horizon=52.0)
    assert (p == 1.0).all()
    x, T = no_dropout["frequency"], no_dropout["T"]
    np.testing.assert_allclose(e, (r + x) * 52.0 / (alpha + T), rtol=1e-5)
    ts = np.array([13.0, 26.0, 52.0])
    path = m.expected_purchases_path(ts)
    assert np.all(np.isfinite(path)) and np.all(np.diff(path, axis=0) > 0)
    assert np.all(np.isfinite(m.expected_purchases_new_customer(horizon=ts)))
    pmf = m.probability_of_purchases(np.arange(400), horizon=52.0)
    assert pmf.sum() == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize("mod", [bgnbd, mbgnbd])
def test_limit_forms_are_the_limits_of_the_closed_forms(mod):
    x, t_x, T = np.array([0.0, 1, 4, 30]), np.array([0.0, 5, 20, 38]), np.full(4, 39.0)
    limit = (0.7, 4.0, 0.5, np.inf)
    near = (0.7, 4.0, 0.5, 1e8)         # the closed forms approach the limit as O(a / b)
    np.testing.assert_allclose(mod.expected_purchases(near, 52.0, x, t_x, T),
                               mod.expected_purchases(limit, 52.0, x, t_x, T), rtol=1e-6)
    np.testing.assert_allclose(mod.expected_purchases_new_customer(near, [1.0, 52.0]),
                               mod.expected_purchases_new_customer(limit, [1.0, 52.0]), rtol=1e-6)
    np.testing.assert_allclose(mod.probability_of_purchases(near, np.arange(5.0), 20.0),
                               mod.probability_of_purchases(limit, np.arange(5.0), 20.0),
                               rtol=1e-6)
    np.testing.assert_allclose(mod.loglik(near, x, t_x, T), mod.loglik(limit, x, t_x, T),
                               rtol=1e-5)


@pytest.mark.parametrize("cls", MODELS)
def test_the_limit_survives_save_and_load(cls, no_dropout, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StatisticalWarning)
        m = cls().fit(no_dropout)
    back = Model.load(m.save(tmp_path / "m.json"))
    assert np.isinf(back.params_["b"]) and back.boundary_ == m.boundary_
    np.testing.assert_array_equal(back.expected_purchases(no_dropout, horizon=10.0),
                                  m.expected_purchases(horizon=10.0))


def test_a_penalizer_keeps_b_finite(no_dropout):
    m = BetaGeo(penalizer=0.01).fit(no_dropout)
    assert np.all(np.isfinite(m.params_)) and m.boundary_ is None
    assert np.all(np.isfinite(m.expected_purchases(horizon=52.0)))


def test_real_dropout_is_not_mistaken_for_the_limit(cdnow_summary):
    m = BetaGeo().fit(cdnow_summary)
    assert m.boundary_ is None and np.isfinite(m.params_["b"])


def test_near_constant_dropout_is_refused_with_the_cause_and_fix():
    """p = 0.3 for everyone: a, b -> inf together; the closed forms overflow there."""
    d = simulate_bgnbd(4000, 1.0, 5.0, 0.3e7, 0.7e7, seed=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StatisticalWarning)
        with pytest.raises(ModelError, match=r"BetaGeo: the estimate .* makes the expected "
                                             r"purchases non-finite .*fix: refit with a small "
                                             r"penalizer"):
            BetaGeo().fit(d)
        m = BetaGeo(penalizer=0.001).fit(d)
    assert np.all(np.isfinite(m.expected_purchases(horizon=52.0)))


def _no_dropout_transactions(n, seed):
    """Transactions of ``n`` customers who buy at their own Poisson rate for two years and
    never drop out."""
    rng = np.random.default_rng(seed)
    start, days = pd.Timestamp("2023-01-01"), 730
    rows = []
    for i, lam in enumerate(rng.gamma(1.5, 1 / 40.0, n)):           # purchases per day
        first = rng.integers(0, 300)
        k = rng.poisson(lam * (days - first))
        when = np.sort(np.r_[first, first + rng.uniform(0, days - first, k)])
        rows += [(f"C{i:05d}", start + pd.Timedelta(days=float(d)), round(rng.gamma(4, 5), 2))
                 for d in when]
    return pd.DataFrame(rows, columns=["customer_id", "date", "amount"])


@pytest.mark.parametrize("transaction", ["bgnbd", "mbgnbd"])
def test_clvkit_score_on_no_dropout_data_gives_finite_scores(transaction, tmp_path, capsys):
    tx = _no_dropout_transactions(1500, seed=3)
    tx["date"] = tx["date"].dt.strftime("%Y-%m-%d")
    tx.to_csv(tmp_path / "tx.csv", index=False)
    params = tmp_path / "nodrop.yaml"
    params.write_text(yaml.safe_dump({
        "scenario": "nodrop", "data": {"source": "files", "transactions": {"path": "tx.csv"}},
        "cleaning": {"observation_end": "2024-12-31"},
        "model": {"transaction": transaction, "spend": "gammagamma"},
        "satisfaction": {"enabled": False}, "impact": {"enabled": False}}))
    code = cli.main(["score", str(params), "--out", str(tmp_path / "out"),
                     "--run-date", "2025-01-15"])
    out, err = capsys.readouterr()
    if code == 2:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("clvkit: "), err
        pytest.fail(f"score refused the data instead of using the no-dropout limit: {err}")
    assert code == 0, err
    scored = pd.read_csv(tmp_path / "out" / "tiers.csv")
    scores = scored[["clv", "p_alive", "expected_purchases", "clv_at_risk"]].to_numpy(float)
    assert len(scored) == 1500 and np.isfinite(scores).all()
    assert (scored["p_alive"] == 1.0).all() and (scored["clv"] > 0).all()
    assert scored["tier"].notna().all()


# ------------------------------------------------ Pareto/NBD: rates with no spread (shape cap)

def test_pareto_nbd_stops_at_the_shape_cap_on_a_flat_ridge():
    """A 130-customer history (simulated, weekly) whose likelihood rises towards s -> infinity
    with s/beta fixed: one dropout rate for all. The fit ran for minutes along that ridge (the
    hypergeometric series needs ever more terms); it now stops at ``shape_cap`` and says so."""
    from clvkit.models import ParetoNBD
    from clvkit.models.paretonbd import loglik
    s = pd.read_csv(Path(__file__).parents[1] / "data" / "pareto_ridge_summary.csv")
    with pytest.warns(StatisticalWarning, match="dropout rates look the same"):
        m = ParetoNBD().fit(s, time_unit="W")
    p = m.params_
    assert p["s"] == pytest.approx(ParetoNBD.shape_cap) and "dropout" in m.boundary_
    assert np.isnan(m.se_["s"]) and np.isfinite(m.se_[["r", "alpha", "beta"]]).all()
    # the ridge is flat: ten times further along it, the likelihood gains less than 0.05
    x, t_x, T = (s[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    further = loglik([p["r"], p["alpha"], 10 * p["s"], 10 * p["beta"]], x, t_x, T).sum()
    assert further - m.log_likelihood_ < 0.05
    alive = m.probability_alive(s)
    assert np.all((alive >= 0) & (alive <= 1))


def test_pareto_nbd_fits_inside_the_cap_do_not_change():
    """CDNOW's published estimate (s = 0.61) is far from the cap: no boundary note."""
    from clvkit.datasets.cdnow import lifetimes_data_path
    from clvkit.models import ParetoNBD
    s = pd.read_csv(lifetimes_data_path("cdnow_customers_summary.csv"), index_col="ID")
    m = ParetoNBD().fit(s, time_unit="W")
    assert m.boundary_ is None and m.params_["s"] == pytest.approx(0.606, abs=1e-3)
