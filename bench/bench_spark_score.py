"""Benchmark: ``clvkit score`` with the pandas and the Spark engine (local[2]), side by side.

Run ``python bench/bench_spark_score.py [--customers 20000 100000 ...] [--record]``. For each
size, a simulated log (:func:`clvkit.datasets.simulate`, cleaned: a curated lake table) is written
once to bench/out/ as Parquet with lake-style column names, and the same params file is scored by
``clvkit score`` with ``summary.engine: pandas`` and ``spark``, each in its own process (Spark's
JVM start-up included, as a user sees it). The two tier exports are compared (labels equal, the
numbers within 1e-9 relative). The one-minute load average is recorded with each run: on a
shared machine it explains more of the time than the engine does.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

OUT = Path(__file__).resolve().parent / "out"
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import record  # noqa: E402


def make_lake(customers: int) -> Path:
    from clvkit.clean import clean_transactions
    from clvkit.datasets import simulate

    path = OUT / f"spark_score_{customers}.parquet"
    if not path.exists():
        OUT.mkdir(exist_ok=True)
        tx = simulate(customers, seed=7, programme=False).transactions
        tx, _ = clean_transactions(tx, observation_end="2024-12-31", returns="drop")
        tx[["customer_id", "date", "amount"]].rename(columns={
            "customer_id": "member_id", "date": "order_ts", "amount": "net_amount"}
        ).to_parquet(path, index=False)
    return path


def params(path: Path, engine: str) -> Path:
    text = {"scenario": f"bench-{engine}", "summary": {"engine": engine, "time_unit": "W"},
            "cleaning": {"observation_end": "2024-12-31"},
            "data": {"source": "files", "transactions": {
                "path": str(path), "customer_id": "member_id", "date": "order_ts",
                "amount": "net_amount"}},
            "spark": {"master": "local[2]", "conf": {"spark.driver.memory": "2g"}},
            "satisfaction": {"enabled": False}, "impact": {"enabled": False}}
    out = path.with_name(f"{path.stem}_{engine}.yaml")
    out.write_text(yaml.safe_dump(text))
    return out


def run(path: Path, engine: str) -> tuple[float, float, Path]:
    out = path.with_name(f"{path.stem}_{engine}_out")
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable}
    subprocess.run([sys.executable, "-m", "clvkit.cli", "score", str(params(path, engine)),
                    "--out", str(out), "--run-date", "2025-01-01"], check=True, env=env,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0, load, out


def main() -> None:
    from clvkit import export

    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, nargs="+", default=[20_000])
    ap.add_argument("--record", action="store_true")
    args = ap.parse_args()
    rows = []
    for n in args.customers:
        path = make_lake(n)
        times = {}
        for engine in ("pandas", "spark"):
            times[engine] = run(path, engine)
            print(f"{n:,} customers, {engine}: {times[engine][0]:.1f} s "
                  f"(load {times[engine][1]:.1f})", flush=True)
        a = export.read_assignments(times["pandas"][2] / "tiers.parquet")
        b = export.read_assignments(times["spark"][2] / "tiers.parquet")
        a, b = (t.sort_values("customer_id").reset_index(drop=True) for t in (a, b))
        numbers = ["clv", "p_alive", "expected_purchases", "clv_at_risk"]
        pd.testing.assert_frame_equal(a.drop(columns=numbers), b.drop(columns=numbers))
        worst = float(np.max(np.abs(a[numbers].to_numpy() - b[numbers].to_numpy())
                             / np.maximum(np.abs(a[numbers].to_numpy()), 1e-300)))
        rows.append(f"| {n:,} | {len(pd.read_parquet(path)):,} | {len(a):,} | "
                    f"{times['pandas'][0]:.1f} ({times['pandas'][1]:.1f}) | "
                    f"{times['spark'][0]:.1f} ({times['spark'][1]:.1f}) | "
                    f"{times['spark'][0] / times['pandas'][0]:.1f}x | equal; {worst:.1e} |")
    text = "\n".join([
        "## `clvkit score`: Spark engine beside the pandas engine (`bench/bench_spark_score.py`)",
        "",
        f"Run {time.strftime('%Y-%m-%d %H:%M')} on {os.cpu_count()} cores, pyspark local[2]; one "
        "round each, pandas then Spark, each `clvkit score` in its own process (Spark's JVM "
        "start-up included). Load = one-minute load average when the run started.",
        "",
        "| customers simulated | transactions | customers scored | pandas s (load) | "
        "Spark s (load) | Spark / pandas | tier export; max rel. diff of the numbers |",
        "|---:|---:|---:|---:|---:|---:|---|",
        *rows])
    print(text)
    if args.record:
        record("bench_spark_score", text)


if __name__ == "__main__":
    main()
