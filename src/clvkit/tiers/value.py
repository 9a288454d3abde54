"""Value tiers from any score column, and a second dimension that turns them into a 2-D grid.

Two rule kinds (``tiers.method``):

- ``quantile``: each rule has a ``share``; customers are ranked by the score, highest first, and
  the first ``share`` of them get the first label, and so on. Ties are broken by ``customer_id``
  (ascending), so the same data always give the same tiers, and the tier sizes are the cumulative
  shares times the number of customers, rounded: every tier is within one customer of its share.
  Two customers with the same score can therefore land in neighbouring tiers.
- ``threshold``: each rule has a ``min``; a customer gets the first rule (from the top) whose
  ``min`` is at most their score. ``min`` must strictly decrease down the list; the last rule may
  leave it out to catch every remaining customer.

Customers who signed up but never bought (prospects) have no score; they are passed separately
and get ``prospect_label``, listed as the last tier. Nobody is dropped: every customer gets
exactly one tier.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from clvkit.errors import ConfigError, DataError
from clvkit.tiers._util import check_no_nan, field, rank_positions

METHODS = ("quantile", "threshold")
MISSING_LABEL = "(missing)"


@dataclass(frozen=True)
class TierResult:
    """Tier per customer (an ordered categorical, best tier first) and the rules that made it.

    ``definitions`` has one row per tier: ``tier``, ``rule`` (in words), ``target_share``,
    ``customers``, ``share``, ``score_min``, ``score_max``.
    """

    tier: pd.Series
    definitions: pd.DataFrame
    score: str
    method: str

    @property
    def labels(self) -> list[str]:
        """Tier labels, best first (the prospect tier, if any, last)."""
        return list(self.tier.cat.categories)


def parse_rules(rules: Sequence[object], method: str, key: str = "tiers", *,
                prospect_label: str | None = None):
    """Validate a tier rule list (params ``tiers`` or ``tiers.second_dimension``); return
    ``(labels, shares or mins)``. The one check of tier rules: config loading calls it too.

    Raises a ``ConfigError`` naming the key: unknown method, no rules, an empty or repeated
    label, shares outside (0, 1] or not summing to 1, a missing or non-decreasing ``min``, a
    ``share`` under the threshold method or a ``min`` under the quantile one, and a
    ``prospect_label`` that is also a tier label.
    """
    if method not in METHODS:
        raise ConfigError(f"unknown method {method!r}; use one of {', '.join(METHODS)}",
                          key=f"{key}.method")
    if not rules:
        raise ConfigError("no tier rules given", key=f"{key}.rules",
                          fix="list at least one rule, e.g. [{label: VIP, share: 0.1}, ...]")
    labels = []
    for i, rule in enumerate(rules):
        label = field(rule, "label")
        if label is None or str(label).strip() == "":
            raise ConfigError("rule has no label", key=f"{key}.rules[{i}].label")
        if str(label) in labels:
            raise ConfigError(f"label {label!r} is used twice", key=f"{key}.rules[{i}].label")
        labels.append(str(label))
    if prospect_label is not None and prospect_label in labels:
        raise ConfigError(f"prospect label {prospect_label!r} is also a tier label",
                          key=f"{key}.prospect_label", fix="give prospects a label of their own")
    other = {"quantile": "min", "threshold": "share"}[method]
    for i, rule in enumerate(rules):
        if field(rule, other) is not None:
            raise ConfigError(f"'{other}' is for method "
                              f"'{'threshold' if other == 'min' else 'quantile'}'",
                              key=f"{key}.rules[{i}].{other}",
                              fix=f"use '{'share' if other == 'min' else 'min'}' with method "
                                  f"'{method}'")
    values = []
    if method == "quantile":
        for i, rule in enumerate(rules):
            share = field(rule, "share")
            if share is None or not np.isfinite(float(share)) or not 0 < float(share) <= 1:
                raise ConfigError(f"share must be a number in (0, 1], got {share!r}",
                                  key=f"{key}.rules[{i}].share")
            values.append(float(share))
        total = float(np.sum(values))
        if abs(total - 1.0) > 1e-9:
            raise ConfigError(f"quantile shares sum to {total:.10g}, not 1", key=f"{key}.rules",
                              fix="make the shares add up to exactly 1")
    else:
        for i, rule in enumerate(rules):
            low = field(rule, "min")
            if low is None and i < len(rules) - 1:
                raise ConfigError("threshold rule has no min (only the last rule may omit it)",
                                  key=f"{key}.rules[{i}].min")
            if low is not None and values and float(low) >= values[-1]:
                raise ConfigError(
                    f"thresholds overlap: min {float(low):g} is not below the previous rule's "
                    f"min {values[-1]:g}", key=f"{key}.rules[{i}].min",
                    fix="list rules from the highest min to the lowest, strictly decreasing")
            values.append(-np.inf if low is None else float(low))
    return labels, values


def _score_column(scored: pd.DataFrame, score: str, key: str) -> pd.Series:
    if score not in scored.columns:
        numeric = [c for c in scored.columns if pd.api.types.is_numeric_dtype(scored[c])]
        raise ConfigError(f"unknown score column {score!r}; available: {', '.join(numeric)}",
                          key=f"{key}.score")
    values = scored[score]
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        raise ConfigError(f"score column {score!r} is not numeric", key=f"{key}.score")
    values = values.astype("float64")
    check_no_nan(values, column=score, what="tier score")
    return values


def assign_tiers(scored: pd.DataFrame, rules: Sequence[object], *, score: str = "clv",
                 method: str = "quantile", prospects: Iterable[object] | None = None,
                 prospect_label: str = "prospect", key: str = "tiers") -> TierResult:
    """Put every customer in exactly one value tier.

    Parameters
    ----------
    scored : DataFrame
        Indexed by ``customer_id``; must hold the ``score`` column (scored customers, or any frame).
    rules : sequence of mappings or dataclasses
        Best tier first; each with ``label`` and ``share`` (quantile) or ``min`` (threshold).
    score : str
        Column to rank on: ``clv`` by default; ``expected_purchases``, ``monetary_value``, ... work.
    method : {"quantile", "threshold"}
    prospects : iterable, optional
        Customer ids with no purchase (not in ``scored``); they get ``prospect_label``.
    prospect_label : str
    key : str
        Params key used in error messages (``tiers`` or ``tiers.second_dimension``).

    Returns
    -------
    TierResult

    Raises
    ------
    ConfigError
        Bad rules (shares not summing to 1, overlapping thresholds, duplicate labels) or an unknown
        score column, naming the params key.
    DataError
        A customer without a score, a prospect who also has a score, or (threshold method) a score
        below the lowest ``min``.
    """
    labels, values = parse_rules(rules, method, key)
    prospect_ids = pd.Index([] if prospects is None else list(prospects))
    if len(prospect_ids) and prospect_label in labels:
        raise ConfigError(f"prospect label {prospect_label!r} is also a tier label",
                          key=f"{key}.prospect_label")
    both = prospect_ids.intersection(scored.index)
    if len(both):
        raise DataError(f"{len(both)} customers are both scored buyers and prospects", rows=both,
                        column="customer_id", fix="a prospect is a customer with no purchase")
    values_s = _score_column(scored, score, key)
    if method == "quantile":
        cuts = quantile_cuts(values_s, values)
    else:
        mins = np.asarray(values)
        below = values_s.to_numpy() < mins[-1]
        if below.any():
            raise DataError(f"{int(below.sum())} customers score below the lowest threshold "
                            f"{mins[-1]:g}", column=score, rows=values_s.index[below],
                            fix=f"give the last rule of {key}.rules no min to catch them")
        cuts = threshold_cuts(values)
    codes = tier_codes(values_s.to_numpy(), values_s.index.to_numpy(), cuts)
    all_labels = labels + ([prospect_label] if len(prospect_ids) else [])
    tier = pd.Series(pd.Categorical.from_codes(
        np.concatenate([codes, np.full(len(prospect_ids), len(labels), dtype=np.int64)]),
        categories=all_labels, ordered=True),
        index=values_s.index.append(prospect_ids), name="tier")
    tier.index.name = scored.index.name or "customer_id"
    return TierResult(tier=tier, definitions=_definitions(tier, values_s, labels, values, score,
                                                           method, prospect_label),
                      score=score, method=method)


# ----------------------------------------------------------------- tier cuts (every engine)
# A cut is the last customer ``(score, customer_id)`` of a tier, ranked by score (high first,
# ties by customer_id); ``customer_id`` None cuts at the score alone (a threshold). A customer's
# tier is the number of cuts it ranks after. The single-machine path finds the cuts by ranking
# everyone (:func:`quantile_cuts`); the Spark engine ranks only a narrow band around each cut
# (``clvkit.spark.tier_cuts``) with :func:`tier_bounds` and :func:`ranked_cut`, and both assign
# with :func:`tier_codes`, partition by partition in Spark.

def tier_bounds(shares: Sequence[float], n: int) -> np.ndarray:
    """How many customers the tiers above each cut hold: ``round(n * cumulative share)`` for
    every tier but the last (so each tier is within one customer of its share)."""
    return np.rint(np.cumsum(np.asarray(shares, dtype="float64")) * n).astype(np.int64)[:-1]


def ranked_cut(score: np.ndarray, ids: np.ndarray, position: int) -> tuple[float, object]:
    """The customer at 0-based ``position`` ranking ``score`` high first, ties by ``ids``."""
    ranked = rank_positions(pd.Series(np.asarray(score, dtype="float64"), index=ids))
    at = int(np.flatnonzero(ranked == position)[0])
    return float(score[at]), ids[at]


def quantile_cuts(score: pd.Series, shares: Sequence[float]) -> list[tuple[float, object]]:
    """The cuts of quantile tiers over all customers (``score`` indexed by customer_id)."""
    values, ids = score.to_numpy(dtype="float64"), score.index.to_numpy()
    order = np.empty(len(values), dtype=np.int64)
    order[rank_positions(score)] = np.arange(len(values))
    return [(float("inf"), None) if b == 0 else (float(values[order[b - 1]]), ids[order[b - 1]])
            for b in tier_bounds(shares, len(values))]


def threshold_cuts(mins: Sequence[float]) -> list[tuple[float, object]]:
    """The cuts of threshold tiers: every rule's ``min`` but the last's."""
    return [(float(m), None) for m in list(mins)[:-1]]


def tier_codes(score: np.ndarray, ids: np.ndarray, cuts) -> np.ndarray:
    """Tier index per customer (0 = best): the number of ``cuts`` the customer ranks after."""
    score = np.asarray(score, dtype="float64")
    codes = np.zeros(len(score), dtype=np.int64)
    for cut_score, cut_id in cuts:
        after = score < cut_score
        if cut_id is not None:
            after |= (score == cut_score) & (ids > cut_id)
        codes += after
    return codes


def _definitions(tier, values_s, labels, values, score, method, prospect_label) -> pd.DataFrame:
    total = len(tier)
    rows = []
    for i, label in enumerate(labels):
        members = values_s[tier.loc[values_s.index] == label]
        if method == "quantile":
            rule = f"{'top' if i == 0 else 'next'} {values[i] * 100:.4g}% of buyers by {score}"
        else:
            upper = "" if i == 0 else f" and < {values[i - 1]:g}"
            rule = (f"{score} >= {values[i]:g}{upper}" if np.isfinite(values[i])
                    else f"{score} < {values[i - 1]:g}" if i else "every customer")
        rows.append({"tier": label, "rule": rule,
                     "target_share": values[i] if method == "quantile" else np.nan,
                     "customers": len(members), "share": len(members) / total if total else np.nan,
                     "score_min": members.min() if len(members) else np.nan,
                     "score_max": members.max() if len(members) else np.nan})
    if len(tier) > len(values_s):
        k = len(tier) - len(values_s)
        rows.append({"tier": prospect_label, "rule": "signed up, no purchase yet (prospect)",
                     "target_share": np.nan, "customers": k, "share": k / total,
                     "score_min": np.nan, "score_max": np.nan})
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class GridResult:
    """Two-dimensional tiers: value tier × a second dimension.

    ``tier_2d`` is ``"<tier> / <second>"`` per customer; ``second`` the second-dimension label;
    ``counts`` a tier × second crosstab of customers (all customers, nothing dropped);
    ``definitions`` how the second dimension was made.
    """

    tier_2d: pd.Series
    second: pd.Series
    counts: pd.DataFrame
    definitions: pd.DataFrame
    column: str


def check_grid_rules(method: str, rules: Sequence[object] | None,
                     key: str = "tiers.second_dimension") -> None:
    """Validate a second dimension's ``method`` and ``rules`` (config loading calls it too):
    ``categories`` takes no rules, ``quantile`` / ``threshold`` take rules as :func:`parse_rules`."""
    if method in ("categories", "category"):
        if rules:
            raise ConfigError("rules are not used with method 'categories'", key=f"{key}.rules",
                              fix="remove them, or use method: quantile or threshold")
        return
    if method not in METHODS:
        raise ConfigError(f"unknown method {method!r}; use categories or one of "
                          f"{', '.join(METHODS)}", key=f"{key}.method")
    if not rules:
        raise ConfigError(f"method {method!r} needs rules", key=f"{key}.rules")
    parse_rules(rules, method, key)


def tier_grid(tier: pd.Series, values: pd.Series, *, column: str, method: str = "categories",
              rules: Sequence[object] | None = None, sep: str = " / ",
              key: str = "tiers.second_dimension") -> GridResult:
    """Cross the value tier with a second dimension (engagement, stage, region, ...).

    Parameters
    ----------
    tier : Series
        Value tier per customer (``TierResult.tier``).
    values : Series
        The second dimension per customer (any subset of ``tier``'s index; customers without a value
        get ``"(missing)"``, shown in ``counts``, never dropped).
    column : str
        Name of the second dimension (for labels and errors).
    method : {"categories", "quantile", "threshold"}
        ``categories`` uses the values as they are; the others split a numeric column with ``rules``
        exactly like :func:`assign_tiers`.
    rules : sequence, optional
        Rules for ``quantile`` / ``threshold`` (``label`` with ``share`` or ``min``).
    sep : str
        Separator in the combined label.
    """
    check_grid_rules(method, rules, key)
    if not isinstance(tier.dtype, pd.CategoricalDtype):
        tier = tier.astype("category")
    values = values.reindex(tier.index)
    if method in ("categories", "category"):
        second = values.astype("string").fillna(MISSING_LABEL)
        if isinstance(values.dtype, pd.CategoricalDtype):
            cats = [str(c) for c in values.cat.categories]
        else:
            cats = sorted(second[second != MISSING_LABEL].unique().tolist())
        if (second == MISSING_LABEL).any():
            cats.append(MISSING_LABEL)
        definitions = pd.DataFrame({"second": cats, "rule": [f"{column} = {c}" for c in cats]})
    else:
        if not pd.api.types.is_numeric_dtype(values):
            raise ConfigError(f"column {column!r} is not numeric; use method: categories",
                              key=f"{key}.method")
        known = values.dropna()
        result = assign_tiers(known.to_frame(column), rules, score=column, method=method, key=key)
        second = result.tier.astype("string").reindex(tier.index).fillna(MISSING_LABEL)
        cats = list(result.tier.cat.categories)
        if (second == MISSING_LABEL).any():
            cats.append(MISSING_LABEL)
        definitions = result.definitions.rename(columns={"tier": "second"})[["second", "rule"]]
    second = pd.Series(pd.Categorical(second.to_numpy(), categories=cats, ordered=True),
                       index=tier.index, name=column)
    combos = [f"{t}{sep}{s}" for t in tier.cat.categories for s in cats]
    codes = tier.cat.codes.to_numpy(dtype=np.int64) * len(cats) + second.cat.codes.to_numpy()
    tier_2d = pd.Series(pd.Categorical.from_codes(codes, categories=combos, ordered=True),
                        index=tier.index, name="tier_2d")
    counts = pd.crosstab(tier, second, dropna=False)
    return GridResult(tier_2d=tier_2d, second=second, counts=counts, definitions=definitions,
                      column=column)
