"""Benchmark: RFM summaries, clvkit's engines side by side with lifetimes and bare group-bys.

Run ``python bench/bench_rfm.py`` (``--quick`` for the two small data sets only, ``--record`` to
write the table into bench/RESULTS.md between this benchmark's markers). Data is generated once
into bench/out/ (git-ignored): simulated bases of 100k and 1M customers (about 0.3M and 3M
transactions) and a 30M-transaction Parquet file (nine 1M-customer simulations with distinct ids).

Every measurement runs in its own subprocess, so its peak RSS (VmHWM of /proc/self/status,
which, unlike ``getrusage``'s ru_maxrss, does not inherit the parent's peak across exec) is its
own; rounds interleave the methods so machine load hits them alike. Each subprocess loads
the data (untimed), warms up (on a slice, or on the 100k file), then times one call; the table
shows the median over rounds, the peak RSS, and a checksum (Σ frequency, Σ T) showing every
method computes the same.
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

DATASETS = {"100k": 100_000, "1M": 1_000_000, "30M rows": None}
METHODS = {  # name -> (needs the frame in memory, description)
    "clvkit pandas": (True, "rfm_summary(frame, engine='pandas')"),
    "bare pandas groupby": (True, "a plain pandas groupby computing the same columns"),
    "lifetimes": (True, "summary_data_from_transaction_data(freq='D', freq_multiplier=7)"),
    "clvkit duckdb (frame)": (True, "rfm_summary(frame, engine='duckdb')"),
    "clvkit duckdb (parquet)": (False, "rfm_summary(path, engine='duckdb')"),
    "bare duckdb (parquet)": (False, "one plain DuckDB GROUP BY query over the Parquet file"),
    "bare duckdb (parquet, 1 GB cap)": (False, "the same with clvkit's 1 GB DuckDB memory limit"),
}
BIG_METHODS = ["clvkit duckdb (parquet)", "bare duckdb (parquet)", "bare duckdb (parquet, 1 GB cap)"]


# --- data -------------------------------------------------------------------------------------

def data_path(name: str) -> Path:
    return OUT / f"rfm_{name.replace(' ', '_')}.parquet"


def make_data(names) -> dict[str, Path]:
    """Generate the named Parquet files once; return their paths."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from clvkit.datasets import simulate

    OUT.mkdir(exist_ok=True)
    paths = {}
    for name in names:
        n = DATASETS[name]
        path = paths[name] = data_path(name)
        if path.exists():
            continue
        t0 = time.perf_counter()
        if n is not None:
            sim = simulate(n, seed=1, programme=False, future_days=0)
            sim.transactions.to_parquet(path, index=False)
            print(f"simulate({n:,}) + write: {time.perf_counter() - t0:.1f} s, "
                  f"{len(sim.transactions):,} rows", flush=True)
            continue
        target, written, chunk = 30_000_000, 0, 0
        writer = None
        while written < target:
            tx = simulate(1_000_000, seed=100 + chunk, programme=False, future_days=0).transactions
            table = pa.Table.from_pandas(tx.iloc[: target - written], preserve_index=False)
            ids = pc.binary_join_element_wise(f"K{chunk:02d}",
                                              pc.cast(table["customer_id"], pa.string()), "")
            table = table.set_column(0, "customer_id", ids)
            writer = writer or pq.ParquetWriter(path, table.schema)
            writer.write_table(table, row_group_size=1_000_000)
            written += table.num_rows
            chunk += 1
        writer.close()
        print(f"30M-row file: {time.perf_counter() - t0:.1f} s, {written:,} rows from {chunk} "
              "simulations of 1M customers", flush=True)
    return paths


# --- the methods (run inside a worker subprocess) ---------------------------------------------

def bare_pandas(tx, obs):
    import pandas as pd

    tx = tx[tx["date"] <= obs]
    per = (tx.assign(day=tx["date"].dt.floor("D"))
           .groupby(["customer_id", "day"], as_index=False)["amount"].sum())
    out = per.groupby("customer_id").agg(first=("day", "min"), last=("day", "max"),
                                         n=("day", "size"), total=("amount", "sum"),
                                         first_amount=("amount", "first"))
    out["frequency"] = out["n"] - 1
    out["recency"] = (out["last"] - out["first"]).dt.days / 7.0
    out["T"] = (pd.Timestamp(obs) - out["first"]).dt.days / 7.0
    repeat = (out["total"] - out["first_amount"]) / out["frequency"]
    out["monetary_value"] = repeat.where(out["frequency"] > 0, 0.0)
    return out[["frequency", "recency", "T", "monetary_value"]]


def bare_duckdb(path, obs, memory_limit=None):
    import duckdb

    if memory_limit:
        duckdb.sql(f"SET memory_limit = '{memory_limit}'")
    return duckdb.sql(f"""
        WITH p AS (SELECT customer_id, date_trunc('day', date) AS day, sum(amount) AS v
                   FROM read_parquet('{path}') WHERE date < DATE '{obs}' + 1 GROUP BY ALL)
        SELECT customer_id, count(*) - 1 AS frequency,
               date_diff('day', min(day), max(day)) / 7.0 AS recency,
               date_diff('day', min(day), DATE '{obs}') / 7.0 AS T,
               CASE WHEN count(*) > 1 THEN (sum(v) - arg_min(v, day)) / (count(*) - 1)
                    ELSE 0 END AS monetary_value
        FROM p GROUP BY customer_id""").df()


def run_method(method: str, data, obs):
    from clvkit.rfm import rfm_summary

    if method == "clvkit pandas":
        return rfm_summary(data, observation_end=obs)
    if method == "bare pandas groupby":
        return bare_pandas(data, obs)
    if method == "lifetimes":
        from lifetimes.utils import summary_data_from_transaction_data
        return summary_data_from_transaction_data(
            data, "customer_id", "date", monetary_value_col="amount",
            observation_period_end=obs, freq="D", freq_multiplier=7)
    if method.startswith("clvkit duckdb"):
        return rfm_summary(data, observation_end=obs, engine="duckdb")
    if method == "bare duckdb (parquet)":
        return bare_duckdb(data, obs)
    if method == "bare duckdb (parquet, 1 GB cap)":
        return bare_duckdb(data, obs, memory_limit="1GB")
    raise ValueError(method)


def worker(method: str, path: str) -> None:
    """Load, warm up, time one call; print JSON with seconds, peak RSS and a checksum."""
    import pandas as pd

    if METHODS[method][0]:  # in memory: load the frame, warm up on a slice of it
        data = pd.read_parquet(path)
        run_method(method, data.iloc[:20_000], OBS)
    else:  # pushed down to the file: warm up on the smallest file
        data = path
        run_method(method, str(data_path("100k")), OBS)
    loaded = peak_rss_mb()
    t0 = time.perf_counter()
    out = run_method(method, data, OBS)
    seconds = time.perf_counter() - t0
    peak = peak_rss_mb()
    print(json.dumps({"seconds": seconds, "peak_mb": peak, "loaded_mb": loaded,
                      "customers": len(out), "sum_frequency": int(out["frequency"].sum()),
                      "sum_T": round(float(out["T"].sum()), 3)}))


def peak_rss_mb() -> float:
    """This process's peak resident set size in MB."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- driver -----------------------------------------------------------------------------------

def measure(method: str, path: Path) -> dict:
    cmd = [sys.executable, __file__, "--worker", method, str(path)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{method} on {path.name} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worker", nargs=2, metavar=("METHOD", "PATH"), help=argparse.SUPPRESS)
    ap.add_argument("--make-data", nargs="*", help=argparse.SUPPRESS)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="only the 100k and 1M data sets")
    ap.add_argument("--record", action="store_true", help="write the table into RESULTS.md")
    args = ap.parse_args(argv)
    if args.worker:
        worker(*args.worker)
        return 0
    if args.make_data is not None:
        make_data(args.make_data)
        return 0
    t0 = time.perf_counter()
    names = [n for n in DATASETS if not (args.quick and DATASETS[n] is None)]
    # generate in a child process: the driver stays small, so the workers it starts do too
    subprocess.run([sys.executable, __file__, "--make-data", *names], check=True)
    paths = {n: data_path(n) for n in names}
    rows = []
    for name, path in paths.items():
        methods = BIG_METHODS if DATASETS[name] is None else list(METHODS)[:-1]
        runs = {m: [] for m in methods}
        for _ in range(args.rounds):
            for m in methods:
                runs[m].append(measure(m, path))
                print(f"  {name:>8} {m:<24} {runs[m][-1]['seconds']:7.2f} s", flush=True)
        for m in methods:
            r = runs[m]
            rows.append({"data": name, "method": m,
                         "median_s": statistics.median(x["seconds"] for x in r),
                         "peak_mb": max(x["peak_mb"] for x in r),
                         "loaded_mb": max(x["loaded_mb"] for x in r),
                         "customers": r[0]["customers"], "check": (r[0]["sum_frequency"],
                                                                   r[0]["sum_T"])})
    table = render(rows, paths, time.perf_counter() - t0, args.rounds)
    print(table)
    if args.record:
        record("bench_rfm", "## RFM summaries (bench/bench_rfm.py)\n\nTargets: pandas engine "
               "≤ 1.3× the bare pandas groupby; duckdb engine ≤ 1.5× a bare DuckDB GROUP BY on "
               f"the same Parquet file; the 30M-row file under 2 GB peak RSS.\n\n{table}")
    return 0


def render(rows, paths, total_seconds, rounds) -> str:
    import platform

    import duckdb
    import pandas as pd
    import pyarrow.parquet as pq

    sizes = {name: pq.ParquetFile(p).metadata.num_rows for name, p in paths.items()}
    ref = {"clvkit pandas": "bare pandas groupby", "clvkit duckdb (parquet)": "bare duckdb (parquet)",
           "bare duckdb (parquet, 1 GB cap)": "bare duckdb (parquet)"}
    by = {(r["data"], r["method"]): r for r in rows}
    lines = [f"Run {time.strftime('%Y-%m-%d %H:%M')} on {platform.machine()}, "
             f"{os.cpu_count()} cores, Python {platform.python_version()}, "
             f"pandas {pd.__version__}, duckdb {duckdb.__version__}; median of {rounds} "
             f"interleaved rounds, each in its own process; total {total_seconds / 60:.1f} min.",
             "", "| data | transactions | method | median s | × bare | peak RSS MB | RSS after "
             "load MB | customers | Σ frequency, Σ T |", "|---|---:|---|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        base = by.get((r["data"], ref.get(r["method"], "")))
        ratio = f"{r['median_s'] / base['median_s']:.2f}" if base else ""
        lines.append(f"| {r['data']} | {sizes[r['data']]:,} | {r['method']} | "
                     f"{r['median_s']:.2f} | {ratio} | {r['peak_mb']:.0f} | {r['loaded_mb']:.0f} | "
                     f"{r['customers']:,} | {r['check'][0]:,}, {r['check'][1]:,.1f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
