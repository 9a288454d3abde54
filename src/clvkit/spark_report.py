"""Reports at lake scale: the report's numbers computed in Spark, per-customer rows left there.

With ``summary.engine: spark``, ``clvkit report`` computes the scenario with :func:`lake_run`
instead of :func:`clvkit.pipeline.run`. Every customer is scored in Spark
(:mod:`clvkit.spark`: the models fitted on compressed statistics, exact tier cuts) and the full
assignment table is written by Spark (``tiers.parquet/``, partitioned by tier); only
*aggregates* and a *stated random sample* of customers cross to the driver:

exact (computed over every customer, in Spark)
    tier definitions and profiles (customers, shares, score range, revenue, CLV total and mean,
    mean P(alive) and expected purchases), stage, segment and action counts, the tier × second
    dimension table, migration against the previous run, the churn watchlist, the KPI totals
    (active customers, value, value at risk, the top tier's share), the cohort matrix, monthly
    purchase lines and revenue, the data coverage, the top customers by CLV, the summaries of
    the per-customer distributions (mean, standard deviation, minimum, maximum; quartiles from
    Spark's ``approxQuantile`` with rank error ``spark.quantile_error``) and their histograms.
sampled (computed on the sample's customers, all their transactions)
    the holdout diagnostics (the chosen model refitted on the sample's calibration period),
    churn by tier, time to next purchase, the churn definitions' reconciliation, satisfaction,
    and every per-customer frame of the result (``transactions``, ``summary``, ``scored``,
    ``assignments``, the per-customer series of ``tiers``, ``stages``, ... ).

The sample is every customer whose hashed id (``xxhash64`` of the id as text and
``spark.sample_seed``) falls below ``spark.report_sample / buyers``: the same customers in every
run of the same data, about ``spark.report_sample`` of them, all when there are fewer. The
result's ``lake`` (:class:`clvkit.result.LakeAggregates`) holds the aggregates that have no
place in the single-machine result and says what is exact and what is sampled; the report
sections read it when it is there, so the notebooks are the same for every engine.

The purchase model: the params' ``model.transaction``, or with ``best`` the lowest AIC of the
candidates fitted on every customer's compressed statistics (as ``clvkit score`` with Spark);
there is no case study at lake scale (``impact`` is left out).
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np
import pandas as pd

from clvkit import pipeline, retention, rfm_spark, spark, tiers
from clvkit.errors import DataError

__all__ = ["lake_run", "sample_filter", "EXACT", "SAMPLED"]

#: What :func:`lake_run` computes over every customer, and what on the sample (the report's
#: appendix and README list these).
EXACT = ("tier definitions and profiles", "stage, segment and action counts",
         "tier × second dimension", "migration", "watchlist", "KPI totals", "cohort matrix",
         "monthly purchases and revenue", "data coverage", "top customers by CLV",
         "distribution summaries (quartiles within spark.quantile_error in rank)", "histograms")
SAMPLED = ("holdout diagnostics", "churn by tier", "time to next purchase",
           "churn definitions", "satisfaction", "per-customer tables")

#: Histograms computed in Spark: column -> (bins, result frame it belongs to).
HISTOGRAMS = {"p_alive": 30, "clv": 40, "frequency": 40, "T": 40}
_DISTRIBUTED = ("frequency", "recency", "T", "monetary_value", "p_alive", "expected_purchases",
                "expected_spend", "clv", "clv_at_risk")


def sample_filter(fraction: float, seed: int):
    """The Spark condition that keeps a customer in the sample: its id (as text) hashed with
    ``seed`` into [0, 1) falls below ``fraction``."""
    from pyspark.sql import functions as F

    bucket = F.pmod(F.xxhash64(F.col("customer_id").cast("string"), F.lit(int(seed))),
                    F.lit(1_000_000_007))
    return bucket < F.lit(int(round(min(fraction, 1.0) * 1_000_000_007)))


def lake_run(config, out_dir, *, run_date=None, previous: pd.DataFrame | None = None):
    """Compute a scenario's report at lake scale: a :class:`clvkit.result.ScenarioResult` whose
    aggregates are exact and whose per-customer frames are a stated sample (module docstring).

    Parameters
    ----------
    config : Config
        ``summary.engine: spark``; ``spark.report_sample`` and ``spark.sample_seed`` set the
        sample.
    out_dir : path or URI
        Where Spark writes the full assignment table (``tiers.parquet/``).
    run_date : date-like, optional
        As for :func:`clvkit.pipeline.run`.
    previous : DataFrame, optional
        The previous run's assignments (default: ``config.previous_run`` if set).

    Returns
    -------
    ScenarioResult
        With ``lake`` set (:class:`clvkit.result.LakeAggregates`).
    """
    with rfm_spark.quiet():
        return _lake_run(config, out_dir, run_date, previous)


def _transactions(config, session):
    """The scenario's transactions as a Spark frame (``customer_id, date, amount``) with what
    the result needs to know about them: read by Spark for a lake path, else loaded and cleaned
    by :func:`clvkit.pipeline.load_data` and handed to Spark; either way with the cleaning
    ledger (Spark SQL with :mod:`clvkit.clean`'s rules: :func:`clvkit.spark.clean_lake`)."""
    from pyspark.sql import functions as F

    from clvkit.config import mask_secrets

    src = config.data.transactions
    if (config.data.source == "files" and src is not None and src.path is not None
            and spark._reads_in_spark(src.path)):
        rfm_spark.check_path(src.path, what="data.transactions.path in the params file")
        end = config.cleaning.observation_end
        if end is None:
            raise DataError("the spark engine needs cleaning.observation_end", file=src.path,
                            fix="set cleaning.observation_end in the params file")
        clean, ledger = spark.clean_lake(config, session)  # clvkit.clean's rules, in Spark SQL
        tx = clean.select("customer_id", "date", F.col("amount").cast("double").alias("amount"))
        source = f"files: {mask_secrets(str(src.path))}"
        data = pipeline.ScenarioData(transactions=pd.DataFrame(), ledger=ledger, customers=None,
                                     surveys=None, complaints=None, programme=None,
                                     observation_end=pd.Timestamp(end), truth=None,
                                     source=source, fingerprint="")
        return tx, data
    data = pipeline.load_data(config)
    frame = data.transactions[["customer_id", "date", "amount"]]
    return spark.read_transactions(frame, spark=session), data


def _lake_run(config, out_dir, run_date, previous):
    from pyspark.sql import functions as F

    from clvkit import __version__, units
    from clvkit.result import LakeAggregates, RunInfo, ScenarioResult

    started = time.perf_counter()
    spark._check_supported(config)
    session = spark.get_session(config.spark)
    run_date = pd.Timestamp(run_date or config.run_date or pd.Timestamp.today()).normalize()
    tx, data = _transactions(config, session)
    parallel = 2 * session.sparkContext.defaultParallelism
    tx = tx.coalesce(parallel).cache()
    s = config.summary
    summary = spark.summary_frame(tx, observation_end=data.observation_end,
                                  time_unit=s.time_unit, period=s.period)
    summary = summary.coalesce(parallel).cache()
    fit = spark.fit_models(config, summary)
    scored = spark.scored_frame(summary, fit, config)
    revenue = tx.groupBy("customer_id").agg(F.sum("amount").alias("revenue"))
    assigned = spark.score_frame(summary, fit, config, run_date, scored=scored)
    customers = data.customers
    prospects = pd.Index([], name="customer_id")
    if customers is not None:
        buyers = set(summary.select("customer_id").toPandas()["customer_id"])
        prospects = pd.Index([c for c in customers["customer_id"] if c not in buyers],
                             name="customer_id")
        if len(prospects):
            rows = spark._prospect_rows(config, list(prospects), run_date)
            assigned = assigned.unionByName(session.createDataFrame(rows, assigned.schema))
    assigned = assigned.cache()
    out = str(out_dir).rstrip("/") if spark._uri(out_dir) else Path(out_dir)
    tiers_path = f"{out}/tiers.parquet" if spark._uri(out) else out / "tiers.parquet"
    assigned.write.mode("overwrite").partitionBy("tier").parquet(str(tiers_path))

    # ---- the previous run, the watchlist and migration (exact, in Spark)
    prev_sdf = None
    if previous is not None:
        prev_sdf = session.createDataFrame(previous[["customer_id", "tier", "clv", "p_alive"]]
                                           .astype({"tier": str}))
    elif config.previous_run is not None:
        prev_sdf = spark._read_previous(session, config.previous_run)
    if prev_sdf is not None:  # the current run's id type (a CSV may read ids as text)
        prev_sdf = prev_sdf.withColumn("customer_id", F.col("customer_id").cast(
            assigned.schema["customer_id"].dataType))
    watch = spark.watchlist(assigned, prev_sdf, config)
    flagged = _flagged(assigned, prev_sdf, config)
    migration = _migration(assigned, prev_sdf, config) if prev_sdf is not None else None

    # ---- aggregates over every customer
    full = (scored.join(revenue, "customer_id", "left")
            .join(assigned.select("customer_id", "tier", "tier_2d", "stage", "segment", "action"),
                  "customer_id", "left").cache())
    n_buyers = full.count()
    totals = _totals(full, config, n_buyers)
    by_tier = _by_tier(assigned, full, config)
    counts = {c: assigned.groupBy(c).count().toPandas().set_index(c)["count"]
              .astype("int64") for c in ("stage", "segment", "action")}
    grid_counts = (assigned.groupBy("tier", "tier_2d").count().toPandas()
                   if config.tiers.second_dimension is not None else None)
    distributions = _distributions(full, config.spark.quantile_error)
    histograms = _histograms(full, distributions)
    top = (full.orderBy(F.desc("clv"), F.asc("customer_id")).limit(10)
           .select("customer_id", "frequency", "recency", "T", "revenue", "p_alive",
                   "expected_purchases", "expected_spend", "clv").toPandas()
           .set_index("customer_id"))
    coverage, acquisition, monthly = _coverage(tx, data, config)
    cohorts = _cohorts(tx, data.observation_end)

    # ---- the sample: its customers' rows come to the driver
    sample_size, seed = config.spark.report_sample, config.spark.sample_seed
    fraction = min(1.0, sample_size / max(n_buyers, 1))
    keep = sample_filter(fraction, seed)
    s_scored = full.where(keep).toPandas().set_index("customer_id").sort_index()
    s_assign = (assigned.where(keep).toPandas().sort_values("customer_id", kind="mergesort")
                .reset_index(drop=True))
    s_tx = tx.where(keep).toPandas().sort_values(["customer_id", "date"], kind="mergesort")
    s_tx = s_tx.reset_index(drop=True)
    for frame in (summary, scored, full, tx):
        frame.unpersist()
    result = _sample_result(config, data, s_tx, s_scored, s_assign, fit, run_date,
                            prospects, totals, by_tier, counts, grid_counts, migration, watch,
                            flagged, cohorts, monthly, coverage)
    lake = LakeAggregates(
        engine="spark", master=session.sparkContext.master, customers=int(n_buyers),
        prospects=len(prospects), transactions=int(coverage["purchase lines"]),
        sample_customers=int(len(s_assign)), sample_fraction=float(fraction),
        sample_seed=int(seed), sample_target=int(sample_size), tiers_path=str(tiers_path),
        totals=totals, by_tier=by_tier, distributions=distributions, histograms=histograms,
        actions=counts["action"], top=top, acquisition=acquisition,
        exact=EXACT, sampled=SAMPLED,
        fit={k: v for k, v in fit.info.items() if k != "model_comparison"})
    assigned.unpersist()
    v = config.value
    info = RunInfo(
        scenario=config.scenario, title=config.display_title, source=data.source,
        observation_end=data.observation_end, run_date=run_date,
        fingerprint=data.fingerprint or _fingerprint(tx, coverage),
        currency=config.currency, time_unit=units.UNIT_NAMES[s.time_unit],
        horizon=f"{v.horizon:g} {units.UNIT_NAMES[v.horizon_unit]}",
        discount=f"{v.discount_rate:.1%} per {units.UNIT_NAMES[v.discount_unit].rstrip('s')}",
        clvkit_version=__version__, seconds=time.perf_counter() - started)
    return dataclasses.replace(result, info=info, lake=lake)


# ------------------------------------------------------------------------ exact aggregates
def _flagged(assigned, prev_sdf, config) -> int:
    """Customers meeting a watchlist criterion, before ``top_n`` (``WarningResult.flagged``)."""
    from pyspark.sql import functions as F

    cw = config.churn_warning
    buyers = assigned.where(F.col("p_alive").isNotNull())
    low = F.col("p_alive") < F.lit(cw.p_alive_below)
    if prev_sdf is None or cw.drop_more_than is None:
        return int(buyers.where(low).count())
    prev = prev_sdf.select("customer_id", F.col("p_alive").alias("_prev"))
    both = buyers.join(prev, "customer_id", "left")
    fell = F.coalesce((F.col("_prev") - F.col("p_alive")) > F.lit(cw.drop_more_than), F.lit(False))
    return int(both.where(low | fell).count())


def _migration(assigned, prev_sdf, config):
    """:class:`clvkit.tiers.MigrationResult` with exact counts, CLV and summary; its ``moves``
    are filled with the sample's moves later."""
    from pyspark.sql import functions as F

    from clvkit.tiers.migration import MigrationResult

    counts, moved = spark.migration(assigned, prev_sdf, config.tiers.labels)
    cells = moved.groupBy("from_tier", "to_tier").agg(F.sum("clv").alias("clv")).toPandas()
    clv = (cells.pivot(index="from_tier", columns="to_tier", values="clv")
           .reindex(index=counts.index, columns=counts.columns).fillna(0.0).astype("float64"))
    clv.index.name, clv.columns.name = "from_tier", "to_tier"
    summary = (moved.groupBy("movement").count().toPandas().set_index("movement")["count"]
               .reindex(["stayed", "upgraded", "downgraded", "new", "vanished"], fill_value=0)
               .astype("int64").rename("customers"))
    summary.index.name = None
    # moves: a Spark frame here, replaced by the sample's rows in _sample_result
    return MigrationResult(counts=counts, clv=clv, moves=moved, summary=summary)


def _totals(full, config, n: int) -> dict:
    """The KPI totals over every buyer (``briefing`` reads them instead of summing a sample)."""
    from pyspark.sql import functions as F

    r = config.retention
    row = full.agg(
        F.sum("p_alive").alias("p_alive"),
        F.sum(F.col("p_alive") * (1 - F.col("p_alive"))).alias("p_alive_variance"),
        F.sum("clv").alias("clv"), F.sum("clv_at_risk").alias("clv_at_risk"),
        F.sum("revenue").alias("revenue"),
        F.count(F.when(F.col("p_alive") < F.lit(r.p_alive_threshold), 1)).alias("lost"),
        F.count(F.when(F.col("frequency") == 0, 1)).alias("one_time")).collect()[0].asDict()
    out = {k: float(v) if v is not None else float("nan") for k, v in row.items()}
    out["buyers"] = int(n)
    out["lost"], out["one_time"] = int(row["lost"]), int(row["one_time"])
    k = max(int(n * 0.1), 1)  # the top 10 % of buyers by CLV: their share of the total
    if n:
        cut, _ = spark._ranked(full, [("clv", k - 1, True)], n, config.spark.quantile_error)[0]
        above = full.where(F.col("clv") > F.lit(cut)).agg(F.count("*"), F.sum("clv")).collect()[0]
        top = float(above[1] or 0.0) + (k - int(above[0])) * cut
        out["top10_clv"] = top
    else:
        out["top10_clv"] = float("nan")
    return out


def _by_tier(assigned, full, config) -> pd.DataFrame:
    """Per tier over every customer: customers, revenue, CLV (total and mean), CLV at risk,
    mean P(alive) and expected purchases (prospects count as customers, revenue 0)."""
    from pyspark.sql import functions as F

    def num(c):  # prospects' NaN scores are missing values, as pandas skips them
        return F.when(F.isnan(c), None).otherwise(F.col(c))

    extra = full.select("customer_id", "revenue", F.col(config.tiers.score).alias("_score"))
    agg = (assigned.join(extra, "customer_id", "left").groupBy("tier").agg(
        F.count("*").alias("customers"), F.sum(F.coalesce("revenue", F.lit(0.0))).alias("revenue"),
        F.sum(num("clv")).alias("clv_total"), F.mean(num("clv")).alias("clv_mean"),
        F.sum(num("clv_at_risk")).alias("clv_at_risk"),
        F.mean(num("p_alive")).alias("p_alive_mean"),
        F.mean(num("expected_purchases")).alias("expected_purchases_mean"),
        F.min(num("_score")).alias("score_min"), F.max(num("_score")).alias("score_max"))
        .toPandas())
    labels = list(config.tiers.labels)  # the tiers, then the prospect label
    agg = agg.set_index("tier").reindex([t for t in labels if t in set(agg["tier"])]
                                        + [t for t in agg["tier"] if t not in labels])
    agg["customers"] = agg["customers"].astype("int64")
    agg[["clv_total", "clv_at_risk"]] = agg[["clv_total", "clv_at_risk"]].fillna(0.0)
    return agg.rename_axis("tier").reset_index()


def _distributions(full, eps: float) -> pd.DataFrame:
    """``DataFrame.describe()`` of the per-customer columns over every buyer (NaN left out as
    pandas does); quartiles from ``approxQuantile`` with relative rank error ``eps``."""
    from pyspark.sql import functions as F

    cols = [c for c in _DISTRIBUTED if c in full.columns]
    clean = full.select(*[F.when(F.isnan(c), None).otherwise(F.col(c)).alias(c) for c in cols])
    stats = clean.agg(*[f(c).alias(f"{name}|{c}") for c in cols for name, f in (
        ("count", F.count), ("mean", F.mean), ("std", F.stddev_samp), ("min", F.min),
        ("max", F.max))]).collect()[0].asDict()
    quartiles = dict(zip(cols, clean.approxQuantile(cols, [0.25, 0.5, 0.75], eps)))
    rows = {c: {"count": float(stats[f"count|{c}"]), "mean": stats[f"mean|{c}"],
                "std": stats[f"std|{c}"], "min": stats[f"min|{c}"],
                **dict(zip(("25%", "50%", "75%"), quartiles[c] or [np.nan] * 3)),
                "max": stats[f"max|{c}"]} for c in cols}
    return pd.DataFrame.from_dict(rows, orient="index").astype("float64")


def _histograms(full, distributions: pd.DataFrame) -> dict:
    """Customers per bin of each :data:`HISTOGRAMS` column over every buyer, in one pass:
    equal bins from the column's minimum to its maximum (from ``distributions``), as
    ``numpy.histogram`` makes them (the maximum in the last bin)."""
    from pyspark.sql import functions as F

    parts, edges = [], {}
    for column, bins in HISTOGRAMS.items():
        lo, hi = distributions.loc[column, "min"], distributions.loc[column, "max"]
        if not (np.isfinite(lo) and np.isfinite(hi)):
            continue
        edges[column] = np.histogram_bin_edges([lo, hi], bins=bins, range=(lo, hi))
        width = (hi - lo) / bins if hi > lo else 1.0
        x = F.col(column).cast("double")
        index = F.least(F.floor((x - F.lit(float(lo))) / F.lit(float(width))).cast("int"),
                        F.lit(bins - 1))
        parts.append(full.where(x.isNotNull() & ~F.isnan(x))
                     .select(F.lit(column).alias("column"), index.alias("bin")))
    out = {c: pd.DataFrame({"left": [], "right": [], "customers": []}) for c in HISTOGRAMS}
    if not parts:
        return out
    union = parts[0]
    for part in parts[1:]:
        union = union.unionByName(part)
    cells = union.groupBy("column", "bin").count().toPandas()
    for column, e in edges.items():
        got = cells[cells["column"] == column].set_index("bin")["count"]
        counts = got.reindex(range(len(e) - 1), fill_value=0).to_numpy(np.int64)
        out[column] = pd.DataFrame({"left": e[:-1], "right": e[1:], "customers": counts})
    return out


def _coverage(tx, data, config):
    """The coverage facts of :func:`clvkit.pipeline.run`, acquisition counts for "what
    changed", and purchase lines and revenue per calendar month, over every transaction."""
    from pyspark.sql import functions as F

    row = tx.agg(F.min("date"), F.max("date"), F.countDistinct("customer_id"), F.count("*"),
                 F.sum("amount")).collect()[0]
    facts = {"first purchase": pd.Timestamp(row[0]), "last purchase": pd.Timestamp(row[1]),
             "observation end": data.observation_end, "customers who bought": int(row[2]),
             "purchase lines": int(row[3]),
             f"revenue ({config.currency})": float(round(row[4] or 0.0))}
    optional = {"customers on file (with prospects)": data.customers,
                "survey responses": data.surveys, "complaints": data.complaints}
    facts.update({k: None if v is None else len(v) for k, v in optional.items()})
    end = data.observation_end
    first = tx.groupBy("customer_id").agg(F.min("date").alias("first"))
    ts = lambda t: F.lit(pd.Timestamp(t).to_pydatetime()).cast("timestamp_ntz")  # noqa: E731
    a = first.agg(
        F.max("first"), F.count("*"),
        F.count(F.when(F.col("first") > ts(end - pd.DateOffset(months=6)), 1)),
        F.count(F.when((F.col("first") > ts(end - pd.DateOffset(months=12)))
                       & (F.col("first") <= ts(end - pd.DateOffset(months=6))), 1))).collect()[0]
    acquisition = {"last_new": pd.Timestamp(a[0]), "customers": int(a[1]), "recent": int(a[2]),
                   "before": int(a[3])}
    m = (tx.groupBy(F.date_trunc("month", "date").alias("month"))
         .agg(F.count("*").alias("lines"), F.sum("amount").alias("revenue")).toPandas())
    m["month"] = pd.to_datetime(m["month"])
    months = pd.date_range(m["month"].min(), m["month"].max(), freq="MS", name="date")
    monthly = m.set_index("month").reindex(months).fillna({"lines": 0, "revenue": 0.0})
    monthly["lines"] = monthly["lines"].astype("int64")
    return facts, acquisition, monthly[["lines", "revenue"]]


def _cohorts(tx, observation_end):
    """:func:`clvkit.retention.cohort_matrix` (monthly) over every transaction: the distinct
    (customer, month) cells counted in Spark, the matrix built by
    :func:`clvkit.retention.cohort_from_counts`."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    last_day = pd.Timestamp(observation_end).normalize() + pd.Timedelta(days=1)
    month = (F.year("date") - 1970) * 12 + F.month("date") - 1  # pandas' monthly period ordinal
    cells = (tx.where(F.col("date") < F.lit(last_day.to_pydatetime()).cast("timestamp_ntz"))
             .select("customer_id", month.alias("m")).distinct())
    cells = cells.withColumn("cohort", F.min("m").over(Window.partitionBy("customer_id")))
    counts = (cells.groupBy("cohort", (F.col("m") - F.col("cohort")).alias("since")).count()
              .toPandas())
    active = counts.pivot(index="cohort", columns="since", values="count").fillna(0)
    active = active.astype("int64")
    active.index.name, active.columns.name = "cohort", "since"
    return retention.cohort_from_counts(active, "M", observation_end)


def _fingerprint(tx, coverage) -> str:
    """A cheap stable fingerprint of lake data (row count, dates, revenue, a hash sum)."""
    import hashlib

    from pyspark.sql import functions as F

    h = tx.agg(F.sum(F.xxhash64("customer_id", "date", "amount").cast("decimal(38,0)"))
               ).collect()[0][0]  # a decimal sum: 64-bit hashes would overflow a long
    text = f"{coverage['purchase lines']}|{coverage['first purchase']}|{h}"
    return "lake-sha256:" + hashlib.sha256(text.encode()).hexdigest()[:16]


# ---------------------------------------------------------------------- the sample's result
def _sample_result(config, data, s_tx, s_scored, s_assign, fit, run_date, prospects, totals,
                   by_tier, counts, grid_counts, migration, watch, flagged, cohorts, monthly,
                   coverage):
    """The :class:`clvkit.result.ScenarioResult` of the sample, with the exact aggregates put
    where the single-machine result keeps them."""
    from clvkit import satisfaction
    from clvkit.models.registry import model_name
    from clvkit.result import ModelChoice, ScenarioResult

    t, unit = config.tiers, config.summary.time_unit
    ids = pd.Index(s_assign["customer_id"], name="customer_id")
    summary = s_scored[["frequency", "recency", "T", "monetary_value"]].copy()
    summary.attrs["time_unit"] = unit
    scored = s_scored[["frequency", "recency", "T", "monetary_value", "p_alive",
                       "expected_purchases", "expected_spend", "clv", "clv_at_risk",
                       "revenue"]].copy()
    scored["revenue"] = scored["revenue"].fillna(0.0)
    scored.attrs["time_unit"] = unit
    cats = [r.label for r in t.rules] + ([t.prospect_label] if len(prospects) else [])
    a = s_assign.set_index("customer_id")
    tier = pd.Series(pd.Categorical(a["tier"], categories=cats, ordered=True), index=ids,
                     name="tier")
    # definitions: the rules' words from the tiering module, the numbers over every customer
    score_frame = scored.assign(**{t.score: scored[t.score]}) if t.score in scored else scored
    sample_tiers = tiers.assign_tiers(score_frame, t.rules, score=t.score, method=t.method,
                                      prospects=prospects, prospect_label=t.prospect_label)
    exact = by_tier.set_index("tier")
    total = int(exact["customers"].sum())
    defs = sample_tiers.definitions.copy()
    defs["customers"] = defs["tier"].map(exact["customers"]).fillna(0).astype("int64")
    defs["share"] = defs["customers"] / max(total, 1)
    defs["score_min"] = defs["tier"].map(exact["score_min"])
    defs["score_max"] = defs["tier"].map(exact["score_max"])
    tier_res = dataclasses.replace(sample_tiers, tier=tier, definitions=defs)

    stage = pd.Series(pd.Categorical(a["stage"], categories=list(tiers.STAGES), ordered=True),
                      index=ids, name="stage")
    stage_res = tiers.lifecycle_stages(scored, tiers.StageRules.from_params(config.stages),
                                       prospects=ids.difference(scored.index))
    sdefs = stage_res.definitions.copy()
    sdefs["customers"] = sdefs["stage"].map(counts["stage"]).fillna(0).astype("int64")
    sdefs["share"] = sdefs["customers"] / max(total, 1)
    stage_res = dataclasses.replace(stage_res, stage=stage, definitions=sdefs)

    rfm = a[["r_score", "f_score", "m_score", "rfm_score"]].reindex(scored.index)
    seg = tiers.rfm_segments(rfm.astype("int64"), config.segments.mapping or None)
    gdefs = seg.definitions.copy()
    gdefs["customers"] = gdefs["segment"].map(counts["segment"]).fillna(0).astype("int64")
    gdefs["share"] = gdefs["customers"] / max(total - len(prospects), 1)
    segment = a["segment"].astype("string")
    seg_res = dataclasses.replace(seg, segment=segment.reindex(scored.index), definitions=gdefs)

    grid = None
    if t.second_dimension is not None:
        sd = t.second_dimension
        g = grid_counts.assign(second=grid_counts["tier_2d"].str.split(" / ", n=1).str[1])
        # the second dimension's categories as the single-machine grid has them
        levels = (list(tiers.STAGES) if sd.column == "stage"
                  else [r.label for r in sd.rules] if sd.method in ("quantile", "threshold")
                  else sorted(set(g["second"].dropna())))
        second = a["tier_2d"].astype("string").str.split(" / ", n=1).str[1]
        second = pd.Series(pd.Categorical(second, categories=levels, ordered=True),
                           index=second.index)
        grid = tiers.tier_grid(tier, second, column=sd.column, method="categories")
        table = (g.pivot_table(index="tier", columns="second", values="count", aggfunc="sum")
                 .reindex(index=grid.counts.index, columns=grid.counts.columns)
                 .fillna(0).astype("int64"))
        table.index.name, table.columns.name = grid.counts.index.name, grid.counts.columns.name
        grid = dataclasses.replace(grid, counts=table)

    pb = config.playbook
    playbook = tiers.assign_actions(tier, stage, tiers=pb.tiers, stages=pb.stages,
                                    require_actions=pb.require_actions,
                                    prospect_label=t.prospect_label, labels=t.labels,
                                    table=pb.table, protect=pb.protect)
    cw = config.churn_warning
    sample_warning = tiers.churn_warning(scored, p_alive_below=cw.p_alive_below,
                                         drop_more_than=cw.drop_more_than, top_n=cw.top_n)
    warning = dataclasses.replace(sample_warning, watchlist=watch, flagged=int(flagged))
    if migration is not None:  # the sample's moves (a Spark frame does not travel)
        moves = migration.moves.where(sample_filter(
            min(1.0, config.spark.report_sample / max(totals["buyers"], 1)),
            config.spark.sample_seed)).toPandas()
        migration = dataclasses.replace(migration, moves=moves)

    profile = exact.reindex(cats)
    profile["customers"] = profile["customers"].fillna(0)
    profile[["revenue", "clv_total"]] = profile[["revenue", "clv_total"]].fillna(0.0)
    psum = profile.rename_axis("tier").reset_index()[["tier", "customers", "revenue", "clv_total", "clv_mean",
                                  "p_alive_mean", "expected_purchases_mean"]]
    psum["customers"] = psum["customers"].astype("int64")
    psum.insert(2, "customer_share", psum["customers"] / max(total, 1))
    rev = psum["revenue"].sum()
    psum.insert(4, "revenue_share", psum["revenue"] / rev if rev else np.nan)
    clv_total = psum["clv_total"].sum()
    psum.insert(6, "clv_share", psum["clv_total"] / clv_total if clv_total else np.nan)
    sample_profiles = tiers.tier_profiles(tier, scored, revenue=scored["revenue"],
                                          customers=data.customers)
    profiles = dataclasses.replace(sample_profiles, summary=psum[
        list(sample_profiles.summary.columns)])

    comparison = fit.info["model_comparison"]
    chosen = str(comparison.loc[0, "model"])
    m = config.model
    rows = comparison.set_index("model")[["n_params", "log_likelihood", "aic"]]
    rows.insert(0, "name", [model_name(k) for k in rows.index])
    rows["chosen"] = rows.index == chosen
    rows.attrs["skipped"] = comparison.attrs.get("skipped", {})
    named = m.transaction != "best"
    reason = (f"{model_name(chosen)} is used because the params file names it "
              "(model.transaction)." if named else
              f"{model_name(chosen)} is used: it has the lowest AIC of {', '.join(rows['name'])}, "
              "fitted on every customer's compressed statistics in Spark.")
    choice = ModelChoice(chosen=chosen, name=model_name(chosen),
                         criterion="params" if named else "aic", reason=reason, comparison=rows)

    s_data = dataclasses.replace(
        data, transactions=s_tx,
        customers=None if data.customers is None else data.customers[
            data.customers["customer_id"].isin(ids)],
        surveys=None if data.surveys is None else data.surveys[
            data.surveys["customer_id"].isin(ids)])
    s_data.calibration_end = pipeline.calibration_end(config, s_data)
    calibration = None
    if s_data.calibration_end is not None:
        from clvkit.rfm import calibration_holdout

        s = config.summary
        holdout = calibration_holdout(s_tx, calibration_end=s_data.calibration_end,
                                      observation_end=data.observation_end, time_unit=unit,
                                      period=s.period, amount="amount")
        cal = holdout.drop(columns=[c for c in holdout.columns if c.endswith("_holdout")])
        cal_fit = type(fit.transaction_model)(penalizer=m.penalizer,
                                              ci_level=m.ci_level).fit(cal)
        calibration = pipeline._calibration(config, s_data, holdout, {chosen: cal_fit}, chosen)
    r = config.retention
    sat = None
    if config.satisfaction.enabled and s_data.surveys is not None and len(s_data.surveys):
        sat = satisfaction.analyse(s_data.surveys, tier, transactions=s_tx,
                                   p_alive=scored["p_alive"])
    table = s_assign.copy()
    table["tier"] = pd.array(table["tier"], dtype="string")
    table["run_date"] = run_date
    return ScenarioResult(
        config=config, info=None, transactions=s_tx, ledger=data.ledger,
        customers=s_data.customers, surveys=s_data.surveys, complaints=None, programme=None,
        coverage=coverage, monthly=monthly, summary=summary,
        transaction_model=fit.transaction_model, spend_model=fit.spend_model,
        model_choice=choice, calibration=calibration,
        frequency_recency=pipeline._frequency_recency(config, fit.transaction_model, summary),
        scored=scored, assignments=table, prospects=prospects, tiers=tier_res, grid=grid,
        rfm=rfm, segments=seg_res, stages=stage_res, playbook=playbook, warning=warning,
        migration=migration, profiles=profiles, satisfaction=sat, cohorts=cohorts,
        churn=retention.churn_by_tier(s_tx, tier, observation_end=data.observation_end,
                                      window_days=r.churn_window_days,
                                      p_alive=scored["p_alive"], threshold=r.p_alive_threshold),
        time_to_next=retention.time_to_next_purchase(s_tx, tier,
                                                     observation_end=data.observation_end),
        impact=None, truth=None)
