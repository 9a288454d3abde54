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

The Spark path reads *clean* transactions (a curated lake table): it checks for missing ids,
dates and non-finite amounts and stops with a :class:`clvkit.DataError` if there are any, but it
does not run :mod:`clvkit.clean`'s row rules.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from clvkit import tiers
from clvkit.errors import DataError
from clvkit.pipeline import fit_transaction_model, load_data
from clvkit.rfm import spark_summary as summary_frame
from clvkit.rfm_spark import get_session, read_transactions
from clvkit.value import score_customers

__all__ = ["get_session", "read_transactions", "summary_frame", "compressed_statistics",
           "fit_models", "score_frame", "score_scenario", "tier_cuts", "SparkFit"]


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
                                     discount_rate=v.discount_rate, discount_unit=v.discount_unit)
            yield scored.reset_index()
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
    from pyspark.sql import functions as F

    t = config.tiers
    score = F.col(t.score)
    if t.method == "threshold":
        mins = [float("-inf") if rule.min is None else float(rule.min) for rule in t.rules]
        below = scored.where(score < mins[-1]).count()
        if below:
            raise DataError(f"{below} customers score below the lowest threshold {mins[-1]:g}",
                            column=t.score,
                            fix="give the last rule of tiers.rules no min to catch them")
        return tiers.threshold_cuts(mins)
    n = scored.count()
    eps = config.spark.quantile_error
    cuts = []
    for b in tiers.tier_bounds([rule.share for rule in t.rules], n):
        if b == 0:  # an empty tier: a cut above every score
            cuts.append((float("inf"), None))
            continue
        q = (n - b + 0.5) / n  # ascending quantile of the b-th best customer
        width = 2 * eps + 1.0 / n
        while True:
            lo, hi = scored.approxQuantile(t.score, [max(q - width, 0.0), min(q + width, 1.0)],
                                           eps)
            above = scored.where(score > hi).count()
            band = (scored.where((score >= lo) & (score <= hi)).select(t.score, "customer_id")
                    .toPandas())
            position = int(b) - 1 - above
            if 0 <= position < len(band) or width >= 1.0:
                break
            width *= 4  # the sketch missed the cut: widen the band
        cuts.append(tiers.ranked_cut(band[t.score].to_numpy(float),
                                     band["customer_id"].to_numpy(), position))
    return cuts


def _assigner(config, cuts, run_date):
    """A picklable per-partition function: scored rows in, assignment rows out."""
    t, pb, unit = config.tiers, config.playbook, config.summary.time_unit
    labels = list(t.labels)
    rules = tiers.StageRules.from_params(config.stages)

    def assign(batches):
        for pdf in batches:
            scored = pdf.set_index("customer_id")
            scored.attrs["time_unit"] = unit
            codes = tiers.tier_codes(scored[t.score].to_numpy(float), scored.index.to_numpy(),
                                     cuts)
            tier = pd.Series(pd.Categorical.from_codes(codes, categories=labels, ordered=True),
                             index=scored.index, name="tier")
            stage = tiers.lifecycle_stages(scored, rules).stage
            action = tiers.assign_actions(tier, stage, tiers=pb.tiers, stages=pb.stages,
                                    require_actions=pb.require_actions,
                                    prospect_label=t.prospect_label, labels=labels).action
            yield pd.DataFrame({
                "customer_id": scored.index.to_numpy(), "tier": tier.astype(str).to_numpy(),
                "stage": stage.astype(str).to_numpy(),
                **{c: scored[c].to_numpy(float) for c in
                   ("clv", "p_alive", "expected_purchases", "clv_at_risk")},
                "action": action.astype(object).to_numpy(),
                "run_date": np.full(len(scored), run_date.date()),
            })
    return assign


def score_frame(summary, fit: SparkFit, config, run_date):
    """Score and tier every customer of a Spark summary; returns a Spark DataFrame
    ``customer_id, tier, stage, clv, p_alive, expected_purchases, clv_at_risk, action, run_date``."""
    id_type = summary.schema["customer_id"].dataType.simpleString()
    scored_schema = (f"customer_id {id_type}, frequency bigint, recency double, T double, "
                     f"monetary_value double, " + ", ".join(f"{c} double" for c in _SCORE_COLUMNS))
    scored = summary.mapInPandas(_scorer(fit, config), scored_schema).cache()
    cuts = tier_cuts(scored, config)
    out_schema = (f"customer_id {id_type}, tier string, stage string, clv double, p_alive double, "
                  "expected_purchases double, clv_at_risk double, action string, run_date date")
    return scored.mapInPandas(_assigner(config, cuts, pd.Timestamp(run_date)), out_schema)


def score_scenario(config, out_dir, run_date=None) -> list[Path]:
    """``clvkit score`` with ``summary.engine: spark``: summary, fit, score, write Parquet.

    Transactions come from ``data.transactions.path`` (Parquet, read by Spark) when the scenario
    reads files, else from :func:`clvkit.pipeline.load_data` (simulated or CDNOW data). Writes
    ``out_dir/tiers.parquet/`` partitioned by tier, and ``out_dir/spark_fit.json`` with the
    fitted parameters and how many distinct rows crossed to the driver. ``out_dir`` may be a
    cluster URI (``hdfs://``, ``s3a://``). Returns both paths.
    """
    import json

    spark = get_session(config.spark)
    run_date = pd.Timestamp(run_date or config.run_date or pd.Timestamp.today()).normalize()
    src = config.data.transactions
    if config.data.source == "files" and src is not None and src.path is not None \
            and str(src.path).endswith(".parquet"):
        observation_end = config.cleaning.observation_end
        if observation_end is None:
            raise DataError("the spark engine needs cleaning.observation_end", file=src.path,
                            fix="set cleaning.observation_end in the params file")
        transactions = read_transactions(src.path, spark=spark)
        cols = dict(customer_id=src.customer_id, date=src.date or "date",
                    amount=src.amount or "amount")
    else:
        data = load_data(config)
        transactions = read_transactions(data.transactions, spark=spark)
        cols, observation_end = {}, data.observation_end
    summary = summary_frame(transactions, observation_end=observation_end,
                            time_unit=config.summary.time_unit, period=config.summary.period,
                            **cols).cache()
    fit = fit_models(config, summary)
    remote = "://" in str(out_dir)  # a cluster path (hdfs://, s3a://): written by Spark only
    out = str(out_dir).rstrip("/") if remote else Path(out_dir)
    tiers_path, fit_path = (f"{out}/tiers.parquet", f"{out}/spark_fit.json") if remote else \
        (out / "tiers.parquet", out / "spark_fit.json")
    score_frame(summary, fit, config, run_date).write.mode("overwrite").partitionBy("tier") \
        .parquet(str(tiers_path))
    summary.unpersist()
    info = {k: v for k, v in fit.info.items() if k != "model_comparison"}
    info.update(run_date=str(run_date.date()), engine="spark",
                transaction_model={"name": type(fit.transaction_model).__name__,
                                   **fit.transaction_model.params_.to_dict()},
                spend_model={"name": "GammaGamma", **fit.spend_model.params_.to_dict()})
    text = json.dumps(info, indent=2)
    if remote:  # a folder holding one text part file
        spark.createDataFrame([(text,)], "value string").coalesce(1).write.mode("overwrite") \
            .text(fit_path)
    else:
        fit_path.write_text(text)
    return [tiers_path, fit_path]
