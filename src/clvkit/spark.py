"""The Spark engine: summaries and scoring where the transactions live, fitting on the driver.

What scales with what:

- *transactions* stay in Spark: the per-customer period aggregates are the SQL of
  :func:`clvkit.rfm.period_aggregate_sql` (the same definitions as the pandas and DuckDB
  engines, in Spark's dialect), and the RFM columns are computed from them in Spark;
- only the *distinct* ``(frequency, recency, T)`` rows with their counts cross to the driver,
  where the existing models fit on them (:func:`compressed_statistics`); Gamma-Gamma fits on
  the distinct ``(frequency, monetary_value)`` rows of repeat customers, or on a seeded sample
  of them when there are more than ``max_spend_rows`` (the fit says so);
- scoring (P(alive), expected purchases and spend, CLV, tier, stage, action) runs per partition
  with ``mapInPandas`` and the models' vectorised predictions; the assignment table is written
  as Parquet partitioned by tier.

Quantile tier cuts are exact: every customer lands in the tier the single-machine engine gives
(ranked by score, high first, ties broken by customer_id; tier sizes within one customer of the
configured shares). ``DataFrame.approxQuantile`` with relative error ``spark.quantile_error``
(default 0.001) only narrows each cut to a band of about ``4 * quantile_error * n`` customers;
exact counts place the band and the driver ranks it, so the error bound is zero and the driver
holds at most that band (4,000 rows per cut at a million customers).

The Spark path reads *clean* transactions (a curated lake table): it checks for missing ids,
dates and non-finite amounts and stops with a :class:`clvkit.DataError` if there are any, but it
does not run :mod:`clvkit.clean`'s row rules.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from clvkit.errors import ClvkitError, DataError
from clvkit.rfm import (PERIODS, Columns, Profile, _missing_columns, _period_day, _timestamp,
                        period_aggregate_sql, profile_sql)
from clvkit.units import DAYS_PER_UNIT

__all__ = ["get_session", "read_transactions", "summary_frame", "compressed_statistics",
           "fit_models", "score_frame", "score_scenario", "SparkFit"]

_DIALECT = "spark"


# ----------------------------------------------------------------------------- session, input
def get_session(settings=None):
    """Return the active SparkSession, or start one from ``settings`` (``SparkConfig``).

    Workers run the driver's Python (``PYSPARK_PYTHON`` is set to ``sys.executable`` unless
    given), so the venv's clvkit and pyarrow are on both sides.

    Raises
    ------
    ClvkitError
        pyspark is not installed, Java is missing, or the master cannot be reached.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise ClvkitError("the spark engine needs pyspark: pip install 'clvkit[spark]'") from None
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    master = getattr(settings, "master", "local[2]")
    if master.startswith("local"):  # a closed network: keep the local driver on loopback
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    builder = (SparkSession.builder.master(master)
               .appName(getattr(settings, "app_name", "clvkit"))
               .config("spark.ui.enabled", "false")
               .config("spark.sql.shuffle.partitions", "8")
               .config("spark.sql.execution.arrow.pyspark.enabled", "true"))
    for key, value in dict(getattr(settings, "conf", {}) or {}).items():
        builder = builder.config(key, str(value))
    try:
        session = builder.getOrCreate()
        session.sparkContext.setLogLevel("ERROR")
        session.range(1).count()  # fail here, not in the first real job, if the master is away
    except Exception as exc:  # py4j/Java errors have no common base class worth naming
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ClvkitError(f"cannot start Spark with master {master!r} ({first[:200]}); fix: check "
                          "spark.master in the params file, that the cluster is reachable and "
                          "that Java 17 is installed") from None
    return session


def read_transactions(source, *, spark=None):
    """A Spark DataFrame of transactions from a Spark DataFrame, a Parquet path or a pandas frame.

    Raises
    ------
    DataError
        The path does not exist or is not Parquet.
    """
    from pyspark.sql import DataFrame as SparkFrame

    if isinstance(source, SparkFrame):
        return source
    spark = spark or get_session()
    if isinstance(source, pd.DataFrame):
        return spark.createDataFrame(source)
    if isinstance(source, (str, Path)):
        path = str(source)
        if "://" not in path and not Path(path).exists():
            raise DataError("file not found", file=path, fix="check the Parquet path")
        try:
            return spark.read.parquet(path)
        except Exception as exc:
            first = str(exc).strip().splitlines()[0][:200]
            raise DataError(f"Spark cannot read it as Parquet ({first})", file=path,
                            fix="give a Parquet file or folder of Parquet files") from None
    raise DataError(f"cannot read transactions from a {type(source).__name__} with Spark",
                    fix="pass a Spark DataFrame, a pandas DataFrame or a Parquet path")


def _describe(source) -> str:
    return str(source) if isinstance(source, (str, Path)) else "transactions (Spark DataFrame)"


def _run_sql(sdf, sql: str, source: str):
    """Run ``sql`` over ``sdf`` registered as the view ``clvkit_src``; errors become DataError."""
    sdf.createOrReplaceTempView("clvkit_src")
    try:
        return sdf.sparkSession.sql(sql)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0][:200]
        raise DataError(f"Spark could not summarise it ({first})", file=source,
                        fix="check that the date column holds dates and the amount numbers") from None


# ------------------------------------------------------------- clvkit.rfm engine hooks
def rfm_prepare(transactions, cols: Columns):
    """Engine hook for :func:`clvkit.rfm.rfm_summary`: the input as a checked Spark DataFrame."""
    sdf = read_transactions(transactions)
    _missing_columns(list(sdf.columns), cols, _describe(transactions))
    return sdf


def rfm_profile(sdf, cols: Columns, source: str) -> Profile:
    """Engine hook: one scan counting missing ids/dates and bad amounts, and the date range."""
    row = _run_sql(sdf, profile_sql("clvkit_src", cols, dialect=_DIALECT), source).collect()[0]
    rows, null_ids, null_dates, bad, lo, hi = row
    to_ts = lambda v: None if v is None else pd.Timestamp(v)  # noqa: E731
    return Profile(rows=rows, null_ids=null_ids, null_dates=null_dates, bad_amounts=bad,
                   min_date=to_ts(lo), max_date=to_ts(hi), examples={})


def rfm_aggregate(sdf, cols: Columns, source: str, *, period: str, calibration_day: int,
                  observation_day: int) -> pd.DataFrame:
    """Engine hook: the per-customer period aggregates, computed in Spark, collected."""
    sql = period_aggregate_sql("clvkit_src", cols, period=period, calibration_day=calibration_day,
                               observation_day=observation_day, dialect=_DIALECT)
    agg = _run_sql(sdf, sql, source).toPandas().set_index("customer_id")
    agg = agg.fillna({"n_holdout": 0, "total_holdout": 0})  # holdout columns only with a holdout
    return agg


# ------------------------------------------------------------------ distributed summary
def summary_frame(transactions, *, observation_end, time_unit: str = "W", period: str = "D",
                  customer_id: str = "customer_id", date: str = "date", amount: str = "amount"):
    """The RFM summary of :func:`clvkit.rfm.rfm_summary` as a Spark DataFrame (not collected).

    Columns ``customer_id, frequency, recency, T, monetary_value`` with the same definitions
    (the same SQL aggregates, then the same arithmetic as ``clvkit.rfm._finish``).
    """
    cols = Columns(customer_id, date, amount)
    source = _describe(transactions)
    sdf = rfm_prepare(transactions, cols)
    profile = rfm_profile(sdf, cols, source)
    from clvkit.rfm import _check_profile

    _check_profile(profile, cols, source)
    obs_day = _period_day(_timestamp(observation_end, "observation_end"), period)
    agg_sql = period_aggregate_sql("clvkit_src", cols, period=period, calibration_day=obs_day,
                                   observation_day=obs_day, dialect=_DIALECT)
    days = repr(float(DAYS_PER_UNIT[time_unit]))
    sql = f"""
SELECT customer_id, CAST(n - 1 AS BIGINT) AS frequency,
       CAST(last_day - first_day AS DOUBLE) / {days} AS recency,
       CAST({obs_day} - first_day AS DOUBLE) / {days} AS T,
       CASE WHEN n > 1 THEN (total - first_value) / CAST(n - 1 AS DOUBLE) ELSE 0.0 END
           AS monetary_value
FROM ({agg_sql.replace('ORDER BY customer_id', '')}) agg
"""
    return _run_sql(sdf, sql, source)


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
    from clvkit.pipeline import fit_transaction_model

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
    from clvkit.value import score_customers

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

    Exact: the same customers as :func:`clvkit.tiers.assign_tiers` (ranked by score, high
    first, ties by customer_id; tier ``k`` ends at rank ``round(n * cumulative share)``).
    Spark's ``approxQuantile`` (relative error ``spark.quantile_error``) only narrows the
    search to a band of about ``4 * quantile_error * n`` customers around each cut; exact counts
    place the band and the band is ranked on the driver. Threshold rules cut at their minima.
    """
    from pyspark.sql import functions as F

    t = config.tiers
    if t.method == "threshold":
        return [(float(rule.min), None) for rule in t.rules[:-1]]
    n = scored.count()
    eps = config.spark.quantile_error
    score = F.col(t.score)
    cuts = []
    for b in np.rint(np.cumsum([rule.share for rule in t.rules]) * n).astype(np.int64)[:-1]:
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
        band = band.sort_values([t.score, "customer_id"], ascending=[False, True],
                                kind="mergesort")
        cuts.append((float(band[t.score].iloc[position]), band["customer_id"].iloc[position]))
    return cuts


def _tier_codes(score: np.ndarray, ids: np.ndarray, cuts) -> np.ndarray:
    """Tier index per customer: the number of cuts the customer ranks after."""
    codes = np.zeros(len(score), dtype=np.int64)
    for cut_score, cut_id in cuts:
        after = score < cut_score
        if cut_id is not None:
            after |= (score == cut_score) & (ids > cut_id)
        codes += after
    return codes


def _assigner(config, cuts, run_date):
    """A picklable per-partition function: scored rows in, assignment rows out."""
    from clvkit.tiers import StageRules, assign_actions, lifecycle_stages

    t, pb, unit = config.tiers, config.playbook, config.summary.time_unit
    labels = list(t.labels)
    rules = StageRules.from_params(config.stages)

    def assign(batches):
        for pdf in batches:
            scored = pdf.set_index("customer_id")
            scored.attrs["time_unit"] = unit
            codes = _tier_codes(scored[t.score].to_numpy(float), scored.index.to_numpy(), cuts)
            tier = pd.Series(pd.Categorical.from_codes(codes, categories=labels, ordered=True),
                             index=scored.index, name="tier")
            stage = lifecycle_stages(scored, rules).stage
            action = assign_actions(tier, stage, tiers=pb.tiers, stages=pb.stages,
                                    require_actions=pb.require_actions,
                                    prospect_label=t.prospect_label, labels=labels,
                                    table=pb.table, protect=pb.protect).action
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

    from clvkit.pipeline import load_data

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
