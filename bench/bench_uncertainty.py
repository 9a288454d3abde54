"""Benchmark: per-customer uncertainty intervals and CLV scoring (clvkit.models, clvkit.value).

Run ``python bench/bench_uncertainty.py`` (``--record``: write the table into bench/RESULTS.md
between this benchmark's markers). Data: the 1M simulated base of bench_models (bench/out/,
generated if missing), summarised with ``rfm_summary(time_unit="W")``; BG/NBD and Gamma-Gamma
fitted once (untimed). Timed (median of 3): scoring all customers, and 90 % intervals from 200
parameter draws for P(alive), expected purchases over 52 weeks, expected spend and 12-month
CLV on the first 100k customers. lifetimes has no per-customer parameter-uncertainty
intervals, so there is nothing to run side by side; its scoring time is in bench_models.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _results import record  # noqa: E402  (bench/ is on sys.path when run as a script)


def timed(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def run(repeats: int = 3):
    from bench_models import summary_for

    from clvkit.models import BetaGeo, GammaGamma
    from clvkit.value import clv_interval, score_customers

    s = summary_for("1M")
    bg, gg = BetaGeo().fit(s), GammaGamma().fit(s)
    sub = s.iloc[:100_000]
    tasks = [
        (f"score_customers, {len(s):,} customers (P(alive), E[purchases], E[spend], 12-month CLV)",
         lambda: score_customers(bg, gg, s)),
        ("probability_alive_interval, 100k customers, 200 draws",
         lambda: bg.probability_alive_interval(sub, n_draws=200)),
        ("expected_purchases_interval (52 weeks), 100k customers, 200 draws",
         lambda: bg.expected_purchases_interval(sub, horizon=52.0, n_draws=200)),
        ("expected_spend_interval, 100k customers, 200 draws",
         lambda: gg.expected_spend_interval(sub, n_draws=200)),
        ("clv_interval (12 months, 1 %/month), 100k customers, 200 draws",
         lambda: clv_interval(bg, gg, sub, n_draws=200)),
    ]
    return [(label, timed(fn, repeats)) for label, fn in tasks]


def table(rows) -> str:
    import numpy as np
    import pandas as pd
    head = (f"## Uncertainty intervals and scoring (`bench/bench_uncertainty.py`)\n\n"
            f"`python bench/bench_uncertainty.py` on {time.strftime('%Y-%m-%d')}, numpy "
            f"{np.__version__}, pandas {pd.__version__}; median of 3 runs on a shared 2-core "
            "machine.\n\n| task | seconds |\n|---|---|\n")
    return head + "".join(f"| {label} | {sec:.2f} |\n" for label, sec in rows)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--record", action="store_true", help="write the table into RESULTS.md")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    text = table(run(args.repeats))
    sys.stdout.write(text)
    if args.record:
        record("bench_uncertainty", text)


if __name__ == "__main__":
    main()
