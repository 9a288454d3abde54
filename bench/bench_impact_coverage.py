"""Coverage of the programme-impact intervals on simulated programmes with known true effects.

For each of ``--sims`` seeds: simulate a customer base with the tiering programme
(``clvkit.datasets.simulate``), estimate the difference-in-differences uplift of every outcome
with its 95 % cluster-bootstrap interval (``clvkit.impact.difference_in_differences``) and check
whether the interval covers the true average effect on the treated recorded in
``truth.programme.effects``. Prints a markdown table (covered / sims, bias, spread) for
bench/RESULTS.md. Acceptance (issue 5): every outcome covered in at least 90 of 100 simulations.

Run: ``.venv/bin/python bench/bench_impact_coverage.py --sims 100 --customers 20000``
"""
from __future__ import annotations

import argparse
import os
import time
import warnings
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd


def one(seed: int, customers: int, n_boot: int) -> list[dict]:
    from clvkit.datasets import simulate
    from clvkit.impact import difference_in_differences

    warnings.simplefilter("ignore")
    sim = simulate(customers, seed=seed)
    truth = sim.truth.programme
    res = difference_in_differences(sim.transactions, sim.programme, start=truth.start,
                                    surveys=sim.surveys, n_boot=n_boot, seed=seed,
                                    churn_window_days=truth.churn_window_days)
    return [{"outcome": o, "seed": seed, "estimate": r["estimate"], "low": r["low"],
             "high": r["high"], "truth": truth.effects[o]} for o, r in res.effects.iterrows()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sims", type=int, default=100)
    ap.add_argument("--customers", type=int, default=20000)
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    args = ap.parse_args()
    t0 = time.perf_counter()
    with ProcessPoolExecutor(args.workers) as pool:
        parts = pool.map(one, range(args.sims), [args.customers] * args.sims,
                         [args.n_boot] * args.sims)
        d = pd.DataFrame([row for part in parts for row in part])
    elapsed = time.perf_counter() - t0
    d["covered"] = (d["low"] <= d["truth"]) & (d["truth"] <= d["high"])
    d["error"] = d["estimate"] - d["truth"]
    t = d.groupby("outcome", sort=False).agg(
        covered=("covered", "sum"), sims=("covered", "size"), mean_truth=("truth", "mean"),
        bias=("error", "mean"), sd_error=("error", "std"),
        mean_halfwidth=("high", "mean"))
    t["mean_halfwidth"] = ((d["high"] - d["low"]) / 2).groupby(d["outcome"], sort=False).mean()
    print(f"{args.sims} simulations × {args.customers:,} customers, {args.n_boot} bootstrap "
          f"resamples, {args.workers} workers, {elapsed:.0f} s\n")
    print("| outcome | covered / sims | mean true effect | bias | sd of error | mean CI half-width |")
    print("|---|---|---|---|---|---|")
    for o, r in t.iterrows():
        print(f"| {o} | {int(r.covered)} / {int(r.sims)} | {r.mean_truth:.3f} | {r.bias:+.3f} | "
              f"{r.sd_error:.3f} | {r.mean_halfwidth:.3f} |")
    ok = bool((t["covered"] >= np.ceil(0.9 * t["sims"])).all())
    print(f"\nacceptance (≥ 90 % covered for every outcome): {'PASS' if ok else 'FAIL'}")


if __name__ == "__main__":
    main()
