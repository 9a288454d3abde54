"""Probabilistic customer-base models, fitted on compressed sufficient statistics.

Purchase-count models take per-customer ``frequency, recency, T`` (see docs/DATA.md); the
spend model takes ``frequency, monetary_value``. Every model shares :class:`Model` (fitting,
standard errors, ``summary()``, ``save``/``load``, parameter draws).
"""
from clvkit.models._base import Model
from clvkit.models.bgbb import BetaGeoBetaBinom
from clvkit.models.bgnbd import BetaGeo
from clvkit.models.gammagamma import GammaGamma
from clvkit.models.mbgnbd import ModifiedBetaGeo
from clvkit.models.paretonbd import ParetoNBD
from clvkit.models.sbg import ShiftedBetaGeo

__all__ = ["BetaGeo", "BetaGeoBetaBinom", "GammaGamma", "Model", "ModifiedBetaGeo", "ParetoNBD",
           "ShiftedBetaGeo"]
