"""RFM scores (1–5), rule-based RFM segments, and data-driven k-means segments.

Scores. R is scored on the time since the last purchase (``T - recency``: shorter is better), F on
``frequency``, M on ``monetary_value``. A score is the quantile bin of the customer's position:
``score = floor(bins * (rank_min - 1) / n) + 1`` where ``rank_min`` is the customer's rank from
worst to best with ties given their lowest rank. So tied customers always share a score and a
tied group gets the score of its lowest member (e.g. every one-time buyer has F = 1, however many
there are). A constant column carries no information: everybody gets the middle score (3 of 5).
``rfm_score`` is the three digits as an integer, ``100 R + 10 F + M`` (e.g. 545).

Segments. A mapping, checked in order (the first match wins; every (R, F, M) cell must be
covered). In params it maps patterns over the three score digits to names, matched from the
start of the code: ``{"5[4-5]": champions, "[3-4][4-5]": loyal, ...}`` (``5[4-5]`` = R 5, F 4–5,
any M; ``.`` matches anything). In code it may also be ``{name: {r: [lo, hi], f: ..., m: ...}}``.
A segment may appear under several patterns (the definitions count customers per pattern).
The default (``DEFAULT_SEGMENTS``) uses R and F only:

==================  ========  ========
segment             R         F
==================  ========  ========
champions           5         4–5
loyal               3–4       4–5
potential loyalist  4–5       2–3
new                 5         1
promising           4         1
need attention      3         1–3
can't lose          1–2       5
at risk             1–2       3–4
hibernating         2         1–2
lost                1         1–2
==================  ========  ========

Eight classes (``rfm8``). The high/low model common in Chinese CRM practice: R, F and M are each
"high" or "low" against a cut point (the mean of the customers by default, or the median), and
the 2 × 2 × 2 combinations name eight classes. R is high when the time since the last purchase
(``T - recency``) is *below* the cut (recent), F when ``frequency`` is above it, M when
``monetary_value`` is above it; a value exactly at the cut counts as low (not above average).

==========  ==========  ==========  ======================  ======================
R           F           M           name (en)               name (zh)
==========  ==========  ==========  ======================  ======================
high        high        high        key value               重要价值客户
high        low         high        key development         重要发展客户
low         high        high        key retention           重要保持客户
low         low         high        key win-back            重要挽留客户
high        high        low         general value           一般价值客户
high        low         low         general development     一般发展客户
low         high        low         general retention       一般保持客户
low         low         low         general win-back        一般挽留客户
==========  ==========  ==========  ======================  ======================

k-means. Features are log(1 + x) of recency gap, frequency, monetary value and CLV (CLV floored at
0), standardised; k is the value in ``k_range`` with the highest silhouette score (each k fitted
and scored on a fixed-seed sample of at most ``sample_size`` customers, ties to the smaller k;
the chosen k is then fitted on all customers); clusters are numbered by mean CLV, highest
first, and each is described in words from its standardised feature means.
"""
from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from clvkit.errors import ConfigError, DataError
from clvkit.tiers._util import field, require_columns

RFM_COLUMNS = ("frequency", "recency", "T", "monetary_value")


def quantile_score(values: pd.Series, bins: int = 5) -> pd.Series:
    """Score ``values`` 1..``bins`` by quantile, higher values scoring higher (see module notes)."""
    x = values.astype("float64")
    if x.isna().any():
        bad = x.index[x.isna().to_numpy()]
        raise DataError(f"{len(bad)} customers have no value to score", column=values.name,
                        rows=bad, fix="score customers with complete RFM summaries")
    n = len(x)
    if n == 0:
        return pd.Series(np.zeros(0, dtype=np.int64), index=x.index, name=values.name)
    values_ = x.to_numpy()
    ordered = np.sort(values_)
    bounds = ordered[score_bound_positions(n, bins)]
    score = score_from_bounds(values_, bounds, bins, constant=ordered[0] == ordered[-1])
    return pd.Series(score, index=x.index, name=values.name)


def score_bound_positions(n: int, bins: int) -> list[int]:
    """0-based positions, in ascending order of value, of the values that bound the score bins.

    ``floor(bins * (rank_min - 1) / n) >= k`` exactly when at least ``ceil(k n / bins)``
    customers have a smaller value, i.e. when the value exceeds the one at position
    ``ceil(k n / bins) - 1``: so the scores of :func:`quantile_score` need only these
    ``bins - 1`` order statistics (the Spark engine finds them without sorting everyone).
    """
    return [-(-k * n // bins) - 1 for k in range(1, bins)]


def score_from_bounds(values: np.ndarray, bounds: np.ndarray, bins: int, *,
                      constant: bool) -> np.ndarray:
    """Scores 1..``bins``: one plus the number of ``bounds`` a value exceeds (the middle score
    for everyone when the column is ``constant``)."""
    values = np.asarray(values, dtype="float64")
    if constant:
        return np.full(len(values), (bins + 1) // 2, dtype=np.int64)
    return 1 + (values[:, None] > np.asarray(bounds, dtype="float64")[None, :]).sum(
        axis=1).astype(np.int64)


def rfm_scores(summary: pd.DataFrame, *, bins: int = 5) -> pd.DataFrame:
    """R, F and M scores (1..``bins``) and the combined ``rfm_score`` per customer.

    Parameters
    ----------
    summary : DataFrame
        RFM summary or scored customers (``frequency``, ``recency``, ``T``, ``monetary_value``).
    bins : int
        Number of score levels (5 by default; at most 9 so ``rfm_score`` stays three digits).

    Returns
    -------
    DataFrame
        ``r_score, f_score, m_score, rfm_score`` (int64), indexed like ``summary``.
    """
    require_columns(summary, RFM_COLUMNS, what="RFM summary",
                    fix="pass the output of clvkit.rfm.rfm_summary or score_customers")
    if not 2 <= bins <= 9:
        raise ConfigError(f"bins must be between 2 and 9, got {bins}", key="segments.bins")
    r = quantile_score(-(summary["T"] - summary["recency"]), bins)
    f = quantile_score(summary["frequency"], bins)
    m = quantile_score(summary["monetary_value"], bins)
    out = pd.DataFrame({"r_score": r.to_numpy(), "f_score": f.to_numpy(), "m_score": m.to_numpy()},
                       index=summary.index)
    out["rfm_score"] = 100 * out["r_score"] + 10 * out["f_score"] + out["m_score"]
    return out


@dataclass(frozen=True)
class SegmentRule:
    """A named segment: inclusive score ranges for R, F and M (or, from a pattern, the cells)."""

    name: str
    r: tuple[int, int] = (1, 5)
    f: tuple[int, int] = (1, 5)
    m: tuple[int, int] = (1, 5)
    cells: frozenset[tuple[int, int, int]] | None = None

    def describe(self) -> dict[str, str]:
        """The rule in words for the definitions table."""
        if self.cells is not None:
            return {"r": "pattern", "f": "pattern", "m": "pattern",
                    "cells": " ".join(sorted(f"{a}{b}{c}" for a, b, c in self.cells))}
        span = {d: (f"{lo}–{hi}" if lo != hi else str(lo))
                for d, (lo, hi) in (("r", self.r), ("f", self.f), ("m", self.m))}
        return {**span, "cells": ""}


DEFAULT_SEGMENTS: tuple[SegmentRule, ...] = (
    SegmentRule("champions", r=(5, 5), f=(4, 5)),
    SegmentRule("loyal", r=(3, 4), f=(4, 5)),
    SegmentRule("potential loyalist", r=(4, 5), f=(2, 3)),
    SegmentRule("new", r=(5, 5), f=(1, 1)),
    SegmentRule("promising", r=(4, 4), f=(1, 1)),
    SegmentRule("need attention", r=(3, 3), f=(1, 3)),
    SegmentRule("can't lose", r=(1, 2), f=(5, 5)),
    SegmentRule("at risk", r=(1, 2), f=(3, 4)),
    SegmentRule("hibernating", r=(2, 2), f=(1, 2)),
    SegmentRule("lost", r=(1, 1), f=(1, 2)),
)


def _range(value: object, key: str, bins: int) -> tuple[int, int]:
    if value is None:
        return (1, bins)
    if isinstance(value, str):
        parts = value.replace("–", "-").split("-")
    elif isinstance(value, (int, np.integer)):
        parts = [value, value]
    else:
        parts = list(value)
    try:
        lo, hi = (int(parts[0]), int(parts[-1])) if len(parts) in (1, 2) else (None, None)
    except (TypeError, ValueError):
        lo = hi = None
    if lo is None or not 1 <= lo <= hi <= bins:
        raise ConfigError(f"expected a score range like [4, 5] within 1..{bins}, got {value!r}",
                          key=key)
    return lo, hi


def parse_segments(mapping: object, *, bins: int = 5, key: str = "segments.mapping"
                   ) -> tuple[SegmentRule, ...]:
    """Turn a params mapping into segment rules and check that every score cell is covered.

    ``mapping`` is ``None`` (the default table), a mapping ``{name: {r: [lo, hi], f: ..., m: ...}}``
    or a list of ``{name, r, f, m}``; a missing range means any score.
    """
    if not mapping:
        return DEFAULT_SEGMENTS
    if isinstance(mapping, Mapping) and all(isinstance(v, str) for v in mapping.values()):
        rules = tuple(_pattern_rule(str(pattern), name, bins, f"{key}.{pattern}")
                      for pattern, name in mapping.items())
        _check_coverage(rules, bins, key)
        return rules
    if isinstance(mapping, Mapping):
        entries = [(str(name), spec, f"{key}.{name}") for name, spec in mapping.items()]
    else:
        entries = [(field(spec, "name"), spec, f"{key}[{i}]") for i, spec in enumerate(mapping)]
    rules = []
    for name, spec, where in entries:
        if not name:
            raise ConfigError("segment has no name", key=f"{where}.name")
        if isinstance(spec, SegmentRule):
            rules.append(spec)
            continue
        rules.append(SegmentRule(name, *(_range(field(spec, d), f"{where}.{d}", bins)
                                         for d in ("r", "f", "m"))))
    _check_coverage(rules, bins, key)
    return tuple(rules)


def _pattern_rule(pattern: str, name: str, bins: int, key: str) -> SegmentRule:
    """A pattern over the ``RFM`` digits, matched from the start (``5[4-5]``: R 5, F 4–5)."""
    try:
        regex = re.compile(pattern)
    except re.error as e:
        raise ConfigError(f"{pattern!r} is not a valid pattern ({e})", key=key,
                          fix="write e.g. '5[4-5]' for R = 5 and F = 4 or 5") from None
    cells = [(r, f, m) for r, f, m in itertools.product(range(1, bins + 1), repeat=3)
             if regex.match(f"{r}{f}{m}")]
    if not cells:
        raise ConfigError(f"pattern {pattern!r} matches no R F M score", key=key)
    return SegmentRule(str(name), cells=frozenset(cells))


def _check_coverage(rules, bins: int, key: str) -> None:
    for r, f, m in itertools.product(range(1, bins + 1), repeat=3):
        if not any(_matches(rule, r, f, m) for rule in rules):
            raise ConfigError(f"no segment covers R={r}, F={f}, M={m}", key=key,
                              fix="add a catch-all segment at the end (pattern '.')")


def _matches(rule: SegmentRule, r, f, m):
    if rule.cells is not None:
        codes = 100 * np.asarray(r) + 10 * np.asarray(f) + np.asarray(m)
        allowed = [100 * a + 10 * b + c for a, b, c in rule.cells]
        return np.isin(codes, allowed) if codes.ndim else bool(codes in allowed)
    return ((rule.r[0] <= r) & (r <= rule.r[1]) & (rule.f[0] <= f) & (f <= rule.f[1])
            & (rule.m[0] <= m) & (m <= rule.m[1]))


@dataclass(frozen=True)
class SegmentResult:
    """Segment per customer and the definitions table (``segment, r, f, m, customers, share``)."""

    segment: pd.Series
    definitions: pd.DataFrame
    method: str


def rfm_segments(scores: pd.DataFrame, mapping: object = None, *, bins: int = 5) -> SegmentResult:
    """Name each customer's segment from their R, F, M scores (first matching rule wins)."""
    rules = parse_segments(mapping, bins=bins)
    require_columns(scores, ("r_score", "f_score", "m_score"), what="RFM scores",
                    fix="compute them with clvkit.tiers.rfm_scores")
    r, f, m = (scores[c].to_numpy() for c in ("r_score", "f_score", "m_score"))
    code = np.full(len(scores), -1)
    for i, rule in reversed(list(enumerate(rules))):
        code[_matches(rule, r, f, m)] = i
    names = list(dict.fromkeys(rule.name for rule in rules))
    segment = pd.Series(pd.Categorical([rules[c].name for c in code], categories=names),
                        index=scores.index, name="segment")
    defs = pd.DataFrame([{"segment": rule.name, **rule.describe()} for rule in rules])
    defs["customers"] = np.bincount(code, minlength=len(rules)).astype("int64")
    defs["share"] = defs["customers"] / max(len(scores), 1)
    return SegmentResult(segment=segment, definitions=defs, method="rules")


#: The eight high/low RFM classes in their conventional order: (key, R high, F high, M high).
RFM8_CLASSES: tuple[tuple[str, bool, bool, bool], ...] = (
    ("key_value", True, True, True), ("key_development", True, False, True),
    ("key_retention", False, True, True), ("key_winback", False, False, True),
    ("general_value", True, True, False), ("general_development", True, False, False),
    ("general_retention", False, True, False), ("general_winback", False, False, False))


def rfm8_segments(summary: pd.DataFrame, *, cut: str = "mean", language: str = "en"
                  ) -> SegmentResult:
    """The eight-class high/low RFM model (重要价值客户 … 一般挽留客户; see module notes).

    Parameters
    ----------
    summary : DataFrame
        RFM summary or scored customers (``frequency``, ``recency``, ``T``, ``monetary_value``).
    cut : {"mean", "median"}
        The cut point of each dimension, computed over the customers given.
    language : {"en", "zh"}
        Language of the class names (from the ``clvkit.i18n`` catalogue).

    Returns
    -------
    SegmentResult
        ``segment`` per customer (categorical, the eight classes in the order above, all eight
        present as categories) and ``definitions``: ``segment, r, f, m, customers, share`` and the
        cut values ``r_cut`` (days-or-units since the last purchase), ``f_cut``, ``m_cut``.

    Examples
    --------
    >>> s = pd.DataFrame({"frequency": [5, 0], "recency": [50, 0], "T": [52, 52],
    ...                   "monetary_value": [80.0, 0.0]}, index=[1, 2])
    >>> rfm8_segments(s, language="en").segment.tolist()
    ['key value', 'general win-back']
    """
    from clvkit import i18n

    require_columns(summary, RFM_COLUMNS, what="RFM summary",
                    fix="pass the output of clvkit.rfm.rfm_summary or score_customers")
    if cut not in ("mean", "median"):
        raise ConfigError(f"unknown cut point {cut!r}", key="segments.cut",
                          fix="use 'mean' (the convention) or 'median'")
    gap = (summary["T"] - summary["recency"]).astype("float64")
    freq = summary["frequency"].astype("float64")
    money = summary["monetary_value"].astype("float64")
    for name, values in (("recency", gap), ("frequency", freq), ("monetary_value", money)):
        if values.isna().any():
            bad = values.index[values.isna().to_numpy()]
            raise DataError(f"{len(bad)} customers have no {name} to segment", column=name,
                            rows=bad, fix="segment customers with complete RFM summaries")
    cuts = {k: float(getattr(v, cut)()) if len(v) else 0.0
            for k, v in (("r", gap), ("f", freq), ("m", money))}
    high_r = (gap < cuts["r"]).to_numpy()
    high_f = (freq > cuts["f"]).to_numpy()
    high_m = (money > cuts["m"]).to_numpy()
    code = (~high_r) * 1 + (~high_f) * 2 + (~high_m) * 4   # 0 = all high … 7 = all low
    by_bits = {(not r) * 1 + (not f) * 2 + (not m) * 4: i
               for i, (_, r, f, m) in enumerate(RFM8_CLASSES)}
    order = np.array([by_bits[c] for c in range(8)])[code] if len(code) else np.zeros(0, int)
    names = [i18n.t(f"segment.rfm8.{key}", language=language) for key, *_ in RFM8_CLASSES]
    segment = pd.Series(pd.Categorical.from_codes(order, categories=names),
                        index=summary.index, name="segment")
    hi, lo = i18n.t("word.high", language=language), i18n.t("word.low", language=language)
    defs = pd.DataFrame([{"segment": names[i], "r": hi if r else lo, "f": hi if f else lo,
                          "m": hi if m else lo} for i, (_, r, f, m) in enumerate(RFM8_CLASSES)])
    defs["customers"] = np.bincount(order, minlength=8).astype("int64")
    defs["share"] = defs["customers"] / max(len(summary), 1)
    defs["r_cut"], defs["f_cut"], defs["m_cut"] = cuts["r"], cuts["f"], cuts["m"]
    return SegmentResult(segment=segment, definitions=defs, method="rfm8")


@dataclass(frozen=True)
class ClusterResult:
    """k-means segments: label per customer, the silhouette per k tried, and cluster profiles.

    ``profiles``: ``cluster, segment, customers, share`` and the mean ``recency_gap, frequency,
    monetary_value, clv, p_alive`` (if present), with ``description`` in words.
    """

    segment: pd.Series
    cluster: pd.Series
    k: int
    silhouette: pd.Series
    profiles: pd.DataFrame
    method: str = "kmeans"


_WORDS = {"recency_gap": ("recent", "lapsed"), "frequency": ("infrequent", "frequent"),
          "monetary_value": ("low spend", "high spend"), "clv": ("low CLV", "high CLV")}


def _describe(z: pd.Series, cut: float = 0.5) -> str:
    words = []
    for feature, (low, high) in _WORDS.items():
        if z[feature] > cut:
            words.append(high)
        elif z[feature] < -cut:
            words.append(low)
    return ", ".join(words) if words else "average on recency, frequency, spend and CLV"


def kmeans_segments(scored: pd.DataFrame, *, k_range: Sequence[int] = range(2, 9),
                    random_state: int = 0, sample_size: int = 5000) -> ClusterResult:
    """Data-driven segments: k-means on standardised log R, F, M and CLV, k by best silhouette.

    Parameters
    ----------
    scored : DataFrame
        Scored customers (RFM columns and ``clv``).
    k_range : sequence of int
        Candidate numbers of clusters (2..8 by default); values above the number of distinct
        customers' feature rows minus one are skipped.
    random_state : int
        Seed for k-means initialisation and the silhouette sample (results are reproducible).
    sample_size : int
        Customers (a fixed-seed sample) on which each k is fitted and scored by silhouette
        (which costs O(n²)); the chosen k is then fitted on every customer.
    """
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits  # a scikit-learn dependency

    require_columns(scored, (*RFM_COLUMNS, "clv"), what="scored customers",
                    fix="pass the output of clvkit.value.score_customers")
    raw = pd.DataFrame({"recency_gap": scored["T"] - scored["recency"],
                        "frequency": scored["frequency"],
                        "monetary_value": scored["monetary_value"],
                        "clv": scored["clv"].clip(lower=0)}, index=scored.index).astype("float64")
    if raw.isna().any().any():
        col = raw.columns[raw.isna().any()][0]
        bad = raw.index[raw[col].isna().to_numpy()]
        raise DataError(f"{len(bad)} customers have missing values", column=col, rows=bad,
                        fix="score every customer before clustering")
    features = StandardScaler().fit_transform(np.log1p(raw.to_numpy()))
    distinct = len(np.unique(features, axis=0))
    ks = [k for k in k_range if 2 <= k < distinct]
    if not ks:
        raise DataError(f"only {distinct} distinct customer profiles: too few to cluster",
                        fix="use segments.method: rules")
    rng = np.random.default_rng(random_state)
    sample = (features if len(features) <= sample_size
              else features[rng.choice(len(features), sample_size, replace=False)])
    sil = {}
    # one OpenMP thread: on a busy machine k-means' thread pool slows small fits ~100-fold
    with threadpool_limits(1):
        for k in ks:
            model = KMeans(n_clusters=k, n_init=10, random_state=random_state).fit(sample)
            sil[k] = (float(silhouette_score(sample, model.labels_))
                      if len(np.unique(model.labels_)) > 1 else -1.0)
        best = max(ks, key=lambda k: (sil[k], -k))
        labels = KMeans(n_clusters=best, n_init=10,
                        random_state=random_state).fit(features).labels_
    z = pd.DataFrame(features, columns=raw.columns, index=raw.index).groupby(labels).mean()
    order = z["clv"].sort_values(ascending=False, kind="mergesort").index
    renumber = {old: new for new, old in enumerate(order, start=1)}
    cluster = pd.Series([renumber[c] for c in labels], index=scored.index, name="cluster")
    descriptions = {renumber[c]: _describe(z.loc[c]) for c in order}
    names = {c: f"{c}: {d}" for c, d in descriptions.items()}
    prof = raw.assign(**({"p_alive": scored["p_alive"]} if "p_alive" in scored else {}))
    prof = prof.groupby(cluster.to_numpy()).mean()
    prof.insert(0, "customers", cluster.value_counts().sort_index().to_numpy())
    prof.insert(1, "share", prof["customers"] / len(cluster))
    prof["description"] = [descriptions[c] for c in prof.index]
    prof.insert(0, "segment", [names[c] for c in prof.index])
    prof = prof.rename_axis("cluster").reset_index()
    segment = pd.Series(pd.Categorical(cluster.map(names).to_numpy(),
                                       categories=[names[c] for c in sorted(names)]),
                        index=scored.index, name="segment")
    return ClusterResult(segment=segment, cluster=cluster, k=best,
                         silhouette=pd.Series(sil, name="silhouette").rename_axis("k"),
                         profiles=prof)
