"""The Spark engine of :mod:`clvkit.rfm`: a session, the input as a Spark DataFrame, SQL run.

This module sits beside the pandas and DuckDB engines and knows no summary definition: the SQL
it runs is written by :mod:`clvkit.rfm` (``period_aggregate_sql``, ``profile_sql`` and
``summary_sql`` in Spark's dialect), so every engine shares one definition. Likewise it knows
no cleaning rule: :func:`clean_transactions` runs :mod:`clvkit.clean_sql`'s SQL for the rules of
:data:`clvkit.clean.RULES` and builds :mod:`clvkit.clean`'s ledger. The scoring that runs per
partition lives in :mod:`clvkit.spark`.
"""
from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import tempfile
import urllib.parse
import warnings
from pathlib import Path

import pandas as pd

from clvkit.errors import ClvkitError, DataError

__all__ = ["get_session", "read_transactions", "clean_transactions", "query", "collect",
           "check_path", "scheme", "write_bytes", "log_file", "submitted", "quiet", "VIEW"]

VIEW = "clvkit_src"  # the name the input is registered under for the SQL
_log = logging.getLogger("clvkit")


def submitted() -> bool:
    """True when spark-submit (or a pyspark shell) started this process's JVM, or the
    environment's ``PYSPARK_SUBMIT_ARGS`` names a master: then that configuration rules."""
    return ("PYSPARK_GATEWAY_PORT" in os.environ
            or "--master" in os.environ.get("PYSPARK_SUBMIT_ARGS", ""))


def log_file(app_name: str = "clvkit") -> Path:
    """Where a session started here writes Spark's (log4j) log: one file per process."""
    folder = Path(tempfile.gettempdir()) / "clvkit-spark"
    folder.mkdir(parents=True, exist_ok=True)
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in app_name)
    return folder / f"{safe}-{os.getpid()}.log"


_LOG4J = """\
rootLogger.level = info
rootLogger.appenderRef.file.ref = file
appender.file.type = File
appender.file.name = file
appender.file.fileName = {path}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = %d{{yy/MM/dd HH:mm:ss}} %p %c{{1}}: %m%n
logger.repl.name = org.apache.spark.repl.Main
logger.repl.level = info
"""


def get_session(settings=None):
    """Return the active SparkSession, or start one.

    Under ``spark-submit`` (or with ``PYSPARK_SUBMIT_ARGS`` naming a master) the submitted
    ``--master``, ``--name`` and ``--conf`` are used as given; the params' ``spark.conf`` only
    fills keys the submit left unset and ``spark.master`` is ignored. Otherwise a session starts
    with ``settings.master`` (default ``local[2]``), ``settings.app_name`` and ``settings.conf``,
    and Spark's own log goes to :func:`log_file` instead of the terminal. Either way one INFO
    line on the ``clvkit`` logger says which master is in use. Workers run the driver's Python
    (``PYSPARK_PYTHON`` is set to ``sys.executable`` unless given).

    Raises
    ------
    ClvkitError
        pyspark is not installed, Java is missing, or the master cannot be reached (one line,
        naming the log file).
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise ClvkitError("the spark engine needs pyspark: pip install 'clvkit[spark]'") from None
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    conf = {str(k): str(v) for k, v in dict(getattr(settings, "conf", {}) or {}).items()}
    conf.setdefault("spark.sql.execution.arrow.pyspark.enabled", "true")
    builder, log = SparkSession.builder, None
    if submitted():
        from pyspark import SparkConf, SparkContext

        SparkContext._ensure_initialized()  # joins the submitted JVM and its spark.* settings
        given = SparkConf()
        conf = {k: v for k, v in conf.items() if not given.contains(k)}
        master = given.get("spark.master", "(set by spark-submit)")
    else:
        master = getattr(settings, "master", None) or "local[2]"
        if master.startswith("local"):  # a closed network: keep the local driver on loopback
            os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        log = log_file(getattr(settings, "app_name", None) or "clvkit")
        props = log.with_suffix(".log4j2.properties")
        props.write_text(_LOG4J.format(path=log))
        java_opts = f"-Dlog4j2.configurationFile={props.as_uri()}"
        if conf.get("spark.driver.extraJavaOptions"):
            java_opts = f"{conf['spark.driver.extraJavaOptions']} {java_opts}"
        conf = {"spark.ui.enabled": "false", "spark.ui.showConsoleProgress": "false",
                "spark.sql.shuffle.partitions": "8", **conf,
                "spark.driver.extraJavaOptions": java_opts}
        builder = builder.master(master).appName(getattr(settings, "app_name", None) or "clvkit")
    for key, value in conf.items():
        builder = builder.config(key, value)
    try:
        with quiet(), _output_to(log):
            session = builder.getOrCreate()
        with quiet():
            session.range(1).count()  # fail here, not in the first real job, if the master is away
    except Exception as exc:  # py4j/Java errors have no common base class worth naming
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        where = f"; Spark's log: {log}" if log is not None else ""
        raise ClvkitError(f"cannot start Spark with master {master!r} ({first[:200]}){where}; "
                          "fix: check spark.master in the params file (or spark-submit's "
                          "--master), that the cluster is reachable and that Java 17 is "
                          "installed") from None
    _log.info("Spark master %s (%s)%s", session.sparkContext.master,
              "from spark-submit" if log is None else "from the params file",
              "" if log is None else f"; Spark's log: {log}")
    return session


@contextlib.contextmanager
def _output_to(log: Path | None):
    """Point this process's stdout and stderr at ``log`` while the JVM is launched, so the JVM
    and the Python workers it forks write there for good; ours are restored at once."""
    if log is None:
        yield
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    target = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.dup2(target, 1)
        os.dup2(target, 2)
        yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, target):
            os.close(fd)


@contextlib.contextmanager
def quiet():
    """Silence pyspark's warnings about pandas versions (pandas 3 is what clvkit uses)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*PySpark.*pandas", category=FutureWarning)
        warnings.filterwarnings("ignore", message=".*copy keyword is deprecated",
                                category=DeprecationWarning)
        yield


_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def scheme(path) -> str | None:
    """The URI scheme of ``path`` (``s3a``, ``file``, ``hdfs``), or None for a plain path."""
    match = _SCHEME.match(str(path))
    return match.group(1).lower() if match else None


def check_path(path, *, what: str = "Parquet path") -> None:
    """Raise a DataError for a local path or ``file://`` URI that does not exist (no JVM needed);
    other schemes are checked by Spark when read."""
    s = scheme(path)
    if s not in (None, "file"):
        return
    local = Path(urllib.parse.urlparse(str(path)).path) if s == "file" else Path(path)
    if not local.exists():
        raise DataError("file not found", file=str(path), fix=f"check the {what}")


def _read_error(exc: Exception, path: str, *, writing: bool = False) -> DataError:
    text = str(exc)
    missing = re.search(r'No FileSystem for scheme "?([A-Za-z0-9+.-]+)"?', text)
    absent_class = re.search(r"Class (org\.apache\.hadoop\.fs\.\S+|\S+FileSystem) not found", text)
    if missing or (absent_class and scheme(path)):  # Hadoop names s3a's class, not a connector
        s = missing.group(1) if missing else scheme(path)
        connector = _CONNECTORS.get(s, "the Hadoop connector for it")
        return DataError(f"this Spark has no filesystem for scheme '{s}'", file=path,
                         fix=f"add {connector} to the session (spark-submit --packages, or "
                             "spark.jars.packages in the params' spark.conf)")
    first = text.strip().splitlines()[0][:200] if text.strip() else type(exc).__name__
    if writing:
        return DataError(f"Spark cannot write it ({first})", file=path,
                         fix="check the --out location and the permissions there")
    return DataError(f"Spark cannot read it as Parquet ({first})", file=path,
                     fix="give a Parquet file or folder of Parquet files")


_CONNECTORS = {"s3a": "hadoop-aws (org.apache.hadoop:hadoop-aws, matching Spark's Hadoop)",
               "s3": "hadoop-aws (org.apache.hadoop:hadoop-aws) and the s3a:// scheme",
               "gs": "the GCS connector (com.google.cloud.bigdataoss:gcs-connector)",
               "abfs": "hadoop-azure (org.apache.hadoop:hadoop-azure)",
               "abfss": "hadoop-azure (org.apache.hadoop:hadoop-azure)",
               "wasb": "hadoop-azure (org.apache.hadoop:hadoop-azure)",
               "wasbs": "hadoop-azure (org.apache.hadoop:hadoop-azure)"}


def read_transactions(source, *, spark=None):
    """A Spark DataFrame of transactions from a Spark DataFrame, a Parquet path or a pandas frame.

    A path with a scheme (``s3a://``, ``hdfs://``, ``file://``) goes to Spark unchanged; a
    plain path or a ``file://`` URI that does not exist is reported before Spark starts. A
    Parquet source may be a file or a folder of part files (any names).

    Raises
    ------
    DataError
        The path does not exist, is not Parquet, or its scheme has no filesystem in this Spark.
    """
    if isinstance(source, (str, Path)):
        check_path(source)
    from pyspark.sql import DataFrame as SparkFrame

    if isinstance(source, SparkFrame):
        return source
    spark = spark or get_session()
    if isinstance(source, pd.DataFrame):
        with quiet():
            return spark.createDataFrame(source)
    if isinstance(source, (str, Path)):
        path = str(source)
        try:
            return spark.read.parquet(path)
        except Exception as exc:
            raise _read_error(exc, path) from None
    raise DataError(f"cannot read transactions from a {type(source).__name__} with Spark",
                    fix="pass a Spark DataFrame, a pandas DataFrame or a Parquet path")


def write_bytes(spark, uri: str, data: bytes) -> None:
    """Write ``data`` as one file at ``uri`` through the Hadoop filesystem of its scheme."""
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(uri)
    try:
        fs = path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
        stream = fs.create(path, True)
        try:
            stream.write(bytearray(data))
        finally:
            stream.close()
    except Exception as exc:
        raise _read_error(exc, uri, writing=True) from None


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
    with quiet():
        return query(sdf, sql, source).toPandas()


# ------------------------------------------------------------------------------ cleaning
_CANON, _CLEANED = "clvkit_canon", "clvkit_cleaned"
_KINDS = {"text", "integer", "number"}


def clean_transactions(source, *, customer_id="customer_id", date="date", amount="amount",
                       observation_end=None, returns="drop", zero_amounts="keep", amount_cap=None,
                       date_floor="1990-01-01", date_ceiling=None, max_drop_share=None,
                       date_format=None, label=None, spark=None):
    """:func:`clvkit.clean.clean_transactions` in Spark SQL: the same rules, the same ledger.

    The rules are :data:`clvkit.clean.RULES` with the SQL of :mod:`clvkit.clean_sql`; the
    columns Spark read become the canonical ones as that module describes (text it cannot read
    exactly as :mod:`clvkit.io` does is refused). Options as in
    :func:`clvkit.clean.clean_transactions` (``date_floor`` None: no floor; ``date_ceiling``
    None: tomorrow), and ``date_format``: text dates with a format are refused (clvkit.io
    reads them). Only the ledger's counts and a few example rows reach the driver.

    Returns
    -------
    (Spark DataFrame, clvkit.clean.Ledger)
        The rows kept (``customer_id, date`` timestamp without zone, ``amount`` after netting,
        the other source columns), cached with the cleaning; and the ledger, equal to the
        pandas engine's on the same input (amounts summed in another order may differ in the
        last bits).

    Raises
    ------
    ConfigError
        An option out of its domain.
    DataError
        A mapped column missing, a column type or text Spark cannot read as clvkit.io does, no
        usable row left, or a drop larger than ``max_drop_share``.
    """
    from pyspark.sql import functions as F

    from clvkit import clean, clean_sql

    clean._check_options(returns, zero_amounts, amount_cap, max_drop_share)
    label = label or (str(source) if isinstance(source, (str, Path)) else "transactions")
    sdf = read_transactions(source, spark=spark)
    spark = sdf.sparkSession
    cols = _Cols(customer_id, date, amount)
    types = {f.name: f.dataType.simpleString() for f in sdf.schema.fields}
    _check_intake(types, cols, label, date_format)
    extras = [c for c in sdf.columns if c not in (customer_id, date, amount)
              and c not in ("customer_id", "date", "amount", "_unparsed_date")]
    taken = [c for c in extras if c in clean_sql.RESERVED]
    if taken:
        raise DataError(f"has a column named '{taken[0]}', a name the spark engine's cleaning "
                        "uses", file=label, column=taken[0],
                        fix="rename that column in the table (or leave it out)")
    sdf = sdf.withColumn(clean_sql.ROW, F.monotonically_increasing_id())
    problems = collect(sdf, clean_sql.intake_problems_sql(VIEW, cols, types), label).iloc[0]
    _refuse(problems, cols, label)
    canon = query(sdf, clean_sql.intake_sql(VIEW, cols, types, extras=extras), label)
    canon.createOrReplaceTempView(_CANON)
    end = clean._end_cutoff(observation_end)
    floor = clean._date_option(date_floor, "date_floor")
    ceiling = clean._date_option(date_ceiling, "date_ceiling")
    if ceiling is None:
        ceiling = pd.Timestamp.today().normalize() + pd.Timedelta(days=1)
    rules = clean.active_rules(observation_end=end, returns=returns, zero_amounts=zero_amounts,
                               amount_cap=amount_cap, date_floor=floor,
                               has_amount=amount is not None)
    sql = clean_sql.cleaning_sql(_CANON, rules, extras=extras, floor=floor, end=end,
                                 ceiling=clean._end_cutoff(ceiling), amount_cap=amount_cap)
    cleaned = spark.sql(sql).cache()
    cleaned.createOrReplaceTempView(_CLEANED)
    modified = [r.reason for r in rules if r.action == "modified"]
    with quiet():
        counts = spark.sql(clean_sql.ledger_sql(_CLEANED, modified)).toPandas()
        shown = spark.sql(clean_sql.examples_sql(_CLEANED, modified)).toPandas()
    kept = counts["reason"].isna()
    rows_out = int(counts.loc[kept, "rows"].sum())
    found = counts[~kept].set_index("reason")
    table = pd.DataFrame({"reason": [r.reason for r in rules]})
    for column, zero in (("rows", 0), ("customers", 0), ("amount", 0.0)):
        table[column] = table["reason"].map(found[column]).fillna(zero).to_numpy()
    table["action"] = [r.action for r in rules]
    table = table.astype({"rows": "int64", "customers": "int64", "amount": "float64"})
    if amount is None:
        table = table.assign(amount=float("nan"))
    ledger = clean.Ledger(table=table, rows_in=int(problems["rows"]), rows_out=rows_out,
                          source=label, examples=_examples(shown, canon, types, cols),
                          limits={"date_floor": floor, "date_ceiling": ceiling})
    if rows_out == 0:
        clean._nothing_left(ledger, label)
    if max_drop_share is not None:
        clean.check_drop_share(ledger, max_drop_share)
    clean.logger.info("%s", ledger.summary_line())
    return spark.sql(clean_sql.clean_rows_sql(_CLEANED, extras)), ledger


class _Cols:
    def __init__(self, customer_id, date, amount):
        self.customer_id, self.date, self.amount = customer_id, date, amount


def _check_intake(types: dict, cols, label: str, date_format) -> None:
    """Mapped columns exist and have a type the Spark path reads as clvkit.io does."""
    from clvkit.clean_sql import column_kind as _kind

    for role, name in (("customer_id", cols.customer_id), ("date", cols.date),
                       ("amount", cols.amount)):
        if name is not None and name not in types:
            raise DataError(f"no {role} column '{name}' (columns: {', '.join(types)})",
                            file=label, column=name,
                            fix=f"pass {role}='<column name>' to name the {role} column")
    if _kind(types[cols.customer_id]) not in _KINDS:
        raise DataError(f"customer ids of type {types[cols.customer_id]} cannot be read",
                        file=label, column=cols.customer_id,
                        fix="store the ids as text or integers")
    date_type = types[cols.date]
    if date_type not in ("timestamp_ntz", "date", "string"):
        zone = date_type == "timestamp"
        raise DataError(f"dates of type {date_type} cannot be read by the spark engine"
                        + (" (instants with a time zone: the calendar day is ambiguous)"
                           if zone else ""), file=label, column=cols.date,
                        fix="store the dates as a timestamp without time zone (local time), a "
                            "date or ISO text")
    if date_type == "string" and date_format is not None:
        raise DataError("text dates with a date_format are read by clvkit.io, not by the spark "
                        "engine", file=label, column=cols.date,
                        fix="store the dates as a timestamp or ISO text (YYYY-MM-DD), or use "
                            "summary.engine: pandas")
    if cols.amount is not None and _kind(types[cols.amount]) not in _KINDS:
        what = "true/false values" if types[cols.amount] == "boolean" else \
            f"values of type {types[cols.amount]}"
        raise DataError(f"holds {what}, not amounts", file=label, column=cols.amount,
                        fix="map amount to the column that holds the purchase amounts")


def _refuse(problems, cols, label: str) -> None:
    """One line for text the Spark path cannot read exactly as clvkit.io does."""
    get = lambda key: problems[key] if key in problems else 0  # noqa: E731
    if get("id_fraction"):
        raise DataError(f"has customer ids that are not whole numbers: {int(get('id_fraction')):,} "
                        f"rows (e.g. {problems['id_fraction_example']!r})", file=label,
                        column=cols.customer_id, fix="export the ids as text or integers")
    if get("date_odd"):
        raise DataError(f"dates like {problems['date_odd_example']!r} are not ISO 8601 "
                        f"(YYYY-MM-DD[ HH:MM[:SS]]): {int(get('date_odd')):,} rows; the spark "
                        "engine reads ISO text only", file=label, column=cols.date,
                        fix="store the dates as a timestamp or ISO text in the table, or read "
                            "the file with summary.engine: pandas (clvkit.io takes date_format "
                            "and timezone)")
    if get("date_present") and get("date_failed") > 0.5 * get("date_present"):
        raise DataError(f"dates are not ISO 8601 (e.g. {problems['date_failed_example']!r}; "
                        f"{int(get('date_failed')):,} of {int(get('date_present')):,} values)",
                        file=label, column=cols.date,
                        fix="store the dates as a timestamp or ISO text (YYYY-MM-DD)")
    if get("amount_odd"):
        raise DataError(f"amounts like {problems['amount_odd_example']!r} are text that is no "
                        f"plain number: {int(get('amount_odd')):,} rows; the spark engine does "
                        "not convert thousands separators or currency symbols", file=label,
                        column=cols.amount,
                        fix="store the amounts as numbers in the table, or read the file with "
                            "summary.engine: pandas (clvkit.io converts them)")


def _examples(shown: pd.DataFrame, canon, types: dict, cols) -> dict:
    """Up to three raw values per reason, as :func:`clvkit.clean._examples` shows them."""
    from clvkit import clean
    from clvkit.clean_sql import ROW
    from clvkit.clean_sql import column_kind as _kind

    shown = shown.sort_values(ROW, kind="stable")
    text_amount = cols.amount is not None and _kind(types[cols.amount]) == "text"
    out = {}
    positions = None
    for reason, rows in shown.groupby("reason", sort=False):
        values = []
        for row in rows.to_dict("records"):
            parsed = row["date"]
            amount = row["_raw_amount"] if text_amount or pd.isna(row["amount"]) \
                else str(float(row["amount"]))
            if text_amount and row["_raw_amount"] is None:
                amount = "None"
            elif not text_amount and pd.isna(row["amount"]):
                amount = "nan"
            if reason == clean.MISSING_ID:
                if positions is None:
                    positions = _row_positions(canon)
                values.append(f"row {positions(row[ROW]) + 1}")
            elif reason == clean.BAD_DATE:
                values.append(str(row["_raw_date"]))
            elif reason in (clean.MISSING_DATE, clean.TOO_EARLY, clean.TOO_LATE, clean.LATE):
                values.append(pd.Timestamp(parsed).isoformat()[:10] if pd.notna(parsed)
                              else "NaT")
            elif reason == clean.DUPLICATE:
                values.append(f"{row['customer_id']} {pd.Timestamp(parsed):%Y-%m-%d} {amount}")
            else:
                values.append(str(amount))
        out[reason] = tuple(values)
    return out


def _row_positions(canon):
    """0-based input positions from :data:`clvkit.clean_sql.ROW` (partition in the high bits):
    one small count per partition."""
    from pyspark.sql import functions as F

    from clvkit.clean_sql import ROW

    with quiet():
        sizes = (canon.groupBy(F.shiftright(ROW, 33).alias("p")).count().toPandas()
                 .sort_values("p"))
    starts = dict(zip(sizes["p"], sizes["count"].cumsum() - sizes["count"]))
    return lambda row: int(starts[row >> 33] + (row & ((1 << 33) - 1)))
