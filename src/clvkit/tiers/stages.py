"""Lifecycle stages from purchase history and P(alive), with the thresholds carried as data.

Rules are checked in this order; the first that matches gives the stage (so the stages are a
partition: every customer gets exactly one):

1. ``prospect`` — signed up, no purchase (passed in as ``prospects``);
2. ``lost`` — ``p_alive < lost_p_alive`` (permanent churn);
3. ``dormant`` — ``p_alive < dormant_p_alive`` or more than ``dormant_days`` since the last
   purchase (temporary: may come back);
4. ``new`` — a single purchase, made at most ``new_days`` ago;
5. ``one-time`` — a single purchase, more than ``new_days`` ago, not dormant yet (empty when
   ``new_days >= dormant_days``);
6. ``loyal`` — at least ``loyal_min_purchases`` purchases and ``p_alive >= loyal_min_p_alive``;
7. ``repeat`` — more than one purchase.

Purchases are ``frequency + 1`` (the first purchase plus repeat periods); days come from the
summary's time unit through :mod:`clvkit.units`.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields

import numpy as np
import pandas as pd

from clvkit.errors import ConfigError
from clvkit.tiers._util import check_fraction, check_no_nan, field, require_columns
from clvkit.units import convert

STAGES = ("prospect", "new", "one-time", "repeat", "loyal", "dormant", "lost")
"""Stage labels in lifecycle order (the order of the categorical)."""


@dataclass(frozen=True)
class StageRules:
    """Stage thresholds (``stages`` in params). Days are calendar days."""

    new_days: float = 90.0
    loyal_min_purchases: int = 4
    loyal_min_p_alive: float = 0.7
    dormant_days: float = 180.0
    dormant_p_alive: float = 0.5
    lost_p_alive: float = 0.2

    @classmethod
    def from_params(cls, params: object = None, key: str = "stages") -> StageRules:
        """Build and validate from a params mapping or config dataclass (missing keys: defaults)."""
        if params is None:
            return cls()
        values = {}
        for f in fields(cls):
            value = field(params, f.name)
            values[f.name] = getattr(cls, f.name) if value is None else value
        rules = cls(**values)
        rules.validate(key)
        return rules

    def validate(self, key: str = "stages") -> None:
        """Raise a ``ConfigError`` naming the key of the first inconsistent threshold."""
        for name in ("new_days", "dormant_days"):
            if not float(getattr(self, name)) >= 0:
                raise ConfigError(f"must be a number of days >= 0, got {getattr(self, name)!r}",
                                  key=f"{key}.{name}")
        k = self.loyal_min_purchases
        if int(k) != k or k < 2:
            raise ConfigError(f"must be a whole number >= 2, got {self.loyal_min_purchases!r}",
                              key=f"{key}.loyal_min_purchases")
        for name in ("loyal_min_p_alive", "dormant_p_alive", "lost_p_alive"):
            check_fraction(getattr(self, name), key=f"{key}.{name}")
        if self.lost_p_alive > self.dormant_p_alive:
            raise ConfigError(f"lost_p_alive {self.lost_p_alive:g} is above dormant_p_alive "
                              f"{self.dormant_p_alive:g}", key=f"{key}.lost_p_alive",
                              fix="the lost floor must be at or below the dormant band")
        if self.loyal_min_p_alive < self.dormant_p_alive:
            raise ConfigError(f"loyal_min_p_alive {self.loyal_min_p_alive:g} is below "
                              f"dormant_p_alive {self.dormant_p_alive:g}",
                              key=f"{key}.loyal_min_p_alive",
                              fix="a loyal customer cannot be in the dormant band")

    def definitions(self) -> pd.DataFrame:
        """The rules as a table (``stage, order, rule``) for reports to print."""
        rules = {
            "prospect": "signed up, no purchase yet",
            "lost": f"P(alive) < {self.lost_p_alive:g}",
            "dormant": f"P(alive) < {self.dormant_p_alive:g} or no purchase for more than "
                       f"{self.dormant_days:g} days",
            "new": f"a single purchase, at most {self.new_days:g} days ago",
            "one-time": f"a single purchase, more than {self.new_days:g} days ago, not dormant",
            "loyal": f"at least {self.loyal_min_purchases} purchases and P(alive) >= "
                     f"{self.loyal_min_p_alive:g}",
            "repeat": "more than one purchase, not loyal, not dormant",
        }
        order = ["prospect", "lost", "dormant", "new", "one-time", "loyal", "repeat"]
        return pd.DataFrame({"stage": order, "checked": range(1, len(order) + 1),
                             "rule": [rules[s] for s in order]})


@dataclass(frozen=True)
class StageResult:
    """Stage per customer (ordered categorical, :data:`STAGES`), the rules and the counts."""

    stage: pd.Series
    definitions: pd.DataFrame
    rules: StageRules


def lifecycle_stages(scored: pd.DataFrame, rules: StageRules | None = None, *,
                     time_unit: str | None = None,
                     prospects: Iterable[object] | None = None) -> StageResult:
    """Assign every customer one lifecycle stage.

    Parameters
    ----------
    scored : DataFrame
        Scored customers: ``frequency, recency, T, p_alive``, indexed by ``customer_id``.
    rules : StageRules, optional
        Thresholds; defaults documented on :class:`StageRules`.
    time_unit : str, optional
        Unit of ``recency`` and ``T``; defaults to ``scored.attrs["time_unit"]``.
    prospects : iterable, optional
        Ids of customers with no purchase; they are ``prospect``.
    """
    rules = rules or StageRules()
    rules.validate()
    require_columns(scored, ("frequency", "recency", "T", "p_alive"), what="scored customers",
                    fix="pass the output of clvkit.value.score_customers")
    unit = time_unit or scored.attrs.get("time_unit")
    if unit is None:
        raise ConfigError("the time unit of recency and T is unknown", key="summary.time_unit",
                          fix="pass time_unit= or keep summary.attrs['time_unit']")
    check_no_nan(scored["p_alive"], column="p_alive", what="lifecycle stages")
    p = scored["p_alive"].to_numpy(dtype="float64")
    purchases = scored["frequency"].to_numpy(dtype="float64") + 1
    since_last = convert((scored["T"] - scored["recency"]).to_numpy(dtype="float64"), unit, "D")
    age = convert(scored["T"].to_numpy(dtype="float64"), unit, "D")
    conditions = [
        p < rules.lost_p_alive,
        (p < rules.dormant_p_alive) | (since_last > rules.dormant_days),
        (purchases == 1) & (age <= rules.new_days),
        purchases == 1,
        (purchases >= rules.loyal_min_purchases) & (p >= rules.loyal_min_p_alive),
    ]
    labels = np.select(conditions, ["lost", "dormant", "new", "one-time", "loyal"], "repeat")
    prospect_ids = pd.Index([] if prospects is None else list(prospects))
    labels = np.concatenate([labels, np.full(len(prospect_ids), "prospect")])
    stage = pd.Series(pd.Categorical(labels, categories=list(STAGES), ordered=True),
                      index=scored.index.append(prospect_ids), name="stage")
    stage.index.name = scored.index.name or "customer_id"
    defs = rules.definitions()
    counts = stage.value_counts()
    defs["customers"] = defs["stage"].map(counts).fillna(0).astype("int64")
    defs["share"] = defs["customers"] / max(len(stage), 1)
    return StageResult(stage=stage, definitions=defs, rules=rules)
