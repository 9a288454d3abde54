"""Probabilistic customer-base models, fitted on compressed sufficient statistics.

Purchase-count models take per-customer ``frequency, recency, T`` (see docs/DATA.md); the
spend model takes ``frequency, monetary_value``. Every model shares :class:`Model` (fitting,
standard errors, ``summary()``, ``save``/``load``, parameter draws).
"""
from clvkit.models._base import Model
from clvkit.models.bgnbd import BetaGeo
from clvkit.models.gammagamma import GammaGamma
from clvkit.models.mbgnbd import ModifiedBetaGeo

__all__ = ["BetaGeo", "GammaGamma", "Model", "ModifiedBetaGeo"]
