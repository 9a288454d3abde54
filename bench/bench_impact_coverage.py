"""Coverage of the programme-impact intervals on simulated programmes with known true effects.

For each of ``--sims`` seeds: simulate a customer base with the tiering programme
(``clvkit.datasets.simulate``), estimate the difference-in-differences uplift of every outcome
with its 95 % cluster-bootstrap interval (``clvkit.impact.difference_in_differences``) and check
whether the interval covers the true average effect on the treated recorded in
``truth.programme.effects``. Prints a markdown table (covered / sims, bias, spread) for
bench/RESULTS.md. Acceptance (issue 5): every outcome covered in at least 90 of 100 simulations.

``--selection value --null`` runs the issue 12.5 case instead: the programme treats the most
valuable half of the eligible customers and has no effect at all. The plain difference-in-
differences then shows regression to the mean; the adjusted (ANCOVA) estimator of
``clvkit.impact.adjusted_effects`` should cover zero in ≥ 90 % of the runs. That mode writes its
table to bench/RESULTS.md.

Run: ``.venv/bin/python bench/bench_impact_coverage.py --sims 100 --customers 20000``
     ``.venv/bin/python bench/bench_impact_coverage.py --selection value --null --sims 100
     --customers 5000``
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


NULL_EFFECTS = {"purchase_rate": 1.0, "dropout": 1.0, "spend": 1.0, "satisfaction": 0.0}
NULL_OUTCOMES = ("repurchase", "conversion", "churn", "spend")


def one_null(seed: int, customers: int, n_boot: int, noise: float) -> list[dict]:
    from clvkit.datasets import simulate
    from clvkit.impact import difference_in_differences

    warnings.simplefilter("ignore")
    sim = simulate(customers, seed=1000 + seed, programme={
        "assignment": "value", "effects": NULL_EFFECTS, "selection_noise": noise})
    pt = sim.truth.programme
    res = difference_in_differences(sim.transactions, sim.programme, start=pt.start,
                                    n_boot=n_boot, seed=seed, outcomes=NULL_OUTCOMES,
                                    churn_window_days=pt.churn_window_days, assignment="rule")
    rows = []
    for o in NULL_OUTCOMES:
        d, a = res.effects.loc[o], res.adjusted.loc[o]
        p = res.placebo.loc[o] if o in res.placebo.index else None
        rows.append({"outcome": o, "noise": noise, "did": d["estimate"],
                     "did_covers": d["low"] <= 0 <= d["high"], "adj": a["estimate"],
                     "adj_covers": a["low"] <= 0 <= a["high"],
                     "placebo_flags": bool(p is not None and p["shows_effect"]),
                     "max_smd": float(res.balance["smd"].abs().max()),
                     "associated": not bool(res.wording.loc[o, "causal"])})
    return rows


def main_null(args) -> None:
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _results import record

    t0 = time.perf_counter()
    rows = []
    for noise in (0.0, 0.5):
        with ProcessPoolExecutor(args.workers) as pool:
            parts = pool.map(one_null, range(args.sims), [args.customers] * args.sims,
                             [args.n_boot] * args.sims, [noise] * args.sims)
            rows += [row for part in parts for row in part]
    d = pd.DataFrame(rows)
    elapsed = time.perf_counter() - t0
    t = d.groupby(["noise", "outcome"], sort=False).agg(
        sims=("did", "size"), did_mean=("did", "mean"), did_covers=("did_covers", "sum"),
        adj_mean=("adj", "mean"), adj_covers=("adj_covers", "sum"),
        placebo=("placebo_flags", "sum"), associated=("associated", "sum"))
    lines = ["## Programme impact under selection on value, zero true effect "
             "(`bench/bench_impact_coverage.py --selection value --null`)", "",
             f"{args.sims} seeded simulations × {args.customers:,} customers per row, "
             f"{args.n_boot} bootstrap resamples, {elapsed:.0f} s. The programme treats the half "
             "of the eligible customers with the highest value score log(pre-start spend) + "
             "noise × N(0, 1) (noise 0: strictly the top spenders) and changes nothing. "
             "Covers = the 95 % interval contains the true effect 0. Adjusted = ANCOVA "
             "(`clvkit.impact.adjusted_effects`: post outcome on treatment, pre-window outcome "
             "and pre-start behaviour, HC3 interval). 'Associated' = runs whose headline says "
             "\"associated with\" (here always: assignment is declared a rule).", "",
             "| selection noise | outcome | sims | DiD mean | DiD covers 0 | adjusted mean | "
             "adjusted covers 0 | placebo flags |", "|---|---|---|---|---|---|---|---|"]
    for (noise, o), r in t.iterrows():
        lines.append(f"| {noise:g} | {o} | {int(r.sims)} | {r.did_mean:+.2f} | "
                     f"{int(r.did_covers)} | {r.adj_mean:+.2f} | {int(r.adj_covers)} | "
                     f"{int(r.placebo)} |")
    ok = bool((t["adj_covers"] >= np.ceil(0.9 * t["sims"])).all())
    lines += ["", f"Acceptance (adjusted interval covers 0 in ≥ 90 % of runs, every outcome and "
              f"noise): {'PASS' if ok else 'FAIL'}; plain DiD covers 0 in "
              f"{int(t['did_covers'].sum())} of {int(t['sims'].sum())} outcome-runs."]
    text = "\n".join(lines)
    print(text)
    record("bench_impact_null", text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sims", type=int, default=100)
    ap.add_argument("--customers", type=int, default=20000)
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--selection", choices=("random", "value"), default="random")
    ap.add_argument("--null", action="store_true")
    args = ap.parse_args()
    if args.selection == "value" or args.null:
        return main_null(args)
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
