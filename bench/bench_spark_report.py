"""Benchmark: how `clvkit score` and `clvkit report` grow from 100k to 1M to 10M customers,
the Spark engine (``local[2]``) beside the single-machine engines (pandas, DuckDB).

Run ``python bench/bench_spark_report.py --data /tmp/clvkit_bench [--sizes 100000 1000000
10000000] [--phase score report] [--record]``. Data is generated once into ``--data`` (not the
repository): per size, simulations of at most 1M customers (:func:`clvkit.datasets.simulate`,
default parameters, distinct seeds and id prefixes, as ``bench_spark.make_file`` does), each
cleaned by :func:`clvkit.clean.clean_transactions` (a curated lake table), appended to one
Parquet file with lake-style column names.

Every run is its own process (Spark's JVM start-up included, as a user sees it), one round
each, the engines side by side per size. Measured: wall-clock seconds, the peak RSS of the
Python driver process (``VmHWM``) and the largest child (the Spark JVM, or a notebook kernel:
``RUSAGE_CHILDREN`` after the JVM is stopped and reaped), bytes the command wrote, and the
one-minute load average at the start and end of the run (the machine is shared: other people's
tests run beside it). A run longer than ``--timeout`` seconds (default 900) is stopped and
recorded as not finished, with the time it ran; nothing is extrapolated.

Results accumulate in ``<data>/results.jsonl`` (one JSON object per run), so the phases can
run at different times; ``--record`` writes the table of everything measured to
bench/RESULTS.md between this benchmark's markers.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import record  # noqa: E402

OBS = "2024-12-31"
RUN_DATE = "2025-01-01"
CHUNK = 1_000_000
ENGINES = {"score": ("pandas", "duckdb", "spark"), "report": ("pandas", "spark")}


# --- data ---------------------------------------------------------------------------------
def make_lake(folder: Path, customers: int) -> Path:
    """``<folder>/lake_<customers>.parquet``: clean transactions of ``customers`` simulated
    customers (prospects never buy, so fewer are scored), written once."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from clvkit.clean import clean_transactions
    from clvkit.datasets import simulate

    path = folder / f"lake_{customers}.parquet"
    if path.exists():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    t0, writer, done, chunk, rows = time.perf_counter(), None, 0, 0, 0
    tmp = path.with_suffix(".tmp")
    while done < customers:
        n = min(CHUNK, customers - done)
        tx = simulate(n, seed=700 + chunk, programme=False, future_days=0).transactions
        tx, _ = clean_transactions(tx, observation_end=OBS, returns="drop")
        table = pa.Table.from_pandas(tx[["customer_id", "date", "amount"]].rename(columns={
            "customer_id": "member_id", "date": "order_ts", "amount": "net_amount"}),
            preserve_index=False)
        ids = pc.binary_join_element_wise(f"L{chunk:02d}-",
                                          pc.cast(table["member_id"], pa.string()), "")
        table = table.set_column(0, "member_id", ids)
        writer = writer or pq.ParquetWriter(tmp, table.schema)
        writer.write_table(table, row_group_size=1_000_000)
        done, chunk, rows = done + n, chunk + 1, rows + table.num_rows
    writer.close()
    tmp.rename(path)
    print(f"{path.name}: {rows:,} transactions of {customers:,} simulated customers in "
          f"{time.perf_counter() - t0:.0f} s", flush=True)
    return path


def params(path: Path, engine: str) -> Path:
    import yaml

    text = {"scenario": f"bench-{engine}", "summary": {"engine": engine, "time_unit": "W"},
            "cleaning": {"observation_end": OBS},
            "data": {"source": "files", "transactions": {
                "path": str(path), "customer_id": "member_id", "date": "order_ts",
                "amount": "net_amount"}},
            "model": {"transaction": "bgnbd"},
            "spark": {"master": "local[2]", "conf": {"spark.driver.memory": "6g"}},
            "satisfaction": {"enabled": False}, "impact": {"enabled": False}}
    out = path.with_name(f"{path.stem}_{engine}.yaml")
    out.write_text(yaml.safe_dump(text))
    return out


# --- worker (one command in its own process) --------------------------------------------
def _hwm_mb(pid: str = "self") -> float:
    with open(f"/proc/{pid}/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM")) / 1024


def worker(command: str, params_path: str, out: str) -> None:
    from clvkit import cli

    t0 = time.perf_counter()
    argv = ([command, params_path, "--out", out, "--run-date", RUN_DATE])
    code = cli.main(argv)
    seconds = time.perf_counter() - t0
    jvm = None
    try:
        from pyspark.sql import SparkSession

        spark = SparkSession.getActiveSession()
    except ImportError:
        spark = None
    if spark is not None:  # stop the session and reap the JVM, so RUSAGE_CHILDREN counts it
        gateway = spark.sparkContext._gateway
        jvm = _hwm_mb(str(gateway.proc.pid))
        spark.stop()
        gateway.shutdown()
        gateway.proc.stdin.close()
        gateway.proc.wait(timeout=120)
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps({"exit": code, "seconds": seconds, "driver_mb": _hwm_mb(),
                      "jvm_mb": jvm, "children_mb": children}))


# --- driver -------------------------------------------------------------------------------
def _bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.exists() else 0


def measure(command: str, path: Path, engine: str, timeout: float) -> dict:
    import shutil

    out = path.with_name(f"{path.stem}_{command}_{engine}_out")
    shutil.rmtree(out, ignore_errors=True)
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable,
           "CLVKIT_CACHE_DIR": str(path.parent / "cache")}
    row = {"command": command, "engine": engine, "customers": int(path.stem.split("_")[1]),
           "load_start": os.getloadavg()[0], "when": time.strftime("%Y-%m-%d %H:%M")}
    t0 = time.perf_counter()
    try:
        done = subprocess.run([sys.executable, __file__, "--worker", command,
                               str(params(path, engine)), str(out)],
                              capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        row.update(finished=False, seconds=time.perf_counter() - t0,
                   load_end=os.getloadavg()[0], bytes=_bytes(out))
        return row
    row.update(load_end=os.getloadavg()[0], bytes=_bytes(out), finished=done.returncode == 0)
    if done.returncode != 0:
        row.update(seconds=time.perf_counter() - t0, error=done.stderr.strip()[-600:])
        return row
    row.update(json.loads(done.stdout.strip().splitlines()[-1]))
    if row["exit"] != 0:
        row.update(finished=False, error=done.stderr.strip()[-600:] or f"exit {row['exit']}")
    if command == "report":  # the run folder, not the reports root's lock and symlinks
        row["bytes"] = _bytes(out / f"bench-{engine}" / RUN_DATE)
        row["result_bytes"] = _bytes(out / f"bench-{engine}" / RUN_DATE / "result")
    return row


def _mb(v) -> str:
    return "–" if v is None else f"{v:,.0f}"


def render(rows: list[dict]) -> str:
    lines = [
        "## Spark engine vs the single-machine engines, 100k → 1M → 10M customers "
        "(`bench/bench_spark_report.py`)", "",
        f"{os.cpu_count()} cores, 24 GiB, shared with other engineers' test runs (load = "
        "one-minute load average at the start → end of each run). One round per row, each "
        "command in its own process (JVM start-up included); Spark `local[2]` with 6 GB "
        "driver memory; `model.transaction: bgnbd`, no calibration split, no surveys or "
        "programme. Data: simulated customers (prospects never buy), cleaned, one Parquet file. "
        "Driver = the Python process's peak RSS; JVM = the Spark JVM's peak RSS; children = "
        "the largest child process (JVM or notebook kernel). Bytes = everything the command "
        "wrote (report: the run folder; of it, the stored result). A run stopped at the "
        "time limit says so with the time it ran: nothing is extrapolated.", "",
        "| command | engine | customers | transactions | seconds | driver MB | JVM MB | "
        "children MB | MB written (result) | load | when |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|"]
    order = {"score": 0, "report": 1}
    for r in sorted(rows, key=lambda r: (order[r["command"]], r["customers"],
                                         ("pandas", "duckdb", "spark").index(r["engine"]))):
        secs = (f"{r['seconds']:.1f}" if r.get("finished") else
                f"not finished: stopped at {r['seconds']:.0f}" if "error" not in r else
                f"failed after {r['seconds']:.0f} ({r['error'].splitlines()[-1][:80]})")
        written = f"{r['bytes'] / 1e6:,.1f}"
        if r.get("result_bytes") is not None:
            written += f" ({r['result_bytes'] / 1e6:,.1f})"
        lines.append(f"| `clvkit {r['command']}` | {r['engine']} | {r['customers']:,} | "
                     f"{r.get('transactions', 0):,} | {secs} | {_mb(r.get('driver_mb'))} | "
                     f"{_mb(r.get('jvm_mb'))} | {_mb(r.get('children_mb'))} | {written} | "
                     f"{r['load_start']:.1f} → {r.get('load_end', float('nan')):.1f} | "
                     f"{r['when']} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker", nargs=3, metavar=("COMMAND", "PARAMS", "OUT"))
    ap.add_argument("--data", type=Path, default=Path("/tmp/clvkit_bench"))
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000, 10_000_000])
    ap.add_argument("--phase", nargs="+", default=["score", "report"], choices=list(ENGINES))
    ap.add_argument("--engines", nargs="+", default=None)
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--record", action="store_true")
    ap.add_argument("--record-only", action="store_true")
    args = ap.parse_args()
    if args.worker:
        return worker(*args.worker)
    log = args.data / "results.jsonl"
    if not args.record_only:
        import pyarrow.parquet as pq

        for n in args.sizes:
            path = make_lake(args.data, n)
            rows_in = pq.ParquetFile(path).metadata.num_rows
            for command in args.phase:
                for engine in args.engines or ENGINES[command]:
                    if engine not in ENGINES[command]:
                        continue
                    row = measure(command, path, engine, args.timeout)
                    row["transactions"] = rows_in
                    print(json.dumps(row), flush=True)
                    with log.open("a") as fh:
                        fh.write(json.dumps(row) + "\n")
    rows = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    latest = {}
    for r in rows:  # the newest run of each (command, engine, size)
        latest[(r["command"], r["engine"], r["customers"])] = r
    text = render(list(latest.values()))
    print(text)
    if args.record or args.record_only:
        record("bench_spark_report", text)


if __name__ == "__main__":
    main()
