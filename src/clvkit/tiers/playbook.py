"""Playbook: the follow-up action for each customer, from their tier and lifecycle stage.

Params give ``playbook.tiers`` (tier label → action) and ``playbook.stages`` (stage → action).
A stage action, when given, takes precedence over the tier action: the stages that need a
different treatment whatever the tier (e.g. ``dormant: win-back``, ``lost: none``,
``prospect: first-purchase offer``) are listed under ``stages``, and everyone else gets their
tier's action. With ``require_actions`` every tier must have an action (the prospect tier may
take it from ``stages.prospect``); without it, customers with no action get an empty one.
"""
from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from clvkit.errors import ConfigError
from clvkit.tiers.stages import STAGES


@dataclass(frozen=True)
class PlaybookResult:
    """Action per customer, where it came from (``tier`` / ``stage`` / ``none``) and the rules."""

    action: pd.Series
    source: pd.Series
    table: pd.DataFrame


def check_playbook(tier_labels: Sequence[str], tiers: Mapping[str, str] | None,
                   stages: Mapping[str, str] | None = None, *, require_actions: bool = True,
                   prospect_label: str | None = None, key: str = "playbook") -> None:
    """Raise a ``ConfigError`` naming the key for an unknown tier/stage or a missing action."""
    tiers, stages = dict(tiers or {}), dict(stages or {})
    labels = [str(t) for t in tier_labels]
    for label in tiers:
        if str(label) not in labels:
            raise ConfigError(f"{label!r} is not a tier label; labels are {', '.join(labels)}",
                              key=f"{key}.tiers.{label}", fix=_did_you_mean(label, labels))
    for stage in stages:
        if stage not in STAGES:
            raise ConfigError(f"{stage!r} is not a stage; stages are {', '.join(STAGES)}",
                              key=f"{key}.stages.{stage}", fix=_did_you_mean(stage, STAGES))
    for name, action in [*tiers.items(), *stages.items()]:
        if action is None or not str(action).strip():
            where = "tiers" if name in tiers else "stages"
            raise ConfigError("empty action", key=f"{key}.{where}.{name}")
    if require_actions:
        for label in labels:
            covered = label in tiers or (label == prospect_label and "prospect" in stages)
            if not covered:
                raise ConfigError(f"tier {label!r} has no action", key=f"{key}.tiers.{label}",
                                  fix=f"add an action for {label!r} or set "
                                      f"{key}.require_actions: false")


def _did_you_mean(name, known) -> str | None:
    close = difflib.get_close_matches(str(name), [str(k) for k in known], n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}?" if close else None


def assign_actions(tier: pd.Series, stage: pd.Series | None = None, *,
                   tiers: Mapping[str, str] | None = None, stages: Mapping[str, str] | None = None,
                   require_actions: bool = True, prospect_label: str | None = None,
                   labels: Sequence[str] | None = None) -> PlaybookResult:
    """Look up each customer's action (stage action first, then tier action).

    Parameters
    ----------
    tier : Series
        Tier per customer (categorical: its categories are the labels checked).
    stage : Series, optional
        Stage per customer, aligned on the index.
    tiers, stages : mapping
        Actions by tier label and by stage.
    require_actions : bool
        Every tier must have an action (else ``ConfigError`` naming the tier's key).
    prospect_label : str, optional
        The prospect tier's label, which may take its action from ``stages.prospect``.
    labels : sequence of str, optional
        Every tier label of the scheme (defaults to ``tier``'s categories), so a playbook entry
        for a tier that happens to be empty in this run is not an error.
    """
    if labels is None:
        labels = (list(tier.cat.categories) if isinstance(tier.dtype, pd.CategoricalDtype)
                  else list(dict.fromkeys(tier.astype(str))))
    check_playbook(labels, tiers, stages, require_actions=require_actions,
                   prospect_label=prospect_label)
    tiers, stages = dict(tiers or {}), dict(stages or {})
    by_tier = tier.astype(str).map(tiers)
    by_stage = (stage.reindex(tier.index).astype(str).map(stages) if stage is not None
                else pd.Series(pd.NA, index=tier.index, dtype="object"))
    action = by_stage.where(by_stage.notna(), by_tier).astype("string").rename("action")
    source = pd.Series("none", index=tier.index, name="action_source")
    source[by_tier.notna().to_numpy()] = "tier"
    source[by_stage.notna().to_numpy()] = "stage"
    table = pd.DataFrame({"applies_to": ["stage"] * len(stages) + ["tier"] * len(tiers),
                          "key": [*stages, *tiers], "action": [*stages.values(), *tiers.values()]})
    return PlaybookResult(action=action, source=source, table=table)
