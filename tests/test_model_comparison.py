"""The pipeline's holdout-based model choice compares every purchase model of the registry,
and the report's comparison table shows each with its holdout error, log-likelihood, AIC and
fit time; costly models are fitted on a seeded sample of large calibration periods."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import yaml

from clvkit import config, notebook, pipeline
from clvkit.models import registry
from clvkit.rfm import calibration_holdout


@pytest.fixture(scope="module")
def cfg(tmp_path_factory):
    params = yaml.safe_load(notebook.default_params().read_text(encoding="utf-8"))
    params["scenario"] = "compare"
    params["data"]["simulate"].update(customers=800, seed=3)
    path = tmp_path_factory.mktemp("compare") / "compare.yaml"
    path.write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")
    return config.load(path)


@pytest.fixture(scope="module")
def frames(cfg):
    data = pipeline.load_data(cfg)
    summary = pipeline._summary(cfg, data)
    holdout = calibration_holdout(data.transactions, calibration_end=data.calibration_end,
                                  observation_end=data.observation_end, time_unit="W",
                                  litt=True)
    return summary, holdout


def test_every_purchase_model_is_a_default_candidate():
    assert set(registry.default_candidates()) == set(registry.purchase_models())
    assert {k for k, s in registry.purchase_models().items() if s.costly} == {
        "bgcnbd", "mbgcnbd", "ggomnbd"}


def test_comparison_lists_every_model_with_holdout_error_ll_aic_and_fit_time(cfg, frames):
    from clvkit import sections

    summary, holdout = frames
    assert "litt" in summary.columns              # the CNBD-k models are compared by default
    model, choice, cal_fits = pipeline.choose_transaction_model(cfg, summary, holdout)
    comp = choice.comparison
    assert list(comp.index) == list(registry.purchase_models())
    for col in ("holdout_mae", "log_likelihood", "aic", "fit_seconds"):
        assert np.isfinite(comp[col]).all() and (comp["fit_seconds"] > 0).all(), col
    # small data: every model on every calibration customer, its LL the fit's own
    assert (comp["fit_customers"] == len(holdout)).all()
    for k, f in cal_fits.items():
        assert comp.loc[k, "log_likelihood"] == pytest.approx(f.log_likelihood_, rel=1e-12)
    html = sections.model_comparison(type("R", (), {"model_choice": choice,
                                                    "config": cfg})()).to_html()
    for name in comp["name"]:
        assert name in html
    for header in ("holdout MAE", "log-likelihood", "AIC", "fit time (s)"):
        assert header in html


def test_costly_models_are_fitted_on_a_sample_of_large_periods(cfg, frames, monkeypatch):
    summary, holdout = frames
    monkeypatch.setattr(pipeline, "COMPARE_SAMPLE", 300)
    model, choice, cal_fits = pipeline.choose_transaction_model(cfg, summary, holdout)
    comp = choice.comparison
    n = len(holdout)
    costly = [k for k in comp.index if registry.MODELS[k].costly]
    assert (comp.loc[costly, "fit_customers"] == 300).all()
    assert (comp.drop(index=costly)["fit_customers"] == n).all()
    assert "random sample of 300" in choice.reason
    from clvkit import sections

    html = sections.model_comparison(type("R", (), {"model_choice": choice,
                                                    "config": cfg})()).to_html()
    assert "BG/CNBD-k, MBG/CNBD-k, GGompertz/NBD: fitted on a random sample of 300 of the" in html
    cal = holdout.drop(columns=[c for c in holdout.columns if c.endswith("_holdout")])
    for k in costly:
        assert cal_fits[k].n_customers_ == 300
        # the LL is that of every calibration customer at the sample's estimate: at most the
        # full-data maximum
        full = registry.MODELS[k].cls().fit(cal)
        assert comp.loc[k, "log_likelihood"] == pytest.approx(
            pipeline._loglik_on(k, cal_fits[k], cal), rel=1e-12)
        assert comp.loc[k, "log_likelihood"] <= full.log_likelihood_ + 1e-6
    # and the chosen model scores on the full data
    assert model.n_customers_ == len(summary)
    again = pipeline.choose_transaction_model(cfg, summary, holdout)[1].comparison
    np.testing.assert_array_equal(again["log_likelihood"], comp["log_likelihood"])  # seeded


def test_loglik_on_equals_each_fits_own_log_likelihood(frames):
    _, holdout = frames
    cal = holdout.drop(columns=[c for c in holdout.columns if c.endswith("_holdout")])
    for k, spec in registry.purchase_models().items():
        m = spec.cls().fit(cal)
        assert pipeline._loglik_on(k, m, cal) == pytest.approx(m.log_likelihood_, rel=1e-9), k
