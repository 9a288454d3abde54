"""Benchmark: reading and cleaning transactions, clvkit side by side with bare pandas.

Run ``python bench/bench_intake.py`` (``--quick`` for the small data set only, ``--record`` to
write the table into bench/RESULTS.md between this benchmark's markers). Data is generated once
into bench/out/ (git-ignored): messy transaction logs of 0.3M and 3M rows (about 1 % returns,
0.5 % missing ids, 0.2 % exact duplicates, 0.1 % garbage dates in the CSV) as CSV and Parquet.

Every measurement runs in its own subprocess, so its peak RSS (``VmHWM``) is its own; rounds
interleave the methods so machine load hits them alike. The table shows the median time over
rounds, the peak RSS, and the rows each method returns. The bare pandas rows do less
than clvkit (no ledger, no per-reason counts, no messages) and are there as the floor.
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"
from _results import record  # noqa: E402  (bench/ is on sys.path when run as a script)
SIZES = {"0.3M": 300_000, "3M": 3_000_000}
METHODS = {
    "clvkit read_transactions (csv)": "read_transactions(path.csv): checks, ISO dates, id typing",
    "bare pd.read_csv": "pd.read_csv(path.csv) then pd.to_datetime(date, format='ISO8601', "
                        "errors='coerce')",
    "clvkit read_transactions (parquet)": "read_transactions(path.parquet)",
    "bare pd.read_parquet": "pd.read_parquet(path.parquet)",
    "clvkit clean_transactions (drop)": "clean_transactions(frame, returns='drop') + ledger",
    "clvkit clean_transactions (net)": "clean_transactions(frame, returns='net') + ledger",
    "bare pandas clean": "dropna, isfinite, drop_duplicates, amount >= 0, sort_values",
}


def make_data(name):
    """Write the messy CSV and Parquet files for one size once; return their paths."""
    import numpy as np
    import pandas as pd

    OUT.mkdir(exist_ok=True)
    csv, parquet = OUT / f"intake_{name}.csv", OUT / f"intake_{name}.parquet"
    if csv.exists() and parquet.exists():
        return csv, parquet
    n = SIZES[name]
    rng = np.random.default_rng(7)
    ids = np.char.add("C", rng.integers(0, n // 3, n).astype(str)).astype(object)
    seconds = rng.integers(0, 730 * 86_400, n)
    dates = (pd.Timestamp("2023-01-01") + pd.to_timedelta(seconds, unit="s")).strftime(
        "%Y-%m-%dT%H:%M:%S").to_numpy(dtype=object)
    amount = np.round(rng.gamma(2.0, 20.0, n), 2)
    amount[rng.random(n) < 0.01] *= -1
    ids[rng.random(n) < 0.005] = None
    dates[rng.random(n) < 0.001] = "not a date"
    frame = pd.DataFrame({"customer_id": ids, "date": dates, "amount": amount})
    dup = rng.choice(n, n // 500, replace=False)
    frame = pd.concat([frame, frame.iloc[dup]], ignore_index=True)
    frame.to_csv(csv, index=False)
    frame.assign(date=pd.to_datetime(frame["date"], format="ISO8601", errors="coerce")
                 ).to_parquet(parquet)
    return csv, parquet


def measure(method, name):
    """Run one method on one size in this process; return seconds, peak RSS and rows out."""
    import numpy as np
    import pandas as pd

    from clvkit.clean import clean_transactions
    from clvkit.io import read_transactions

    csv, parquet = make_data(name)
    frame = read_transactions(parquet) if "clean" in method else None  # untimed input
    calls = {
        "clvkit read_transactions (csv)": lambda: read_transactions(csv),
        "bare pd.read_csv": lambda: pd.read_csv(csv).assign(
            date=lambda d: pd.to_datetime(d["date"], format="ISO8601", errors="coerce")),
        "clvkit read_transactions (parquet)": lambda: read_transactions(parquet),
        "bare pd.read_parquet": lambda: pd.read_parquet(parquet),
        "clvkit clean_transactions (drop)": lambda: clean_transactions(frame)[0],
        "clvkit clean_transactions (net)": lambda: clean_transactions(frame, returns="net")[0],
        "bare pandas clean": lambda: _bare_clean(frame, np),
    }
    start = time.perf_counter()
    result = calls[method]()
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "rss_mb": _peak_rss_mb(), "rows": len(result)}


def _peak_rss_mb():
    """This process's peak RSS. VmHWM belongs to the address space, which exec replaces; the
    ``ru_maxrss`` of a child instead keeps the parent's high-water mark from before the fork."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _bare_clean(frame, np):
    d = frame.dropna(subset=["customer_id", "date", "amount"])
    d = d[np.isfinite(d["amount"])].drop_duplicates()
    d = d[d["amount"] >= 0]
    return d.sort_values(["customer_id", "date"], kind="stable")


def run(names, rounds):
    rows = []
    for name in names:
        make_data(name)
        results = {m: [] for m in METHODS}
        for _ in range(rounds):
            for method in METHODS:
                out = subprocess.run([sys.executable, __file__, "--one", method, name],
                                     capture_output=True, text=True, check=True)
                results[method].append(json.loads(out.stdout.strip().splitlines()[-1]))
        for method, runs in results.items():
            rows.append((name, method, statistics.median(r["seconds"] for r in runs),
                         max(r["rss_mb"] for r in runs), runs[0]["rows"]))
    return rows


def table(rows, rounds):
    import numpy as np
    import pandas as pd

    lines = [f"`python bench/bench_intake.py --record` on {time.strftime('%Y-%m-%d')}, Python "
             f"{sys.version.split()[0]}, pandas {pd.__version__}, numpy {np.__version__}; "
             f"median of {rounds} rounds, each call in its own subprocess (peak RSS includes "
             "the loaded input for the clean rows).", "",
             "| rows | method | seconds | peak RSS MB | rows out |", "|---|---|---|---|---|"]
    lines += [f"| {n} | {m} | {s:.2f} | {r:,.0f} | {o:,} |" for n, m, s, r, o in rows]
    lines += ["", "Methods:", ""] + [f"- {m}: {d}" for m, d in METHODS.items()]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the 0.3M-row data only")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--record", action="store_true", help="write into bench/RESULTS.md")
    parser.add_argument("--one", nargs=2, metavar=("METHOD", "SIZE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(*args.one)))
        return
    names = ["0.3M"] if args.quick else list(SIZES)
    text = table(run(names, args.rounds), args.rounds)
    print(text)
    if args.record:
        record("bench_intake", "## Intake and cleaning (`bench/bench_intake.py`)\n\n" + text)


if __name__ == "__main__":
    main()
