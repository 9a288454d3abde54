"""The Spark engine's scoring: summaries, fitting and scoring where the transactions live.

Two pieces make the Spark engine. The *summary* engine, :mod:`clvkit.rfm_spark`, sits beside the
pandas and DuckDB engines and runs :mod:`clvkit.rfm`'s SQL (``rfm_summary(..., engine="spark")``
and :func:`clvkit.rfm.spark_summary`). This module sits above the pipeline and scores:

- *transactions* stay in Spark: the per-customer summary is :func:`summary_frame` (the same
  definitions as the pandas and DuckDB engines, in Spark's dialect);
- only the *distinct* ``(frequency, recency, T)`` rows with their counts cross to the driver,
  where the existing models fit on them (:func:`compressed_statistics`); Gamma-Gamma fits on
  the distinct ``(frequency, monetary_value)`` rows of repeat customers, or on a seeded sample
  of them when there are more than ``max_spend_rows`` (the fit says so);
- scoring (P(alive), expected purchases and spend, CLV, tier, stage, action) runs per partition
  with ``mapInPandas``, the models' vectorised predictions and :mod:`clvkit.tiers`' own
  functions; the assignment table is written as Parquet partitioned by tier.

Quantile tier cuts are exact: every customer lands in the tier the single-machine engine gives
(:func:`clvkit.tiers.tier_codes` with the same cuts: ranked by score, high first, ties broken by
customer_id; tier sizes within one customer of the configured shares). ``approxQuantile`` with
relative error ``spark.quantile_error`` (default 0.001) only narrows each cut to a band of about
``4 * quantile_error * n`` customers; exact counts place the band and the driver ranks it, so
the error bound is zero and the driver holds at most that band (4,000 rows per cut at a million
customers).

Transactions that Spark reads (a Parquet table or a URI) are cleaned in Spark SQL with
:mod:`clvkit.clean`'s rules (:func:`clvkit.rfm_spark.clean_transactions`); other sources are
read and cleaned on the driver by :func:`clvkit.pipeline.load_data`. Either way the ledger is
the pandas engine's and is written as ``cleaning_ledger.csv`` with the outputs.
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from clvkit import rfm_spark, tiers
from clvkit.errors import DataError
from clvkit.pipeline import fit_transaction_model, load_data
from clvkit.rfm import spark_summary as summary_frame
from clvkit.tiers.migration import NEW, VANISHED
from clvkit.rfm_spark import get_session, read_transactions
from clvkit.value import score_customers

__all__ = ["get_session", "read_transactions", "summary_frame", "compressed_statistics",
           "fit_models", "score_frame", "scored_frame", "score_scenario", "tier_cuts", "master_in_use", "watchlist",
           "migration", "SparkFit"]


def compressed_statistics(summary, *, max_spend_rows: int = 2_000_000, seed: int = 0):
    """Bring the fitting statistics to the driver: distinct rows with their counts.

    Returns
    -------
    (purchases, spend, info)
        ``purchases``: distinct ``frequency, recency, T`` with ``weights``; ``spend``: distinct
        ``frequency, monetary_value`` of repeat customers with ``weights`` (a seeded Bernoulli
        sample of them when there are more than ``max_spend_rows``); ``info``: a dict with the
        customer count, the distinct row counts and the spend sampling fraction.
    """
    from pyspark.sql import functions as F

    purchases = (summary.groupBy("frequency", "recency", "T").agg(F.count("*").alias("weights"))
                 .toPandas())
    repeat = summary.where(F.col("frequency") > 0)
    spend_rows = repeat.select("frequency", "monetary_value").distinct().count()
    fraction = 1.0 if spend_rows <= max_spend_rows else max_spend_rows / spend_rows
    if fraction < 1.0:
        repeat = repeat.sample(fraction=fraction, seed=seed)
    spend = (repeat.groupBy("frequency", "monetary_value").agg(F.count("*").alias("weights"))
             .toPandas())
    info = {"customers": int(purchases["weights"].sum()), "distinct_purchase_rows": len(purchases),
            "distinct_spend_rows": int(spend_rows), "spend_sample_fraction": fraction}
    return purchases, spend, info


@dataclass(frozen=True)
class SparkFit:
    """Models fitted on the driver from compressed statistics, and what crossed to the driver."""

    transaction_model: object
    spend_model: object
    info: dict


def fit_models(config, summary) -> SparkFit:
    """Fit the configured purchase model and Gamma-Gamma on compressed statistics."""
    from clvkit.models import GammaGamma

    purchases, spend, info = compressed_statistics(summary,
                                                   max_spend_rows=config.spark.max_spend_rows)
    unit = config.summary.time_unit
    purchases.attrs["time_unit"] = spend.attrs["time_unit"] = unit
    tm, comparison = fit_transaction_model(config, purchases)
    sm = GammaGamma(penalizer=config.model.penalizer, ci_level=config.model.ci_level).fit(spend)
    return SparkFit(tm, sm, {**info, "model_comparison": comparison})


# ---------------------------------------------------------------------------- scoring
_SCORE_COLUMNS = ("p_alive", "expected_purchases", "expected_spend", "clv", "clv_at_risk")


def _scorer(fit: SparkFit, config):
    """A picklable per-partition function: summary rows in, scored rows out."""
    v, unit = config.value, config.summary.time_unit

    def score(batches):
        for pdf in batches:
            summary = pdf.set_index("customer_id")
            summary.attrs["time_unit"] = unit
            scored = score_customers(fit.transaction_model, fit.spend_model, summary,
                                     horizon=v.horizon, horizon_unit=v.horizon_unit,
                                     discount_rate=v.discount_rate, discount_unit=v.discount_unit,
                                     margin=v.margin)
            yield scored.reset_index()[["customer_id", *_SCORED_COLUMNS]]   # the schema's
    return score


def tier_cuts(scored, config) -> list[tuple[float, object]]:
    """The last customer ``(score, customer_id)`` of every tier but the last, best tier first.

    Exact: the cuts of :func:`clvkit.tiers.quantile_cuts` over all customers (tier ``k`` ends
    at rank :func:`clvkit.tiers.tier_bounds`), found without ranking everyone: Spark's
    ``approxQuantile`` (relative error ``spark.quantile_error``) only narrows the search to a
    band of about ``4 * quantile_error * n`` customers around each cut; exact counts place the
    band and :func:`clvkit.tiers.ranked_cut` ranks it on the driver. Threshold rules cut at their
    minima (:func:`clvkit.tiers.threshold_cuts`).

    Raises
    ------
    DataError
        Threshold rules whose last ``min`` is above some customers' score (as on one machine).
    """
    t = config.tiers
    return _cuts(scored, t.score, t.method, t.rules, config.spark.quantile_error, key="tiers")


def _cuts(scored, column: str, method: str, rules, eps: float, *, key: str, n: int | None = None):
    from pyspark.sql import functions as F

    if method == "threshold":
        mins = [float("-inf") if rule.min is None else float(rule.min) for rule in rules]
        below = scored.where(F.col(column) < mins[-1]).count()
        if below:
            raise DataError(f"{below} customers score below the lowest threshold {mins[-1]:g}",
                            column=column,
                            fix=f"give the last rule of {key}.rules no min to catch them")
        return tiers.threshold_cuts(mins)
    n = scored.count() if n is None else n
    bounds = [int(b) for b in tiers.tier_bounds([rule.share for rule in rules], n)]
    found = iter(_ranked(scored, [(column, b - 1, True) for b in bounds if b > 0], n, eps))
    return [(float("inf"), None) if b == 0 else next(found) for b in bounds]


def _ranked(frame, requests, n: int, eps: float) -> list[tuple[float, object]]:
    """For each ``(column, position, by_id)``: the row at 0-based ``position`` ranking the
    column high first with ties by customer_id, as ``(value, customer_id)`` (``by_id``); or,
    without ``by_id``, the value at ``position`` in ascending order, as ``(value, None)``.

    Exact without sorting everyone: one ``approxQuantile`` pass gives each request a narrow
    band of values, one pass counts the rows past each band, one pass brings the bands to the
    driver (rows for ``by_id``, ranked by :func:`clvkit.tiers.ranked_cut`; else distinct values
    with counts, so ties cost nothing); a band the sketch missed is widened and searched again.
    """
    from pyspark.sql import functions as F

    # rank from the top (high first) for by_id requests; from the bottom for value requests
    todo = {i: (column, position, by_id, 2 * eps + 1.0 / n)
            for i, (column, position, by_id) in enumerate(requests)}
    found: dict[int, tuple[float, object]] = {}

    def quantile(position, by_id):  # the ascending quantile of that row
        return (n - position - 0.5) / n if by_id else (position + 0.5) / n

    while todo:
        columns = sorted({r[0] for r in todo.values()})
        edges = {i: (max(quantile(p, k) - w, 0.0), min(quantile(p, k) + w, 1.0))
                 for i, (_, p, k, w) in todo.items()}
        probs = sorted({q for pair in edges.values() for q in pair})
        sketch = {c: dict(zip(probs, v))
                  for c, v in zip(columns, frame.approxQuantile(columns, probs, eps))}
        bands = {i: (sketch[todo[i][0]][lo], sketch[todo[i][0]][hi])
                 for i, (lo, hi) in edges.items()}
        outside = frame.agg(*[
            F.count(F.when(F.col(todo[i][0]) > hi if todo[i][2] else F.col(todo[i][0]) < lo,
                           1)).alias(f"o{i}") for i, (lo, hi) in bands.items()]).collect()[0]
        inside = {i: (F.col(todo[i][0]) >= lo) & (F.col(todo[i][0]) <= hi)
                  for i, (lo, hi) in bands.items()}
        rows = values = None
        with rfm_spark.quiet():
            if any(todo[i][2] for i in todo):
                rows = frame.where(_any(inside[i] for i in todo if todo[i][2])) \
                    .select("customer_id", *columns).toPandas()
            value_columns = sorted({todo[i][0] for i in todo if not todo[i][2]})
            if value_columns:
                parts = [frame.where(_any(inside[i] for i in todo
                                          if not todo[i][2] and todo[i][0] == c))
                         .select(F.lit(c).alias("column"), F.col(c).cast("double").alias("value"))
                         for c in value_columns]
                union = parts[0]
                for part in parts[1:]:
                    union = union.unionByName(part)
                values = union.groupBy("column", "value").count().toPandas()
        for i, (lo, hi) in bands.items():
            c, position, by_id, w = todo[i]
            at = position - outside[f"o{i}"]
            if by_id:
                band = rows[(rows[c] >= lo) & (rows[c] <= hi)]
                if 0 <= at < len(band) or w >= 1.0:
                    found[i] = tiers.ranked_cut(band[c].to_numpy(float),
                                                band["customer_id"].to_numpy(), at)
            else:
                band = values[(values["column"] == c) & (values["value"] >= lo)
                              & (values["value"] <= hi)].sort_values("value")
                reach = band["count"].cumsum().to_numpy()
                if 0 <= at < (reach[-1] if len(reach) else 0) or w >= 1.0:
                    found[i] = (float(band["value"].iloc[int(np.searchsorted(reach, at,
                                                                             side="right"))]),
                                None)
            if i in found:
                del todo[i]
            else:
                todo[i] = (c, position, by_id, w * 4)  # the sketch missed: widen the band
    return [found[i] for i in range(len(requests))]


def _any(conditions):
    conditions = list(conditions)
    out = conditions[0]
    for more in conditions[1:]:
        out = out | more
    return out


def _score_bounds(scored, n: int, eps: float, bins: int = 5) -> dict:
    """Per R/F/M column: the order statistics of :func:`clvkit.tiers.score_bound_positions`
    (exact) and whether the column is constant, for :func:`clvkit.tiers.score_from_bounds`."""
    from pyspark.sql import functions as F

    ends = scored.agg(*[f(c) for c in _RFM_VALUES for f in (F.min, F.max)]).collect()[0]
    positions = tiers.score_bound_positions(n, bins)
    values = iter(v for v, _ in _ranked(scored, [(c, p, False) for c in _RFM_VALUES
                                                 for p in positions], n, eps))
    return {c: ([next(values) for _ in positions], ends[2 * k] == ends[2 * k + 1])
            for k, c in enumerate(_RFM_VALUES)}


_RFM_VALUES = {"_r_value": "r_score", "frequency": "f_score", "monetary_value": "m_score"}


def _assigner(config, cuts, second_cuts, bounds, run_date):
    """A picklable per-partition function: scored rows in, assignment rows (export columns)
    out, with :mod:`clvkit.tiers`' own functions, as :func:`clvkit.pipeline.score` does."""
    t, pb, unit = config.tiers, config.playbook, config.summary.time_unit
    labels = list(t.labels)
    rules = tiers.StageRules.from_params(config.stages)
    mapping = config.segments.mapping or None
    second = t.second_dimension

    def assign(batches):
        for pdf in batches:
            scored = pdf.set_index("customer_id")
            scored.attrs["time_unit"] = unit
            ids = scored.index.to_numpy()
            codes = tiers.tier_codes(scored[t.score].to_numpy(float), ids, cuts)
            tier = pd.Series(pd.Categorical.from_codes(codes, categories=labels, ordered=True),
                             index=scored.index, name="tier")
            stage = tiers.lifecycle_stages(scored, rules).stage
            rfm = pd.DataFrame({score: tiers.score_from_bounds(
                scored[value].to_numpy(float), bounds[value][0], 5, constant=bounds[value][1])
                for value, score in _RFM_VALUES.items()}, index=scored.index)
            rfm["rfm_score"] = 100 * rfm["r_score"] + 10 * rfm["f_score"] + rfm["m_score"]
            segment = tiers.rfm_segments(rfm, mapping).segment.astype("string")
            tier_2d = pd.array([pd.NA] * len(tier), dtype="string")
            if second is not None:
                tier_2d = _tier_2d(second, tier, stage, segment, scored, second_cuts)
            action = tiers.assign_actions(tier, stage, tiers=pb.tiers, stages=pb.stages,
                                          require_actions=pb.require_actions,
                                          prospect_label=t.prospect_label, labels=labels,
                                          table=pb.table, protect=pb.protect).action
            yield pd.DataFrame({
                "customer_id": ids, "tier": tier.astype(str).to_numpy(),
                "tier_2d": np.asarray(tier_2d, dtype=object),
                "stage": stage.astype(str).to_numpy(), "segment": segment.to_numpy(object),
                **{c: rfm[c].to_numpy(np.int64) for c in _SCORES},
                **{c: scored[c].to_numpy(float) for c in
                   ("clv", "p_alive", "expected_purchases", "clv_at_risk")},
                "action": action.astype(object).to_numpy(),
                "run_date": np.full(len(scored), run_date.to_datetime64()),
            })
    return assign


_SCORES = ("r_score", "f_score", "m_score", "rfm_score")


def _tier_2d(second, tier, stage, segment, scored, second_cuts):
    """``"<tier> / <second>"`` as :func:`clvkit.tiers.tier_grid` labels it, per partition."""
    column = second.column
    values = (stage if column == "stage" else segment if column == "segment"
              else scored[column])
    if second.method in ("quantile", "threshold"):
        labels = [rule.label for rule in second.rules]
        codes = tiers.tier_codes(values.to_numpy(float), values.index.to_numpy(), second_cuts)
        values = pd.Series(np.asarray(labels, dtype=object)[codes], index=values.index)
    grid = tiers.tier_grid(tier, values, column=column, method="categories")
    return grid.tier_2d.astype("string").to_numpy()


def _check_supported(config) -> None:
    from clvkit.errors import ConfigError

    if config.segments.method == "kmeans":
        raise ConfigError("k-means segments are not computed by the spark engine",
                          key="segments.method", fix="use method: rules with the spark engine")
    second = config.tiers.second_dimension
    if second is not None and second.column not in ("stage", "segment", *_SCORED_COLUMNS):
        raise ConfigError(f"the spark engine cannot take the second dimension from "
                          f"{second.column!r} (a customers-table column)",
                          key="tiers.second_dimension.column",
                          fix=f"use stage, segment or a scored column: {', '.join(_SCORED_COLUMNS)}")


_SCORED_COLUMNS = ("frequency", "recency", "T", "monetary_value", *_SCORE_COLUMNS)
_SCHEMA_NUMBERS = ", ".join(f"{c} bigint" for c in _SCORES) + ", " + ", ".join(
    f"{c} double" for c in ("clv", "p_alive", "expected_purchases", "clv_at_risk"))


def scored_frame(summary, fit: SparkFit, config):
    """Every customer of a Spark summary scored (cached): the summary columns, the value
    columns of :func:`clvkit.value.score_customers` and ``_r_value`` (minus the days since the
    last purchase, for the R score)."""
    from pyspark.sql import functions as F

    id_type = summary.schema["customer_id"].dataType.simpleString()
    scored_schema = (f"customer_id {id_type}, frequency bigint, recency double, T double, "
                     f"monetary_value double, " + ", ".join(f"{c} double" for c in _SCORE_COLUMNS))
    return (summary.mapInPandas(_scorer(fit, config), scored_schema)
            .withColumn("_r_value", -(F.col("T") - F.col("recency"))).cache())


def score_frame(summary, fit: SparkFit, config, run_date, *, scored=None):
    """Score and tier every customer of a Spark summary: a Spark DataFrame with the export
    columns of :data:`clvkit.export.ASSIGNMENT_COLUMNS`, in that order (``run_date`` a
    timestamp without zone, as the pandas engine writes it). ``scored``: the
    :func:`scored_frame` when already computed."""
    _check_supported(config)
    id_type = summary.schema["customer_id"].dataType.simpleString()
    scored = scored_frame(summary, fit, config) if scored is None else scored
    eps, n = config.spark.quantile_error, scored.count()
    t = config.tiers
    cuts = _cuts(scored, t.score, t.method, t.rules, eps, key="tiers", n=n)
    second, second_cuts = t.second_dimension, None
    if second is not None and second.method in ("quantile", "threshold"):
        second_cuts = _cuts(scored, second.column, second.method, second.rules, eps,
                            key="tiers.second_dimension", n=n)
    bounds = _score_bounds(scored, n, eps)
    out_schema = (f"customer_id {id_type}, tier string, tier_2d string, stage string, "
                  f"segment string, {_SCHEMA_NUMBERS}, action string, run_date timestamp_ntz")
    return scored.mapInPandas(_assigner(config, cuts, second_cuts, bounds,
                                        pd.Timestamp(run_date)), out_schema)


# ---------------------------------------------------------------- watchlist and migration
def _warn_candidates(config):
    """Per partition: the customers :func:`clvkit.tiers.churn_warning` keeps (at most
    ``top_n`` of each partition), so the driver ranks only those."""
    cw = config.churn_warning

    def flag(batches):
        for pdf in batches:
            part = pdf.set_index("customer_id")
            res = tiers.churn_warning(part, p_alive_below=cw.p_alive_below,
                                      drop_more_than=cw.drop_more_than,
                                      previous=part["p_alive_previous"], top_n=cw.top_n)
            yield pdf[pdf["customer_id"].isin(res.watchlist["customer_id"])]
    return flag


def watchlist(assigned, previous, config) -> pd.DataFrame:
    """The churn watchlist of the pandas engine, computed in Spark: each partition flags its
    candidates, the driver ranks them with the same :func:`clvkit.tiers.churn_warning`."""
    from pyspark.sql import functions as F

    cw = config.churn_warning
    buyers = assigned.where(F.col("p_alive").isNotNull()).select(
        "customer_id", "p_alive", "clv", "clv_at_risk", "tier", "stage", "action")
    if previous is not None:
        prev = previous.select("customer_id", F.col("p_alive").alias("p_alive_previous"))
        buyers = buyers.join(prev, "customer_id", "left")
    else:
        buyers = buyers.withColumn("p_alive_previous", F.lit(None).cast("double"))
    with rfm_spark.quiet():
        cand = buyers.mapInPandas(_warn_candidates(config), buyers.schema).toPandas()
    cand = cand.set_index("customer_id").sort_index()
    prev_p = cand["p_alive_previous"] if previous is not None else None
    return tiers.churn_warning(cand, p_alive_below=cw.p_alive_below,
                               drop_more_than=cw.drop_more_than, previous=prev_p,
                               top_n=cw.top_n, extra=cand[["tier", "stage", "action"]]).watchlist


def migration(assigned, previous, labels):
    """Tier migration against the previous run, in Spark: the two runs joined per customer,
    :func:`clvkit.tiers.tier_migration` per partition for the moves; the counts summed.

    Returns ``(counts, moves)``: the pandas engine's count matrix and a Spark DataFrame of moves.
    """
    from pyspark.sql import functions as F

    cur = assigned.select("customer_id", "tier", "clv")
    prev = previous.select("customer_id", F.col("tier").alias("tier_prev"),
                           F.col("clv").alias("clv_prev"))
    both = cur.join(prev, "customer_id", "full")
    order = list(labels)

    def moves(batches):
        for pdf in batches:
            c = pdf[pdf["tier"].notna()][["customer_id", "tier", "clv"]]
            p = pdf[pdf["tier_prev"].notna()][["customer_id", "tier_prev", "clv_prev"]] \
                .rename(columns={"tier_prev": "tier", "clv_prev": "clv"})
            m = tiers.tier_migration(p, c, order=order).moves
            yield m.assign(from_tier=m["from_tier"].astype(str), to_tier=m["to_tier"].astype(str))

    id_type = assigned.schema["customer_id"].dataType.simpleString()
    moved = both.mapInPandas(moves, f"customer_id {id_type}, from_tier string, to_tier string, "
                                    "movement string, clv double").cache()
    with rfm_spark.quiet():
        cells = moved.groupBy("from_tier", "to_tier").count().toPandas()
    rows = [*order, NEW]
    cols = [*order, VANISHED]
    counts = (cells.pivot(index="from_tier", columns="to_tier", values="count")
              .reindex(index=rows, columns=cols).fillna(0).astype(np.int64))
    counts.index.name, counts.columns.name = "from_tier", "to_tier"
    return counts, moved


def _prospect_rows(config, prospects, run_date) -> pd.DataFrame:
    """Export rows for customers who never bought, as :func:`clvkit.pipeline.score` gives them."""
    t, pb = config.tiers, config.playbook
    ids = pd.Index(prospects, name="customer_id")
    empty = pd.DataFrame(columns=list(_SCORED_COLUMNS), dtype="float64",
                         index=pd.Index([], dtype=ids.dtype, name="customer_id"))
    empty["frequency"] = empty["frequency"].astype(np.int64)
    empty.attrs["time_unit"] = config.summary.time_unit
    tier = tiers.assign_tiers(empty.assign(**{t.score: 0.0}), t.rules, score=t.score,
                              method=t.method, prospects=ids,
                              prospect_label=t.prospect_label).tier
    stage = tiers.lifecycle_stages(empty, tiers.StageRules.from_params(config.stages),
                                   prospects=ids).stage.reindex(tier.index)
    action = tiers.assign_actions(tier, stage, tiers=pb.tiers, stages=pb.stages,
                                  require_actions=pb.require_actions,
                                  prospect_label=t.prospect_label, labels=t.labels).action
    second = t.second_dimension
    tier_2d = [pd.NA] * len(ids)
    if second is not None:
        values = stage if second.column == "stage" else pd.Series("prospect", index=ids) \
            if second.column == "segment" else pd.Series(np.nan, index=ids)
        tier_2d = tiers.tier_grid(tier, values, column=second.column,
                                  method="categories").tier_2d.astype("string").to_numpy()
    frame = pd.DataFrame({"customer_id": ids.to_numpy(), "tier": tier.astype(str).to_numpy(),
                          "tier_2d": np.asarray(tier_2d, dtype=object),
                          "stage": stage.astype(str).to_numpy(),
                          "segment": np.full(len(ids), "prospect", dtype=object)})
    for c in _SCORES:
        frame[c] = pd.array([pd.NA] * len(ids), dtype="Int64")
    for c in ("clv", "p_alive", "expected_purchases", "clv_at_risk"):
        frame[c] = np.nan
    frame["action"] = action.astype(object).to_numpy()
    frame["run_date"] = run_date.to_datetime64()
    return frame


# ------------------------------------------------------------------------- the command
def _uri(out_dir) -> bool:
    return rfm_spark.scheme(out_dir) is not None


def _reads_in_spark(path) -> bool:
    """Spark reads the transactions itself: a URI, a folder (of part files) or a .parquet."""
    return (rfm_spark.scheme(path) is not None or Path(str(path)).is_dir()
            or str(path).lower().endswith(".parquet"))


def _read_previous(spark, path):
    """The previous run's assignments as a Spark DataFrame (Parquet read by Spark; a CSV export
    through :func:`clvkit.export.read_assignments`)."""
    from clvkit import export

    if _reads_in_spark(path):
        frame = read_transactions(str(path), spark=spark)
        missing = [c for c in ("customer_id", "tier", "clv", "p_alive") if c not in frame.columns]
        if missing:
            raise DataError(f"not a tier export: no column {missing[0]!r}", file=str(path),
                            fix="point previous_run at a tiers.parquet written by clvkit score")
        return frame
    table = export.read_assignments(path)
    with rfm_spark.quiet():
        return spark.createDataFrame(table[["customer_id", "tier", "clv", "p_alive"]])


def _write_small(spark, frame: pd.DataFrame, out, name: str, csv_bom: bool) -> str:
    """A small table (watchlist, migration counts) as the pandas engine writes it; to a URI
    through the Hadoop filesystem of its scheme."""
    import io as _io

    from clvkit import export

    if not _uri(out):
        return str(export.write_table(frame, Path(out) / name, csv_bom=csv_bom))
    with tempfile.TemporaryDirectory() as tmp:
        local = export.write_table(frame, Path(tmp) / name, csv_bom=csv_bom)
        data = _io.BytesIO(local.read_bytes()).getvalue()
    target = f"{str(out).rstrip('/')}/{name}"
    rfm_spark.write_bytes(spark, target, data)
    return target


#: The cleaning ledger ``clvkit score`` writes with the Spark engine (reason, rows, customers,
#: amount, action: :attr:`clvkit.clean.Ledger.table`).
LEDGER_FILE = "cleaning_ledger.csv"


def clean_lake(config, spark):
    """The scenario's Spark-read transactions (``data.transactions.path``) cleaned in Spark SQL
    with the params' ``cleaning`` options, as :func:`clvkit.pipeline.load_data` cleans them:
    ``(clean Spark DataFrame with customer_id, date, amount and the other columns, Ledger)``
    (:func:`clvkit.rfm_spark.clean_transactions`)."""
    from clvkit.config import mask_secrets

    c, src = config.cleaning, config.data.transactions
    cols = dict(customer_id=src.customer_id, date=src.date or "date",
                amount=src.amount or "amount")
    today = pd.Timestamp(config.run_date or pd.Timestamp.today()).normalize()
    return rfm_spark.clean_transactions(
        str(src.path), observation_end=c.observation_end, returns=c.returns,
        zero_amounts=c.zero_amounts, amount_cap=c.amount_cap, date_floor=c.date_floor,
        date_ceiling=today + pd.Timedelta(days=c.future_tolerance_days),
        max_drop_share=c.max_drop_share, date_format=src.date_format,
        label=f"files: {mask_secrets(str(src.location))}", spark=spark, **cols)


def master_in_use() -> str | None:
    """The master of the active Spark session (None without one), for the CLI to report."""
    from pyspark.sql import SparkSession

    session = SparkSession.getActiveSession()
    return None if session is None else session.sparkContext.master


def score_scenario(config, out_dir, run_date=None) -> list:
    """``clvkit score`` with ``summary.engine: spark``: summary, fit, score, write.

    Transactions come from ``data.transactions.path`` read by Spark when it is a URI
    (``s3a://``, ``hdfs://``, ``file://``), a folder of Parquet part files or a ``.parquet``
    file, else from :func:`clvkit.pipeline.load_data` (simulated, CDNOW or a CSV). Writes to
    ``out_dir`` (a folder or a URI, passed to Spark unchanged) the pandas engine's outputs:
    ``tiers.parquet/`` (the export columns, partitioned by tier), ``watchlist.csv`` and
    ``.parquet``, with ``previous_run`` ``migration.csv`` and ``migration_moves.csv/`` (CSV part
    files, one row per customer), and ``spark_fit.json`` (fitted parameters, the master, how
    many distinct rows crossed to the driver). A missing local input is reported before Spark
    starts. Returns the paths written.
    """
    with rfm_spark.quiet():
        return _score_scenario(config, out_dir, run_date)


def _score_scenario(config, out_dir, run_date) -> list:
    import json

    out = str(out_dir).rstrip("/") if _uri(out_dir) else Path(out_dir)
    src = config.data.transactions
    in_spark = (config.data.source == "files" and src is not None and src.path is not None
                and _reads_in_spark(src.path))
    if in_spark:
        rfm_spark.check_path(src.path, what="data.transactions.path in the params file")
        observation_end = config.cleaning.observation_end
        if observation_end is None:
            raise DataError("the spark engine needs cleaning.observation_end", file=src.path,
                            fix="set cleaning.observation_end in the params file")
    if config.previous_run is not None:
        rfm_spark.check_path(config.previous_run, what="previous_run in the params file")
    _check_supported(config)
    spark = get_session(config.spark)
    run_date = pd.Timestamp(run_date or config.run_date or pd.Timestamp.today()).normalize()
    customers = None
    cols = dict(customer_id=src.customer_id, date=src.date or "date",  # for mapping errors
                amount=src.amount or "amount") if in_spark else {}
    if not in_spark:  # read and cleaned on the driver (clvkit.io, clvkit.clean)
        data = load_data(config)
        transactions = read_transactions(data.transactions, spark=spark)
        observation_end, customers, ledger = data.observation_end, data.customers, data.ledger
    try:
        if in_spark:
            transactions, ledger = clean_lake(config, spark)
        summary = summary_frame(transactions, observation_end=observation_end,
                                time_unit=config.summary.time_unit, period=config.summary.period)
        # one task per core or two: every later pass runs a Python worker per partition, and
        # the shuffle's spark.sql.shuffle.partitions (200 by default) would mean 200 of them
        summary = summary.coalesce(2 * spark.sparkContext.defaultParallelism).cache()
    except DataError as exc:
        role = {v: k for k, v in cols.items()}.get(exc.column)
        if role is None or "column" not in exc.problem:
            raise
        raise DataError(exc.problem, file=exc.file, fix=f"set data.transactions.{role} in the "
                        "params file to the column's name") from None
    fit = fit_models(config, summary)
    assigned = score_frame(summary, fit, config, run_date)
    if customers is not None:
        buyers = set(summary.select("customer_id").toPandas()["customer_id"])
        prospects = [c for c in customers["customer_id"] if c not in buyers]
        if prospects:
            rows = _prospect_rows(config, prospects, run_date)
            with rfm_spark.quiet():
                assigned = assigned.unionByName(spark.createDataFrame(rows, assigned.schema))
    assigned = assigned.cache()
    written = [_write_small(spark, ledger.table, out, LEDGER_FILE, config.export.csv_bom)]
    tiers_path = f"{out}/tiers.parquet" if _uri(out) else out / "tiers.parquet"
    assigned.write.mode("overwrite").partitionBy("tier").parquet(str(tiers_path))
    written.append(tiers_path)
    previous = None if config.previous_run is None else _read_previous(spark, config.previous_run)
    bom = config.export.csv_bom
    watch = watchlist(assigned, previous, config)
    written += [_write_small(spark, watch, out, f"watchlist.{fmt}", bom)
                for fmt in ("csv", "parquet")]
    if previous is not None:
        counts, moves = migration(assigned, previous, config.tiers.labels)
        written.append(_write_small(spark, counts.reset_index(), out, "migration.csv", bom))
        moves_path = f"{out}/migration_moves.csv" if _uri(out) else out / "migration_moves.csv"
        # Spark's CSV writer trims ids (" C12 ") unless told not to; the pandas engine keeps them
        moves.write.mode("overwrite").option("header", True) \
            .option("ignoreLeadingWhiteSpace", False).option("ignoreTrailingWhiteSpace", False) \
            .csv(str(moves_path))
        written.append(moves_path)
    summary.unpersist()
    info = {k: v for k, v in fit.info.items() if k != "model_comparison"}
    info.update(run_date=str(run_date.date()), engine="spark",
                master=spark.sparkContext.master,
                transaction_model={"name": type(fit.transaction_model).__name__,
                                   **fit.transaction_model.params_.to_dict()},
                spend_model={"name": "GammaGamma", **fit.spend_model.params_.to_dict()})
    text = json.dumps(info, indent=2)
    fit_path = f"{out}/spark_fit.json" if _uri(out) else out / "spark_fit.json"
    if _uri(out):
        rfm_spark.write_bytes(spark, fit_path, text.encode())
    else:
        fit_path.write_text(text)
    written.append(fit_path)
    assigned.unpersist()
    return written
