"""End-to-end time of `clvkit report`: the default scenario and the same at 200,000 customers.

Runs the whole report as a scheduler would (one ``pipeline.run`` stored with the run, five
notebooks through Papermill reading it, nbconvert HTML, index, publish) into a temporary
folder, in a fresh process per run, and prints one Markdown table row per run for
bench/RESULTS.md: wall-clock seconds, CPU seconds of the process and its kernels, peak memory,
and how many times the scenario was computed. ``--compare PYTHON`` runs the same scenarios with
another clvkit installation's interpreter first (e.g. main's ``.venv/bin/python``, run from its
checkout), side by side under the same machine load.

    .venv/bin/python bench/bench_report.py [--compare /work/main/.venv/bin/python]
        [--compare-cwd /work/main] [--only default|200k] [--record]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = {"default": ROOT / "params" / "retail.yaml",
             "200k": ROOT / "bench" / "retail_200k.yaml"}
TARGETS = {"default": 30, "200k": 45}

#: Runs in the child: times run_report, counts pipeline.run / load_data calls in this process
#: (the notebooks' kernels are separate processes: their computing shows in CPU time and in the
#: cache folder, which a fresh CLVKIT_CACHE_DIR makes visible).
CHILD = r"""
import json, resource, sys, time, warnings
warnings.simplefilter("ignore")
from clvkit import pipeline
from clvkit.report import run_report
counts = {"load_data": 0, "run": 0, "score": 0}
for name in counts:
    real = getattr(pipeline, name, None)
    if real is not None:
        def wrap(*a, _real=real, _name=name, **k):
            counts[_name] += 1
            return _real(*a, **k)
        setattr(pipeline, name, wrap)
t0 = time.perf_counter()
res = run_report(sys.argv[1], out=sys.argv[2], run_date="2024-12-31")
wall = time.perf_counter() - t0
me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"wall": wall, "cpu": me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime,
                  "rss_mb": max(me.ru_maxrss, kids.ru_maxrss) / 1024, "counts": counts,
                  "reports": len(res.reports)}))
"""


def measure(python: str, params: Path, cwd: Path) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "CLVKIT_CACHE_DIR": str(Path(tmp) / "cache")}
        load = os.getloadavg()[0]
        done = subprocess.run([python, "-c", CHILD, str(params), str(Path(tmp) / "out")],
                              cwd=cwd, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"{python} {params.name} failed:\n{done.stderr[-3000:]}")
        out = json.loads(done.stdout.strip().splitlines()[-1])
        cache = Path(tmp) / "cache"
        out["kernel_computes"] = len(list(cache.iterdir())) if cache.exists() else 0
    out["load"] = load
    return out


def row(label: str, scenario: str, m: dict) -> str:
    c = m["counts"]
    computes = (f"{c['run']} run + {m['kernel_computes']} in kernels" if c["run"]
                else f"{c['load_data']} loads, {c['score']} scores in-process, more in kernels")
    return (f"| {label} | {scenario} | {m['load']:.1f} | {m['wall']:.1f} | {m['cpu']:.1f} "
            f"| {m['rss_mb']:,.0f} | {computes} | {TARGETS[scenario]} |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--compare", help="another installation's python, measured first")
    ap.add_argument("--compare-cwd", type=Path, default=ROOT)
    ap.add_argument("--only", choices=list(SCENARIOS))
    args = ap.parse_args()
    print("| code | scenario | load avg before | end-to-end (s) | CPU (s) | peak RSS (MB) "
          "| scenario computed | target (s) |")
    print("|---|---|---|---|---|---|---|---|")
    for scenario, params in SCENARIOS.items():
        if args.only and scenario != args.only:
            continue
        if args.compare:
            print(row("before (compare)", scenario, measure(args.compare, params,
                                                              args.compare_cwd)), flush=True)
        print(row("this branch", scenario, measure(sys.executable, params, ROOT)), flush=True)


if __name__ == "__main__":
    main()
