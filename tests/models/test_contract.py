"""One contract over every model: fit returns self, learned attributes, summary, repr, save/load
round trip, refusing another model's file, not-fitted errors, bad input and degenerate data."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd
import pytest

from clvkit.datasets import load_cdnow, load_donations
from clvkit.datasets.cdnow import lifetimes_data_path
from clvkit import models
from clvkit.errors import ClvkitError, ConfigError, DataError, ModelError, NotFittedError
from clvkit.models import (BetaGeo, BetaGeoCNBD, GammaGamma, GammaGompertzNBD, Model,
                           ModifiedBetaGeo, ModifiedBetaGeoCNBD)
from clvkit.models.bgbb import BetaGeoBetaBinom
from clvkit.models.paretonbd import ParetoNBD
from clvkit.models.sbg import ShiftedBetaGeo
from clvkit.rfm import rfm_summary

from model_sim import simulate_ggomnbd


@dataclass
class Spec:
    cls: type
    data: Callable          # (cdnow_summary, cdnow_spend) -> fit input
    predict: Callable       # (model, data) -> ndarray or Series
    bad: Callable           # data -> invalid fit input
    bad_match: str
    degenerate: Callable    # data -> input that cannot identify the model


def _summary(s, _):
    return s[["frequency", "recency", "T"]]


def _rfm_predict(m, d):
    return np.r_[m.probability_alive(d), m.expected_purchases(d, horizon=10.0),
                 m.expected_purchases_new_customer(horizon=[1.0, 5.0])]


def _identical(d):
    return d.iloc[[0] * 20]


def _no_repeat(d):
    out = d.iloc[:50].copy()
    out["frequency"], out["recency"] = 0, 0.0
    return out


def _cohorts(*_):
    return pd.DataFrame({"cohort": ["a"] * 8 + ["b"] * 5, "period": list(range(8)) + list(range(5)),
                         "active": [1000, 869, 743, 653, 593, 551, 517, 491,
                                    500, 320, 240, 200, 170]})


def _cdnow_with_litt(*_):
    return rfm_summary(load_cdnow(), observation_end="1997-09-30", litt=True)


def _ggomnbd_data(*_):
    """Simulated with an age effect (on CDNOW the GGompertz/NBD fit is the Pareto/NBD limit,
    where b and beta are not identified apart: see test_ggomnbd)."""
    return simulate_ggomnbd(2000, 0.8, 3.0, 0.05, 1.0, 2.0, seed=1)


RFM_BAD = (lambda d: d.assign(recency=d["T"] + 1.0), "recency > T")
SPECS = {
    "BetaGeo": Spec(BetaGeo, _summary, _rfm_predict, *RFM_BAD, _no_repeat),
    "ModifiedBetaGeo": Spec(ModifiedBetaGeo, _summary, _rfm_predict, *RFM_BAD, _identical),
    "ParetoNBD": Spec(ParetoNBD, _summary, _rfm_predict, *RFM_BAD, _no_repeat),
    "BetaGeoCNBD": Spec(BetaGeoCNBD, _cdnow_with_litt, _rfm_predict, *RFM_BAD, _identical),
    "ModifiedBetaGeoCNBD": Spec(ModifiedBetaGeoCNBD, _cdnow_with_litt, _rfm_predict, *RFM_BAD,
                                _identical),
    "GammaGompertzNBD": Spec(GammaGompertzNBD, _ggomnbd_data, _rfm_predict, *RFM_BAD, _no_repeat),
    "GammaGamma": Spec(GammaGamma, lambda s, sp: sp[["frequency", "monetary_value"]],
                       lambda m, d: m.expected_spend(d),
                       lambda d: d.drop(columns="monetary_value"), "monetary_value",
                       lambda d: d.assign(frequency=0)),
    "BetaGeoBetaBinom": Spec(BetaGeoBetaBinom, lambda *_: load_donations(),
                             lambda m, d: np.r_[m.probability_alive(d), m.expected_purchases(d, horizon=3)],
                             lambda d: d.assign(frequency=d["recency"] + 1), "frequency > recency",
                             lambda d: d.assign(frequency=0, recency=0)),
    "ShiftedBetaGeo": Spec(ShiftedBetaGeo, _cohorts,
                           lambda m, d: np.r_[m.survival([1, 5]), m.derl(0.1, [0, 3])],
                           lambda d: d.assign(active=d["active"][::-1].to_numpy()),
                           "active customers increase",
                           lambda d: d[d["period"] == 0]),
}


def _spec_of(name: str) -> Spec:
    """The contract data of a model: its entry above, or for a purchase model declared later
    (statistics ``frequency, recency, T``) the CDNOW summary and the shared predictions. A model
    of another kind must add its entry to ``SPECS``."""
    if name in SPECS:
        return SPECS[name]
    from clvkit.models import registry
    by_name = {spec.cls.__name__: spec.cls for spec in registry.MODELS.values()}
    cls = getattr(models, name, None) or by_name[name]
    assert tuple(cls.stat_names) == ("frequency", "recency", "T"), (
        f"{name} is exported by clvkit.models but has no contract entry: add it to SPECS")
    return Spec(cls, _summary, _rfm_predict, *RFM_BAD, _no_repeat)


def _exported_models() -> list[str]:
    names = [n for n in models.__all__
             if isinstance(getattr(models, n), type) and issubclass(getattr(models, n), Model)
             and getattr(models, n) is not Model]
    from clvkit.models import registry
    extra = {spec.cls.__name__ for spec in registry.MODELS.values()} - set(names)
    return sorted(set(names) | extra)


MODEL_NAMES = _exported_models()


def test_the_contract_covers_every_exported_and_registered_model():
    from clvkit.models import registry
    assert {spec.cls.__name__ for spec in registry.MODELS.values()} <= set(MODEL_NAMES)
    assert set(SPECS) <= set(MODEL_NAMES)
    assert {"BetaGeo", "GammaGamma", "ParetoNBD", "ShiftedBetaGeo"} <= set(MODEL_NAMES)


@pytest.fixture(scope="module")
def cdnow_frames():
    """FHL (2005)'s published CDNOW summary, and the same customers with mean repeat spend."""
    s = pd.read_csv(lifetimes_data_path("cdnow_customers_summary.csv"), index_col="ID")
    spend = pd.read_csv(lifetimes_data_path("cdnow_customers_summary_with_transactions.csv"),
                        index_col="ID").rename(columns={"x": "frequency", "t_x": "recency",
                                                        "zbar": "monetary_value"})
    for frame in (s, spend):
        frame.index.name = "customer_id"
        frame.attrs["time_unit"] = "W"
    return s, spend


@pytest.fixture(params=MODEL_NAMES, scope="module")
def case(request, cdnow_frames):
    cdnow_summary, cdnow_spend = cdnow_frames
    spec = _spec_of(request.param)
    data = spec.data(cdnow_summary, cdnow_spend)
    model = spec.cls()
    fitted = model.fit(data)
    return spec, data, model, fitted


def test_fit_returns_self_with_learned_attributes(case):
    spec, data, model, fitted = case
    assert fitted is model
    names = list(spec.cls.param_names)
    assert list(model.params_.index) == names and np.all(model.params_ > 0)
    assert np.isfinite(model.log_likelihood_) and model.log_likelihood_ < 0
    assert model.converged_ and model.n_customers_ > 0
    assert list(model.cov_.index) == names and np.all(np.isfinite(model.se_))


def test_log_likelihood_is_that_of_the_data_in_their_own_units(case):
    """The fit rescales time (or spend) and adds the Jacobian back: check against a direct sum."""
    _, _, model, _ = case
    direct = model._weights @ model._loglik(model._params(), *model._stats.T)
    assert model.log_likelihood_ == pytest.approx(direct, rel=1e-10)


def test_summary_and_reprs(case):
    spec, _, model, _ = case
    table = model.summary()
    assert list(table.columns) == ["estimate", "se", "lower", "upper"]
    searched = list(getattr(spec.cls, "searched_params", ()))      # e.g. CNBD-k's k
    free = table.drop(index=searched)
    assert np.all(free["lower"] < free["estimate"]) and np.all(free["estimate"] < free["upper"])
    fixed = table.loc[searched]
    assert np.all(fixed["se"] == 0) and np.all(fixed["lower"] == fixed["estimate"])
    text = repr(model)
    assert text.startswith(f"<{spec.cls.__name__} fitted on {model.n_customers_:,} customers")
    assert all(f"{p}=" in text for p in spec.cls.param_names)
    assert "<table" in model._repr_html_()
    assert "not fitted" in repr(spec.cls())


def test_save_load_round_trip_predicts_the_same(case, tmp_path):
    spec, data, model, _ = case
    path = model.save(tmp_path / "m.json")
    doc = json.loads(path.read_text())
    assert doc["model"] == spec.cls.__name__ and set(doc["params"]) == set(spec.cls.param_names)
    loaded = spec.cls.load(path)
    pd.testing.assert_series_equal(loaded.params_, model.params_)
    np.testing.assert_allclose(loaded.cov_, model.cov_)
    assert loaded.log_likelihood_ == model.log_likelihood_
    np.testing.assert_allclose(np.asarray(spec.predict(loaded, data), float),
                               np.asarray(spec.predict(model, data), float), rtol=1e-14)


def test_a_loaded_model_saves_again_and_round_trips_twice(case, tmp_path):
    spec, data, model, _ = case
    first = model.save(tmp_path / "first.json")
    loaded = spec.cls.load(first)
    second = loaded.save(tmp_path / "second.json")
    again = Model.load(second)
    assert type(again) is spec.cls
    assert json.loads(second.read_text()) == json.loads(first.read_text())
    assert again.data_fingerprint_ == model.data_fingerprint_ and again.time_unit_ == model.time_unit_
    np.testing.assert_allclose(np.asarray(spec.predict(again, data), float),
                               np.asarray(spec.predict(model, data), float), rtol=1e-14)


#: Models that predict per customer (sBG predicts per period of a cohort: nothing to default to).
PER_CUSTOMER = [n for n in MODEL_NAMES if any(
    hasattr(_spec_of(n).cls, m) for m in ("probability_alive", "expected_spend"))]


@pytest.mark.parametrize("case", PER_CUSTOMER, indirect=True)
def test_predictions_default_to_the_training_customers_until_loaded(case, tmp_path):
    spec, data, model, _ = case
    methods = [m for m in ("probability_alive", "expected_spend") if hasattr(model, m)]
    for name in methods:
        np.testing.assert_array_equal(getattr(model, name)(), getattr(model, name)(data))
        loaded = spec.cls.load(model.save(tmp_path / "m.json"))
        with pytest.raises(DataError, match="loaded from a file.*pass the summary frame"):
            getattr(loaded, name)()
    if hasattr(model, "expected_purchases"):
        np.testing.assert_array_equal(model.expected_purchases(horizon=3),
                                      model.expected_purchases(data, horizon=3))
        with pytest.raises(TypeError, match="horizon"):
            model.expected_purchases(data)


@pytest.mark.parametrize("kw, match", [
    ({"penalizer": -1}, r"penalizer: .*penalizer=-1 must be a finite number >= 0; fix: use 0"),
    ({"penalizer": float("nan")}, r"penalizer=nan must be a finite number"),
    ({"penalizer": "0.1"}, r"penalizer='0.1' must be a finite number"),
    ({"ci_level": 1.5}, r"ci_level: .*ci_level=1.5 must be strictly between 0 and 1; fix: e.g."),
    ({"ci_level": 95}, r"ci_level=95 must be strictly between 0 and 1.*a share, not 95"),
    ({"ci_level": 0}, r"ci_level=0 must be strictly between"),
])
def test_bad_hyperparameters_are_config_errors_at_fit(case, kw, match):
    spec, data, _, _ = case
    with pytest.raises(ConfigError, match=match) as info:
        spec.cls(**kw).fit(data)
    assert isinstance(info.value, ValueError)


def test_loading_another_models_file_is_an_error(case, tmp_path):
    spec, _, model, _ = case
    path = model.save(tmp_path / "m.json")
    other = BetaGeo if spec.cls is not BetaGeo else ParetoNBD
    with pytest.raises(ModelError, match=f"holds a {spec.cls.__name__} model, not a {other.__name__}"):
        other.load(path)


def test_predicting_before_fit_says_how_to_fix(case):
    spec, data, _, _ = case
    with pytest.raises(NotFittedError, match=r"not fitted yet: call \.fit"):
        spec.predict(spec.cls(), data)


def test_bad_input_is_one_data_error(case):
    spec, data, _, _ = case
    with pytest.raises(DataError, match=spec.bad_match):
        spec.cls().fit(spec.bad(data))


def test_degenerate_data_is_a_model_error_not_nan(case):
    spec, data, _, _ = case
    with pytest.raises(ModelError):
        spec.cls().fit(spec.degenerate(data))


def test_empty_input_is_a_clear_error(case):
    spec, data, _, _ = case
    with pytest.raises(ClvkitError, match="no customers|none of the 0 customers|table is empty"):
        spec.cls().fit(data.iloc[:0])


def test_time_unit_is_a_fitted_attribute_with_a_deprecated_read_only_alias(case):
    _, data, model, _ = case
    assert model.time_unit_ == data.attrs.get("time_unit", model.time_unit_)
    with pytest.warns(DeprecationWarning, match="use time_unit_"):
        assert model.time_unit == model.time_unit_
    with pytest.raises(AttributeError):
        model.time_unit = "D"
