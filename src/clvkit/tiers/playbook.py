"""Playbook: the follow-up action for each customer, from a tier × stage table.

Params give ``playbook.tiers`` (tier label → action), ``playbook.stages`` (stage → action) and
``playbook.table`` (tier label → stage → action). A customer in tier *t* and stage *s* gets,
in this order of precedence:

1. ``table[t][s]``, an explicit cell — the way to say what a dormant VIP or a lost core account
   gets (a save action);
2. ``stages[s]``, a generic stage action — **except for protected tiers** (``playbook.protect``,
   by default the top tier): a generic stage action ("Last-chance survey; then stop paid
   contact") never replaces a top tier's own action, so the most valuable customers are never
   downgraded by a rule written for everyone;
3. ``tiers[t]``, the tier's action.

:func:`check_playbook` is the one parser/validator of these params (config loading calls it):
it checks labels, stages and actions, and returns the resolved grid of every possible
combination with its action and source; with ``require_actions`` every combination must have
an action and the error lists all the combinations that have none.
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
                   prospect_label: str | None = None, key: str = "playbook",
                   table: Mapping[str, Mapping[str, str]] | None = None,
                   protect: Sequence[str] | None = None) -> pd.DataFrame:
    """Parse and validate the playbook params; return the resolved tier × stage grid.

    Raises a ``ConfigError`` naming the key for an unknown tier/stage, an empty action, or —
    with ``require_actions`` — combinations without an action (all of them listed).

    Returns
    -------
    DataFrame
        One row per possible (tier, stage) — the prospect tier only in stage ``prospect``, the
        other tiers in every other stage — with ``action`` (NA when none) and ``source``
        (``table`` / ``stage`` / ``tier`` / ``none``; ``tier (protected)`` where a stage action
        was not applied to a protected tier).
    """
    tiers, stages = dict(tiers or {}), dict(stages or {})
    cells = {str(t): dict(v or {}) for t, v in (table or {}).items()}
    labels = [str(t) for t in tier_labels]
    for label in [*tiers, *cells]:
        if str(label) not in labels:
            where = "tiers" if label in tiers else "table"
            raise ConfigError(f"{label!r} is not a tier label; labels are {', '.join(labels)}",
                              key=f"{key}.{where}.{label}", fix=_did_you_mean(label, labels))
    for stage in [*stages, *(s for row in cells.values() for s in row)]:
        if stage not in STAGES:
            where = ("stages" if stage in stages else
                     "table." + next(t for t, row in cells.items() if stage in row))
            raise ConfigError(f"{stage!r} is not a stage; stages are {', '.join(STAGES)}",
                              key=f"{key}.{where}.{stage}", fix=_did_you_mean(stage, STAGES))
    named = [(f"{key}.tiers.{n}", a) for n, a in tiers.items()]
    named += [(f"{key}.stages.{n}", a) for n, a in stages.items()]
    named += [(f"{key}.table.{t}.{s}", a) for t, row in cells.items() for s, a in row.items()]
    for where, action in named:
        if action is None or not str(action).strip():
            raise ConfigError("empty action", key=where)
    protected = list(labels[:1] if protect is None else [str(p) for p in protect])
    for p in protected:
        if p not in labels:
            raise ConfigError(f"{p!r} is not a tier label; labels are {', '.join(labels)}",
                              key=f"{key}.protect", fix=_did_you_mean(p, labels))
    rows = []
    for label in labels:
        allowed = (["prospect"] if label == prospect_label
                   else [s for s in STAGES if s != "prospect"])
        for stage in allowed:
            if stage in cells.get(label, {}):
                action, source = cells[label][stage], "table"
            elif stage in stages and label not in protected:
                action, source = stages[stage], "stage"
            elif label in tiers:
                action, source = tiers[label], ("tier (protected)" if stage in stages
                                                 else "tier")
            elif stage in stages:       # a protected tier without its own action
                action, source = stages[stage], "stage"
            else:
                action, source = pd.NA, "none"
            rows.append({"tier": label, "stage": stage, "action": action, "source": source})
    grid = pd.DataFrame(rows, columns=["tier", "stage", "action", "source"])
    if require_actions:
        gaps = grid[grid["source"] == "none"]
        if len(gaps):
            first = gaps.iloc[0]["tier"]
            listed = ", ".join(f"{r.tier} × {r.stage}" for r in gaps.itertuples())
            raise ConfigError(f"tier {first!r} has no action ({len(gaps)} tier × stage "
                              f"combinations have none: {listed})",
                              key=f"{key}.tiers.{first}",
                              fix=f"add an action for {first!r} (or a {key}.table cell), or set "
                                  f"{key}.require_actions: false")
    return grid


def playbook_gaps(grid: pd.DataFrame) -> pd.DataFrame:
    """The tier × stage combinations of a resolved grid that have no action (for the report)."""
    return grid.loc[grid["source"] == "none", ["tier", "stage"]].reset_index(drop=True)


def _did_you_mean(name, known) -> str | None:
    close = difflib.get_close_matches(str(name), [str(k) for k in known], n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}?" if close else None


def assign_actions(tier: pd.Series, stage: pd.Series | None = None, *,
                   tiers: Mapping[str, str] | None = None, stages: Mapping[str, str] | None = None,
                   require_actions: bool = True, prospect_label: str | None = None,
                   labels: Sequence[str] | None = None,
                   table: Mapping[str, Mapping[str, str]] | None = None,
                   protect: Sequence[str] | None = None) -> PlaybookResult:
    """Look up each customer's action in the tier × stage grid (module doc for precedence).

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
        Every tier label of the scheme, top tier first (defaults to ``tier``'s categories), so a
        playbook entry for a tier that happens to be empty in this run is not an error.
    table : mapping, optional
        Explicit actions by tier and stage (``playbook.table``).
    protect : sequence of str, optional
        Tiers whose action a generic stage action never replaces (default: the top tier).
    """
    if labels is None:
        labels = (list(tier.cat.categories) if isinstance(tier.dtype, pd.CategoricalDtype)
                  else list(dict.fromkeys(tier.astype(str))))
    grid = check_playbook(labels, tiers, stages, require_actions=require_actions,
                          prospect_label=prospect_label, table=table, protect=protect)
    tiers, stages = dict(tiers or {}), dict(stages or {})
    t = tier.astype(str)
    if stage is None:
        st = pd.Series(pd.NA, index=tier.index, dtype="object")
    else:
        st = stage.reindex(tier.index).astype("object").where(stage.reindex(tier.index).notna())
    look = grid.set_index(["tier", "stage"])
    keys = pd.MultiIndex.from_arrays([t.to_numpy(), st.astype(str).to_numpy()])
    found = look.reindex(keys)
    action = pd.Series(found["action"].to_numpy(), index=tier.index, dtype="object")
    source = pd.Series(found["source"].to_numpy(), index=tier.index, dtype="object")
    # no stage (or a stage outside the grid for this tier): the tier's action
    off = source.isna().to_numpy()
    action[off] = t[off].map(tiers).to_numpy()
    source[off] = "tier"
    source[(off & action.isna()).to_numpy()] = "none"
    source = source.replace({"tier (protected)": "tier"}).rename("action_source")
    action = action.astype("string").rename("action")
    cell_rows = [(t_, s_, a_) for t_, row in (table or {}).items() for s_, a_ in row.items()]
    table = pd.DataFrame({"applies_to": ["stage"] * len(stages) + ["tier"] * len(tiers)
                          + ["tier × stage"] * len(cell_rows),
                          "key": [*stages, *tiers, *(f"{a} × {b}" for a, b, _ in cell_rows)],
                          "action": [*stages.values(), *tiers.values(),
                                     *(c for _, _, c in cell_rows)]})
    return PlaybookResult(action=action, source=source, table=table)
