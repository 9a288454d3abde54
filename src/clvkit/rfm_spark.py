"""The Spark engine of :mod:`clvkit.rfm`: a session, the input as a Spark DataFrame, SQL run.

This module sits beside the pandas and DuckDB engines and knows no summary definition: the SQL
it runs is written by :mod:`clvkit.rfm` (``period_aggregate_sql``, ``profile_sql`` and
``summary_sql`` in Spark's dialect), so every engine shares one definition. It imports nothing
of clvkit but its errors; the scoring that runs per partition lives in :mod:`clvkit.spark`.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pandas as pd

from clvkit.errors import ClvkitError, DataError

__all__ = ["get_session", "read_transactions", "query", "collect", "VIEW"]

VIEW = "clvkit_src"  # the name the input is registered under for the SQL


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


def query(sdf, sql: str, source: str):
    """Run ``sql`` over ``sdf`` registered as the view :data:`VIEW`; a lazy Spark DataFrame.

    Raises
    ------
    DataError
        Spark rejects the query (a date column that holds no dates, an amount that is text).
    """
    sdf.createOrReplaceTempView(VIEW)
    try:
        return sdf.sparkSession.sql(sql)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0][:200]
        raise DataError(f"Spark could not summarise it ({first})", file=source,
                        fix="check that the date column holds dates and the amount numbers") from None


def collect(sdf, sql: str, source: str) -> pd.DataFrame:
    """:func:`query`, collected to the driver as a pandas frame."""
    return query(sdf, sql, source).toPandas()
