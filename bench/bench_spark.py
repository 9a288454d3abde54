"""Benchmark: the Spark engine (local[2]) beside the DuckDB engine on one ~10M-transaction file.

Run ``python bench/bench_spark.py`` (``--rounds N``, ``--record`` to write the table into
bench/RESULTS.md between this benchmark's markers). Data is generated once into bench/out/
(git-ignored): ~10M and ~1M transactions from :func:`clvkit.datasets.simulate` (default
parameters), in simulations of at most 1M customers with distinct seeds and id prefixes.

Methods, each run in its own subprocess (rounds interleaved so machine load hits them alike):

- ``duckdb``: ``rfm_summary(path, engine="duckdb")``, the per-customer summary in pandas;
- ``spark collect``: ``rfm_summary(path, engine="spark")``, the same table computed in Spark and
  collected to the driver;
- ``spark distributed``: ``summary_frame(path)`` kept in Spark (cached), then
  ``compressed_statistics`` brings only the distinct ``(frequency, recency, T)`` and repeat
  ``(frequency, monetary_value)`` rows to the driver, where BG/NBD and Gamma-Gamma are fitted.

Spark's session start-up (JVM launch, ``local[2]``) is timed apart from the work; each worker
warms up on a 20k-transaction file before the timed call. Memory: the Python driver's peak RSS is
``getrusage(RUSAGE_SELF)``; the JVM (pyspark's gateway, a child of the Python driver, which in
local mode is the Spark driver *and* both executor threads) is measured by its ``VmHWM`` in
/proc while it runs, and by ``getrusage(RUSAGE_CHILDREN)`` after the worker stops the session,
closes the gateway and reaps the JVM. The two JVM numbers should agree.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"
from _results import record  # noqa: E402  (bench/ is on sys.path when run as a script)
OBS = "2024-12-31"
CHUNK = 1_000_000  # customers per simulation
ROWS_PER_CUSTOMER = 3.25  # first guess (prospects included) to size the first simulation
FILES = {"warm-up": (20_000, 900), "1M": (1_000_000, 600), "10M": (10_000_000, 500)}
METHODS = ["duckdb", "spark collect", "spark distributed"]


# --- data -------------------------------------------------------------------------------------

def make_file(name: str) -> Path:
    """Write ``bench/out/spark_<name>.parquet`` once: about the target number of transactions."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from clvkit.datasets import simulate

    target, seed = FILES[name]
    path = OUT / f"spark_{name}.parquet"
    if path.exists():
        return path
    OUT.mkdir(exist_ok=True)
    t0, written, customers, chunk, writer = time.perf_counter(), 0, 0, 0, None
    tmp = path.with_suffix(".tmp")
    while written < 0.995 * target:
        rate = written / customers if customers else ROWS_PER_CUSTOMER
        n = min(CHUNK, max(1000, round((target - written) / rate)))
        tx = simulate(n, seed=seed + chunk, programme=False, future_days=0).transactions
        table = pa.Table.from_pandas(tx, preserve_index=False)
        ids = pc.binary_join_element_wise(f"S{chunk:02d}",
                                          pc.cast(table["customer_id"], pa.string()), "")
        table = table.set_column(0, "customer_id", ids)
        writer = writer or pq.ParquetWriter(tmp, table.schema)
        writer.write_table(table, row_group_size=1_000_000)
        written, customers, chunk = written + table.num_rows, customers + n, chunk + 1
    writer.close()
    tmp.rename(path)
    print(f"{path.name}: {written:,} transactions from {chunk} simulation(s) of {customers:,} "
          f"customers in {time.perf_counter() - t0:.1f} s", flush=True)
    return path


# --- worker (one method, one file, its own process) -------------------------------------------

def _fit(purchases, spend):
    """BG/NBD and Gamma-Gamma on the compressed rows, as ``clvkit.spark.fit_models`` does."""
    import dataclasses

    from clvkit import config as clvconfig
    from clvkit import pipeline
    from clvkit.models import GammaGamma

    cfg = clvconfig.load(Path(pipeline.__file__).parents[2] / "params" / "retail.yaml")
    cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, transaction="bgnbd"))
    purchases.attrs["time_unit"] = spend.attrs["time_unit"] = "W"
    tm, _ = pipeline.fit_transaction_model(cfg, purchases)
    sm = GammaGamma(penalizer=cfg.model.penalizer).fit(spend)
    return {**tm.params_.to_dict(), **sm.params_.to_dict()}


def _spark_distributed(path: str) -> dict:
    from clvkit.spark import compressed_statistics, summary_frame

    t0 = time.perf_counter()
    summary = summary_frame(path, observation_end=OBS).cache()
    purchases, spend, info = compressed_statistics(summary)
    summary.unpersist()
    t1 = time.perf_counter()
    params = _fit(purchases, spend)
    t2 = time.perf_counter()
    return {"spark_s": t1 - t0, "fit_s": t2 - t1, "params": params, **info,
            "sum_frequency": int((purchases["frequency"] * purchases["weights"]).sum()),
            "sum_T": round(float((purchases["T"] * purchases["weights"]).sum()), 3)}


def worker(method: str, path: str, warm: str, check: str | None, driver_memory: str) -> None:
    """Start-up, warm-up, one timed call; print JSON (seconds, memory, counts, checksums)."""
    from clvkit.rfm import rfm_summary

    result, startup, load = {}, 0.0, [os.getloadavg()[0]]
    if method.startswith("spark"):
        t0 = time.perf_counter()
        from types import SimpleNamespace

        from clvkit.spark import get_session

        # local[2] and clvkit's defaults; rfm_summary(engine="spark") then uses this session
        spark = get_session(SimpleNamespace(master="local[2]", app_name="bench_spark",
                                            conf={"spark.driver.memory": driver_memory}))
        startup = time.perf_counter() - t0
    run = {"duckdb": lambda p: rfm_summary(p, observation_end=OBS, engine="duckdb"),
           "spark collect": lambda p: rfm_summary(p, observation_end=OBS, engine="spark"),
           "spark distributed": _spark_distributed}[method]
    run(warm)
    t0 = time.perf_counter()
    out = run(path)
    seconds = time.perf_counter() - t0
    py_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if isinstance(out, dict):
        result.update(out)
    else:
        result.update(customers=len(out), sum_frequency=int(out["frequency"].sum()),
                      sum_T=round(float(out["T"].sum()), 3),
                      distinct_purchase_rows=len(out[["frequency", "recency", "T"]]
                                                 .drop_duplicates()))
        result["attrs"] = {k: str(v) for k, v in out.attrs.items()}
        if check:
            out.attrs.clear()  # a Timestamp in attrs does not serialise to Parquet metadata
            out.to_parquet(check)
    jvm_hwm = jvm_reaped = None
    if method.startswith("spark"):
        gateway = spark.sparkContext._gateway
        with open(f"/proc/{gateway.proc.pid}/status") as fh:
            jvm_hwm = next(int(line.split()[1]) for line in fh if line.startswith("VmHWM")) / 1024
        spark.stop()
        gateway.shutdown()
        gateway.proc.stdin.close()  # the gateway JVM exits at EOF on its stdin
        gateway.proc.wait(timeout=120)
        jvm_reaped = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    load.append(os.getloadavg()[0])
    print(json.dumps({"seconds": seconds, "startup_s": startup, "load": load, "py_peak_mb": py_peak,
                      "jvm_hwm_mb": jvm_hwm, "jvm_reaped_mb": jvm_reaped, **result}))


# --- driver -----------------------------------------------------------------------------------

def measure(method: str, path: Path, warm: Path, check: Path | None, driver_memory: str) -> dict:
    cmd = [sys.executable, __file__, "--worker", method, str(path), str(warm), str(check or ""),
           driver_memory]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        errors = [ln for ln in done.stderr.splitlines() if "Error" in ln or "Exception" in ln]
        raise RuntimeError(f"{method} on {path.name} failed:\n" + "\n".join(errors[:10]))
    return json.loads(done.stdout.strip().splitlines()[-1])


def agree(paths: dict[str, Path]) -> str:
    """Compare the DuckDB and Spark per-customer summaries row by row."""
    import pandas as pd

    a, b = (pd.read_parquet(paths[m]) for m in ("duckdb", "spark collect"))
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-12)
    return f"identical index and columns (rtol 1e-12) over {len(a):,} customers"


def distinct_by_period(paths: dict[str, Path]) -> list[dict]:
    """Distinct (x, t_x, T) rows with purchases merged per day and per ISO week (DuckDB)."""
    from clvkit.rfm import rfm_summary

    rows = []
    for name in ("1M", "10M"):
        for period in ("D", "W"):
            s = rfm_summary(str(paths[name]), observation_end=OBS, period=period, engine="duckdb")
            rows.append({"data": name, "period": period, "customers": len(s),
                         "distinct": len(s[["frequency", "recency", "T"]].drop_duplicates())})
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worker", nargs=5, help=argparse.SUPPRESS)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--driver-memory", default="2g",
                    help="spark.driver.memory (local mode: driver and executors share this heap)")
    ap.add_argument("--record", action="store_true", help="write the table into RESULTS.md")
    args = ap.parse_args(argv)
    if args.worker:
        worker(*args.worker[:3], args.worker[3] or None, args.worker[4])
        return 0
    t0 = time.perf_counter()
    paths = {name: make_file(name) for name in FILES}
    rows, checks = [], {}
    for name, rounds in (("10M", args.rounds), ("1M", 1)):
        runs = {m: [] for m in METHODS}
        for i in range(rounds):
            for m in METHODS:
                check = None
                if name == "10M" and i == 0 and m != "spark distributed":
                    check = checks[m] = OUT / f"spark_check_{m.replace(' ', '_')}.parquet"
                runs[m].append(measure(m, paths[name], paths["warm-up"], check,
                                      args.driver_memory))
                r = runs[m][-1]
                print(f"  {name:>4} {m:<18} {r['seconds']:7.2f} s (start-up {r['startup_s']:.1f} s)"
                      f", python {r['py_peak_mb']:.0f} MB, jvm {r['jvm_hwm_mb'] or 0:.0f} MB",
                      flush=True)
        rows += [{"data": name, "method": m, "runs": runs[m]} for m in METHODS]
    agreement = agree(checks)
    print(agreement, flush=True)
    for p in checks.values():
        p.unlink()
    periods = distinct_by_period(paths)
    (OUT / "spark_runs.json").write_text(json.dumps({"runs": rows, "periods": periods}, indent=1))
    table = render(rows, periods, paths, agreement, time.perf_counter() - t0, args.rounds,
                   args.driver_memory)
    print(table)
    if args.record:
        record("bench_spark", f"## Spark engine (issue 7)\n\n{table}")
    return 0


def render(rows, periods, paths, agreement, total_seconds, rounds, driver_memory) -> str:
    import platform

    import duckdb
    import pandas as pd
    import pyarrow.parquet as pq
    import pyspark

    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    sizes = {name: pq.ParquetFile(p).metadata.num_rows for name, p in paths.items()}
    med = lambda r, k: statistics.median(x[k] for x in r)  # noqa: E731
    lines = [f"Run {time.strftime('%Y-%m-%d %H:%M')} on {platform.machine()}, "
             f"{os.cpu_count()} cores, {mem:.0f} GiB, Python {platform.python_version()}, "
             f"pandas {pd.__version__}, duckdb {duckdb.__version__}, pyspark {pyspark.__version__} "
             f"(local[2], spark.driver.memory {driver_memory}), Java {java_version()}; 10M: median of {rounds} interleaved rounds, "
             f"1M: one round; each run in its own process; total {total_seconds / 60:.1f} min.",
             "", "| data | transactions | method | median s | Spark start-up s | Python driver "
             "peak MB | JVM peak MB (reaped) | customers | summary rows to driver | Σ frequency, "
             "Σ T |", "|---|---:|---|---:|---:|---:|---:|---:|---:|---|"]
    for row in rows:
        r, first = row["runs"], row["runs"][0]
        spark = row["method"].startswith("spark")
        secs = f"{med(r, 'seconds'):.1f}"
        if row["method"] == "spark distributed":
            secs += f" ({med(r, 'spark_s'):.1f} Spark + {med(r, 'fit_s'):.1f} fit)"
            crossed = f"**{first['distinct_purchase_rows']:,}**"
        else:  # the whole per-customer summary crosses; its distinct rows for comparison
            crossed = f"all {first['customers']:,} ({first['distinct_purchase_rows']:,} distinct)"
        startup = f"{med(r, 'startup_s'):.1f}" if spark else "–"
        jvm = (f"{max(x['jvm_hwm_mb'] for x in r):.0f} ({max(x['jvm_reaped_mb'] for x in r):.0f})"
               if spark else "–")
        lines.append(f"| {row['data']} | {sizes[row['data']]:,} | {row['method']} | {secs} | "
                     f"{startup} | {max(x['py_peak_mb'] for x in r):.0f} | {jvm} | "
                     f"{first['customers']:,} | {crossed} | {first['sum_frequency']:,}, "
                     f"{first['sum_T']:,.1f} |")
    fits = [(row["data"], row["runs"][0]) for row in rows if row["method"] == "spark distributed"]
    loads = [x for row in rows for r in row["runs"] for x in r["load"]]
    lines += ["", f"DuckDB vs Spark collect on 10M: {agreement}. One-minute load average at the "
              f"start and end of the runs: {min(loads):.1f}–{max(loads):.1f} on "
              f"{os.cpu_count()} cores (Spark's own JVM threads count in it).", ""]
    for name, r in fits:
        p = ", ".join(f"{k} {v:.3g}" for k, v in r["params"].items())
        lines.append(f"- {name}: fit on the driver from {r['distinct_purchase_rows']:,} distinct "
                     f"(x, t_x, T) rows ({r['distinct_purchase_rows'] / r['customers']:.1%} of "
                     f"{r['customers']:,} customers) and {r['distinct_spend_rows']:,} distinct "
                     f"(x, m) rows (spend sample fraction {r['spend_sample_fraction']:g}): {p}")
    lines += ["", "| data | customers | distinct (x, t_x, T), period D | distinct, period W |",
              "|---|---:|---:|---:|"]
    for d, w in zip(periods[::2], periods[1::2]):
        lines.append(f"| {d['data']} | {d['customers']:,} | {d['distinct']:,} "
                     f"({d['distinct'] / d['customers']:.1%}) | {w['distinct']:,} "
                     f"({w['distinct'] / w['customers']:.1%}) |")
    return "\n".join(lines)


def java_version() -> str:
    done = subprocess.run(["java", "-version"], capture_output=True, text=True)
    first = (done.stderr or done.stdout).splitlines()[0]
    return first.split('"')[1] if '"' in first else first


if __name__ == "__main__":
    sys.exit(main())
