"""Benchmark: model fitting and scoring, clvkit side by side with lifetimes 0.11.3 in one run.

Run ``python bench/bench_models.py`` (``--quick``: 100k customers only; ``--record``: write the
tables into bench/RESULTS.md between this benchmark's markers; ``--full-pareto``: also time
lifetimes' Pareto/NBD fit at 1M, about 400 s, instead of extrapolating it from 100k).

Data: the simulated bases of bench_rfm (``clvkit.datasets.simulate``, 100k and 1M customers,
about 0.3M and 3M transactions; generated into bench/out/ if missing), summarised once
(untimed) with ``rfm_summary(time_unit="W")``. Both libraries get identical arrays.

Measured, per size: BG/NBD, Pareto/NBD and Gamma-Gamma fits, and scoring every customer
(P(alive), expected purchases over 12 months, expected spend, 12-month CLV at 1 % a month);
then fit time against customers and against distinct (frequency, recency, T) rows. Each
clvkit timing is the median of ``--repeats`` runs; lifetimes runs once (its times are long and
stable). The machine is shared, so the two libraries alternate within each row.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

OUT = Path(__file__).resolve().parent / "out"
from _results import record  # noqa: E402  (bench/ is on sys.path when run as a script)
SIZES = {"100k": 100_000, "1M": 1_000_000}
WEEKS_12M = 12 * 365.2425 / 12 / 7      # 12 mean Gregorian months in weeks


def summary_for(name: str) -> pd.DataFrame:
    """The weekly RFM summary of the simulated base ``name`` (data generated if missing)."""
    from clvkit.rfm import rfm_summary
    path = OUT / f"rfm_{name}.parquet"
    if not path.exists():
        from clvkit.datasets import simulate
        OUT.mkdir(exist_ok=True)
        sim = simulate(SIZES[name], seed=1, programme=False)
        sim.transactions[["customer_id", "date", "amount"]].to_parquet(path)
    return rfm_summary(str(path), engine="duckdb", observation_end="2024-12-31", time_unit="W")


def timed(fn, repeats=1):
    """(median seconds over ``repeats`` calls, last result)."""
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def bench_size(name, summary, repeats, full_pareto, pareto_100k=None):
    import lifetimes

    from clvkit.models import BetaGeo, GammaGamma
    from clvkit.models.paretonbd import ParetoNBD
    from clvkit.value import customer_lifetime_value

    f, r, T = (summary[c].to_numpy() for c in ("frequency", "recency", "T"))
    m = summary["monetary_value"].to_numpy()
    rep = f > 0
    rows = []

    def row(task, ours, theirs, note="", agree=None):
        rows.append({"size": name, "task": task, "clvkit_s": ours, "lifetimes_s": theirs,
                     "ratio": theirs / ours if np.isfinite(theirs) else np.nan,
                     "max_rel_diff": agree, "note": note})
        print(f"  {task}: clvkit {ours:.2f} s, lifetimes {theirs:.2f} s {note}", flush=True)

    def rel(a, b):
        a, b = np.asarray(a, float), np.asarray(b, float)
        return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-12)))

    t_ours, bg = timed(lambda: BetaGeo().fit(summary), repeats)
    t_lt, lbg = timed(lambda: lifetimes.BetaGeoFitter().fit(f, r, T))
    row("BG/NBD fit", t_ours, t_lt, agree=rel(bg.params_, lbg.params_))

    t_ours, pn = timed(lambda: ParetoNBD().fit(summary), repeats)
    if name == "1M" and not full_pareto and pareto_100k is not None:
        t_lt, note, agree = 10 * pareto_100k, "lifetimes extrapolated: 10 x its 100k time", None
    else:
        t_lt, lpn = timed(lambda: lifetimes.ParetoNBDFitter().fit(f, r, T))
        finite = np.all(np.isfinite(lpn.params_))
        note = "" if finite else "lifetimes returned NaN parameters"
        agree = rel(pn.params_, lpn.params_) if finite else None
        pareto_100k = t_lt if name == "100k" else pareto_100k
    nan_free = f"clvkit NaN-free: {bool(np.isfinite(pn.params_).all())}"
    row("Pareto/NBD fit", t_ours, t_lt, f"{note}; {nan_free}" if note else nan_free, agree)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t_ours, gg = timed(lambda: GammaGamma().fit(summary), repeats)
    t_lt, lgg = timed(lambda: lifetimes.GammaGammaFitter().fit(f[rep], m[rep]))
    row("Gamma-Gamma fit", t_ours, t_lt, agree=rel(gg.params_, lgg.params_))

    def score_ours():
        return (bg.probability_alive(summary), bg.expected_purchases(summary, horizon=WEEKS_12M),
                gg.expected_spend(summary),
                customer_lifetime_value(bg, gg, summary, horizon=12, horizon_unit="M",
                                        discount_rate=0.01, discount_unit="M"))

    def score_lifetimes():
        lbg.params_ = bg.params_.copy()                                   # identical inputs
        lgg.params_ = pd.Series(gg.params_.to_numpy(), index=["p", "q", "v"])
        fs, rs, Ts, ms = (pd.Series(v) for v in (f, r, T, m))
        return (lbg.conditional_probability_alive(f, r, T),
                lbg.conditional_expected_number_of_purchases_up_to_time(WEEKS_12M, f, r, T),
                lgg.conditional_expected_average_profit(fs, ms),
                lgg.customer_lifetime_value(lbg, fs, rs, Ts, ms, time=12, discount_rate=0.01,
                                            freq="W"))

    t_ours, ours = timed(score_ours, repeats)
    t_lt, theirs = timed(score_lifetimes)
    row("scoring all customers (P(alive), E[purchases], E[spend], 12-month CLV)", t_ours, t_lt,
        "CLV: lifetimes steps in 30-day months, clvkit in 30.44-day months",
        agree=rel(ours[0], theirs[0]))
    return rows, pareto_100k


def bench_scaling(summary, repeats):
    """Fit time against customers and against distinct (frequency, recency, T) rows."""
    from clvkit.models import BetaGeo
    from clvkit.models.paretonbd import ParetoNBD
    rng = np.random.default_rng(0)
    cases = []
    for n in [n for n in (10_000, 100_000) if n < len(summary)] + [len(summary)]:
        take = np.sort(rng.choice(len(summary), n, replace=False))
        cases.append((f"{n:,} customers, daily times", summary.iloc[take]))
    coarse = summary.copy()
    coarse["recency"], coarse["T"] = np.floor(coarse["recency"]), np.floor(coarse["T"])
    cases.append((f"{len(summary):,} customers, times floored to whole weeks", coarse))
    rows = []
    for label, data in cases:
        for cls in (BetaGeo, ParetoNBD):
            t, model = timed(lambda: cls().fit(data), repeats)
            rows.append({"data": label, "model": cls.__name__, "customers": model.n_customers_,
                         "distinct_rows": model.n_unique_, "fit_s": t})
            print(f"  {label} {cls.__name__}: {model.n_unique_:,} rows, {t:.2f} s", flush=True)
    return rows


def bench_day_resolution(repeats):
    """BG/NBD and Gamma-Gamma fits on the 1M base summarised in days (``time_unit="D"``):
    recency and T are whole days up to 730, spend is continuous, so nearly every row is
    distinct (452k distinct (x, t_x, T) rows; 638k repeat buyers with 225k distinct spends).
    Each repeat times clvkit then lifetimes on identical arrays; medians of each."""
    import lifetimes

    from clvkit.models import BetaGeo, GammaGamma
    from clvkit.rfm import rfm_summary
    path = OUT / "rfm_1M.parquet"
    if not path.exists():
        summary_for("1M")
    summary = rfm_summary(str(path), engine="duckdb", observation_end="2024-12-31",
                          time_unit="D")
    f, r, T = (summary[c].to_numpy() for c in ("frequency", "recency", "T"))
    m = summary["monetary_value"].to_numpy()
    rep = f > 0
    cases = [("BG/NBD fit, days", lambda: BetaGeo().fit(summary),
              lambda: lifetimes.BetaGeoFitter().fit(f, r, T)),
             ("Gamma-Gamma fit, continuous spend", lambda: GammaGamma().fit(summary),
              lambda: lifetimes.GammaGammaFitter().fit(f[rep], m[rep]))]
    rows = []
    for task, ours_fn, theirs_fn in cases:
        load0 = os.getloadavg()[0]
        ours, theirs = [], []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for _ in range(repeats):
                t, ours_model = timed(ours_fn)
                ours.append(t)
                t, theirs_model = timed(theirs_fn)
                theirs.append(t)
        a, b = ours_model.params_.to_numpy(), theirs_model.params_.to_numpy()
        rows.append({"task": task, "customers": len(summary), "distinct_rows":
                     ours_model.n_unique_, "clvkit_s": statistics.median(ours),
                     "lifetimes_s": statistics.median(theirs),
                     "ratio": statistics.median(theirs) / statistics.median(ours),
                     "ratio_range": f"{min(theirs) / max(ours):.0f}-{max(theirs) / min(ours):.0f}",
                     "max_rel_diff": float(np.max(np.abs(a - b) / np.abs(b))),
                     "load_avg": f"{load0:.1f}-{os.getloadavg()[0]:.1f}"})
        print(f"  {task}: clvkit {ours}, lifetimes {theirs}", flush=True)
    return rows


def to_markdown(frame: pd.DataFrame, floatfmt=".2f") -> str:
    cols = list(frame.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, rec in frame.iterrows():
        cells = []
        for c in cols:
            v = rec[c]
            if isinstance(v, float):
                cells.append("" if np.isnan(v) else (f"{v:.1e}" if c == "max_rel_diff"
                                                     else format(v, floatfmt)))
            elif isinstance(v, (int, np.integer)):
                cells.append(f"{v:,}")
            else:
                cells.append(str(v) if v is not None else "")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="100k customers only")
    ap.add_argument("--record", action="store_true", help="write bench/RESULTS.md")
    ap.add_argument("--full-pareto", action="store_true", help="time lifetimes' Pareto at 1M")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--days-only", action="store_true",
                    help="only the 1M day-resolution fits (their own RESULTS.md section)")
    args = ap.parse_args(argv)
    import lifetimes  # noqa: F401  (imported here only: it sets a global pandas option)

    if args.days_only:
        table = to_markdown(pd.DataFrame(bench_day_resolution(args.repeats)))
        text = (f"## Models: 1M customers in days, continuous spend, vs lifetimes 0.11.3\n\n"
                f"`python bench/bench_models.py --days-only --repeats {args.repeats}` on "
                f"{time.strftime('%Y-%m-%d %H:%M')}, Python {sys.version.split()[0]}, numpy "
                f"{np.__version__}, pandas {pd.__version__}, {os.cpu_count()} cores shared with "
                f"other jobs (load_avg: 1-minute load before and after each row). Each repeat "
                f"times clvkit then lifetimes on identical arrays; times are medians, ratio = "
                f"lifetimes / clvkit, ratio_range = slowest-vs-fastest pairing. max_rel_diff: "
                f"largest relative difference of the fitted parameters.\n\n{table}\n")
        print(text)
        if args.record:
            record("bench_models_days", text)
        return

    rows, pareto_100k, summaries = [], None, {}
    for name in (["100k"] if args.quick else ["100k", "1M"]):
        summaries[name] = summary_for(name)
        print(f"{name}: {len(summaries[name]):,} customers", flush=True)
        new, pareto_100k = bench_size(name, summaries[name], args.repeats, args.full_pareto,
                                      pareto_100k)
        rows += new
    scaling = bench_scaling(summaries[list(summaries)[-1]], args.repeats)
    table = to_markdown(pd.DataFrame(rows))
    table2 = to_markdown(pd.DataFrame(scaling))
    text = (f"## Models: fitting and scoring vs lifetimes 0.11.3\n\n"
            f"`python bench/bench_models.py{' --quick' * args.quick}"
            f"{' --full-pareto' * args.full_pareto}` on "
            f"{time.strftime('%Y-%m-%d')}, Python {sys.version.split()[0]}, "
            f"numpy {np.__version__}, pandas {pd.__version__}; one run, the two libraries "
            f"alternating; clvkit times are medians of {args.repeats}. ratio = lifetimes / "
            f"clvkit. max_rel_diff: largest relative difference of the fitted parameters (fits) "
            f"or of P(alive) (scoring) between the libraries.\n\n{table}\n\n"
            f"Fit time against customers and distinct (frequency, recency, T) rows:\n\n"
            f"{table2}\n")
    print(text)
    if args.record:
        record("bench_models", text)


if __name__ == "__main__":
    main()
