"""Benchmark: the fits of GGompertz/NBD, BG/CNBD-k and MBG/CNBD-k, old code against new.

Run ``python bench/bench_new_models.py --old-src DIR [--record]``: ``DIR`` is the ``src``
folder of the code before the change (e.g. ``git worktree add /tmp/old <commit>``, then
``/tmp/old/src``). Data: the calibration periods of the default scenario
(``params/retail.yaml``: 5,000 customers, 3,376 in the calibration period) and of
``bench/retail_200k.yaml`` (135,018), with ``litt``, built once into bench/out/. Each fit runs
in a fresh process with ``PYTHONPATH`` set to the old or the new ``src``, the two alternating
per model and size, so both see the same machine load; the table gives wall seconds, the
ratio old / new and the difference of the log-likelihoods (the new fit must not be worse).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
NEW_SRC = HERE.parent / "src"
from _results import record  # noqa: E402  (bench/ is on sys.path when run as a script)

SCENARIOS = {"5k": HERE.parent / "params" / "retail.yaml", "200k": HERE / "retail_200k.yaml"}
MODELS = ("ggomnbd", "bgcnbd", "mbgcnbd")
FIT = """
import json, sys, time, warnings
import pandas as pd
from clvkit.models import registry
warnings.simplefilter("ignore")
cal = pd.read_parquet(sys.argv[1])
t0 = time.perf_counter()
m = registry.MODELS[sys.argv[2]].cls().fit(cal, time_unit="W")
print(json.dumps({"s": time.perf_counter() - t0, "ll": m.log_likelihood_,
                  "params": {k: float(v) for k, v in m.params_.items()}}))
"""


def calibration(name: str) -> Path:
    """The calibration frame (frequency, recency, T, litt) of a scenario, built if missing."""
    path = OUT / f"calibration_{name}.parquet"
    if not path.exists():
        from clvkit import config, pipeline
        from clvkit.rfm import calibration_holdout
        cfg = config.load(SCENARIOS[name])
        data = pipeline.load_data(cfg)
        h = calibration_holdout(data.transactions, calibration_end=data.calibration_end,
                                observation_end=data.observation_end, time_unit="W",
                                period=cfg.summary.period, engine=cfg.summary.engine, litt=True)
        OUT.mkdir(exist_ok=True)
        h = h[["frequency", "recency", "T", "litt"]]
        h.attrs = {}
        h.to_parquet(path)
    return path


def fit(src: Path, path: Path, key: str) -> dict:
    env = dict(os.environ, PYTHONPATH=str(src))
    out = subprocess.run([sys.executable, "-c", FIT, str(path), key], env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old-src", required=True, type=Path)
    ap.add_argument("--record", action="store_true")
    ap.add_argument("--sizes", nargs="+", default=list(SCENARIOS))
    args = ap.parse_args(argv)
    rows = []
    for name in args.sizes:
        path = calibration(name)
        for key in MODELS:
            load0 = os.getloadavg()[0]
            old = fit(args.old_src, path, key)
            new = fit(NEW_SRC, path, key)
            rows.append(f"| {name} | {key} | {old['s']:.2f} | {new['s']:.2f} | "
                        f"{old['s'] / new['s']:.1f} | {new['ll'] - old['ll']:+.2e} | "
                        f"{load0:.1f}-{os.getloadavg()[0]:.1f} |")
            print(rows[-1], flush=True)
    text = (f"## GGompertz/NBD and CNBD-k fits: before and after the speed work (#16)\n\n"
            f"`python bench/bench_new_models.py --old-src <main before the change>/src` on "
            f"{time.strftime('%Y-%m-%d %H:%M')} UTC, each fit in a fresh process, old and new "
            f"alternating (load_avg: 1-minute load before and after each pair; the machine is "
            f"shared, so the ratio is the comparable figure). Calibration periods of "
            f"params/retail.yaml (5k: 3,376 customers) and bench/retail_200k.yaml (200k: "
            f"135,018 customers, 64,720 distinct rows). LL new - old: the new fit's "
            f"log-likelihood minus the old one's.\n\n"
            "| scenario | model | old_s | new_s | old / new | LL new - old | load_avg |\n"
            "|---|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n")
    print(text)
    if args.record:
        record("bench_new_models", text)


if __name__ == "__main__":
    main()
