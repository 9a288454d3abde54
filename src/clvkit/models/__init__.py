"""Probabilistic customer-base models, fitted on compressed sufficient statistics.

Purchase-count models take per-customer ``frequency, recency, T`` (see docs/DATA.md); the
spend model takes ``frequency, monetary_value``. Every model shares :class:`Model` (fitting,
standard errors, ``summary()``, ``save``/``load``, parameter draws).
"""
from clvkit.models._base import Model
from clvkit.models.bgbb import BetaGeoBetaBinom
from clvkit.models.bgcnbd import BetaGeoCNBD
from clvkit.models.bgnbd import BetaGeo
from clvkit.models.gammagamma import GammaGamma
from clvkit.models.ggomnbd import GammaGompertzNBD
from clvkit.models.mbgcnbd import ModifiedBetaGeoCNBD
from clvkit.models.mbgnbd import ModifiedBetaGeo
from clvkit.models.paretonbd import ParetoNBD
from clvkit.models.sbg import ShiftedBetaGeo

__all__ = ["BetaGeo", "BetaGeoBetaBinom", "BetaGeoCNBD", "GammaGamma", "GammaGompertzNBD", "Model",
           "ModifiedBetaGeo", "ModifiedBetaGeoCNBD", "ParetoNBD", "ShiftedBetaGeo"]
