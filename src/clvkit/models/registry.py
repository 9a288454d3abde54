"""The one list of clvkit's models: params key, class, report name, kind and predictions.

Config validates ``model.transaction`` against it, the pipeline compares the purchase models it
lists, and reports name models from it. Adding a model is its own file plus one entry here.

>>> from clvkit.models.registry import MODELS, purchase_models
>>> MODELS["bgnbd"].name, MODELS["bgnbd"].cls.__name__
('BG/NBD', 'BetaGeo')
>>> list(purchase_models())
['bgnbd', 'paretonbd', 'mbgnbd', 'bgcnbd', 'mbgcnbd', 'ggomnbd']
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

import pandas as pd

from clvkit.errors import ConfigError
from clvkit.models.bgbb import BetaGeoBetaBinom
from clvkit.models.bgcnbd import BetaGeoCNBD
from clvkit.models.bgnbd import BetaGeo
from clvkit.models.gammagamma import GammaGamma
from clvkit.models.ggomnbd import GammaGompertzNBD
from clvkit.models.mbgcnbd import ModifiedBetaGeoCNBD
from clvkit.models.mbgnbd import ModifiedBetaGeo
from clvkit.models.paretonbd import ParetoNBD
from clvkit.models.sbg import ShiftedBetaGeo

__all__ = ["MODELS", "ModelSpec", "PurchaseModel", "default_candidates", "get", "model_name",
           "purchase_models"]

Kind = Literal["purchase", "discrete", "contract", "spend"]


@runtime_checkable
class PurchaseModel(Protocol):
    """What the pipeline, value and tiers steps use of a fitted purchase (transaction) model:
    continuous-time counts from per-customer ``frequency, recency, T``."""

    params_: pd.Series
    log_likelihood_: float
    n_customers_: int

    def fit(self, data, **kwargs) -> PurchaseModel: ...

    def probability_alive(self, *args, **kwargs): ...

    def expected_purchases(self, *args, **kwargs): ...


@dataclass(frozen=True)
class ModelSpec:
    """One model of the registry.

    Attributes
    ----------
    key : str
        The params value (``model.transaction: bgnbd``).
    cls : type
        The estimator class in :mod:`clvkit.models`.
    name : str
        How reports name it (``BG/NBD``).
    kind : {"purchase", "discrete", "contract", "spend"}
        ``purchase`` models score customers from ``frequency, recency, T`` and take part in the
        pipeline's model choice; the others answer other questions (discrete opportunities,
        contract renewals, spend per purchase).
    predictions : tuple of str
        The prediction methods it offers.
    needs : tuple of str
        Summary columns its fit needs beyond the usual ones (e.g. ``litt``); a model whose
        columns are missing is left out of the automatic comparison.
    compared : bool
        Whether ``model.transaction: best`` compares it unless ``model.candidates`` says
        otherwise (every purchase model is: the CNBD-k models when the summary has ``litt``,
        which the pipeline then computes).
    costly : bool
        Whether its fit costs far more than the BG/NBD's (the CNBD-k models fit once per
        regularity k; GGompertz/NBD integrates numerically per row): in the pipeline's
        comparison it is fitted on a seeded random sample of
        ``clvkit.pipeline.COMPARE_SAMPLE`` customers when the calibration period has more
        (its log-likelihood and holdout error are still taken on all of them).
    """

    key: str
    cls: type
    name: str
    kind: Kind
    predictions: tuple[str, ...]
    needs: tuple[str, ...] = ()
    compared: bool = True
    costly: bool = False


_PURCHASE = ("probability_alive", "expected_purchases", "expected_purchases_path",
             "expected_purchases_new_customer", "probability_alive_interval",
             "expected_purchases_interval")

MODELS: dict[str, ModelSpec] = {spec.key: spec for spec in (
    ModelSpec("bgnbd", BetaGeo, "BG/NBD", "purchase", _PURCHASE),
    ModelSpec("paretonbd", ParetoNBD, "Pareto/NBD", "purchase", _PURCHASE),
    ModelSpec("mbgnbd", ModifiedBetaGeo, "MBG/NBD", "purchase", _PURCHASE),
    ModelSpec("bgcnbd", BetaGeoCNBD, "BG/CNBD-k", "purchase", _PURCHASE, needs=("litt",),
              costly=True),
    ModelSpec("mbgcnbd", ModifiedBetaGeoCNBD, "MBG/CNBD-k", "purchase", _PURCHASE,
              needs=("litt",), costly=True),
    ModelSpec("ggomnbd", GammaGompertzNBD, "GGompertz/NBD", "purchase", _PURCHASE,
              costly=True),
    ModelSpec("bgbb", BetaGeoBetaBinom, "BG/BB", "discrete",
              ("probability_alive", "expected_purchases", "expected_purchases_new_customer")),
    ModelSpec("sbg", ShiftedBetaGeo, "sBG", "contract", ("survival", "retention_rate")),
    ModelSpec("gammagamma", GammaGamma, "Gamma-Gamma", "spend",
              ("expected_spend", "expected_spend_interval")),
)}


def purchase_models() -> dict[str, ModelSpec]:
    """The purchase models the pipeline can fit and compare, in registry order."""
    return {key: spec for key, spec in MODELS.items() if spec.kind == "purchase"}


def default_candidates() -> tuple[str, ...]:
    """The purchase models ``best`` compares when the params do not list ``model.candidates``."""
    return tuple(key for key, spec in purchase_models().items() if spec.compared)


def get(key: str, *, kind: Kind | None = None, params_key: str = "model.transaction") -> ModelSpec:
    """The spec of ``key``; a ``ConfigError`` naming ``params_key`` and the valid keys if unknown
    (or not of ``kind``)."""
    valid = [k for k, s in MODELS.items() if kind is None or s.kind == kind]
    if key not in valid:
        raise ConfigError(f"unknown model {key!r}", key=params_key,
                          fix=f"use one of {', '.join(valid)}")
    return MODELS[key]


def model_name(model_or_key) -> str:
    """The report name of a model given its key, its class name, its class or an instance."""
    if isinstance(model_or_key, str):
        for spec in MODELS.values():
            if model_or_key in (spec.key, spec.cls.__name__):
                return spec.name
        return model_or_key
    cls = model_or_key if isinstance(model_or_key, type) else type(model_or_key)
    for spec in MODELS.values():
        if cls is spec.cls:
            return spec.name
    return cls.__name__
