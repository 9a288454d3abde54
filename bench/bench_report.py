"""End-to-end time of `clvkit report` on the default scenario (params/retail.yaml).

Runs the whole pipeline as a scheduler would (score step + five notebooks through Papermill +
nbconvert HTML), into a temporary folder, and prints one Markdown table row per step for
bench/RESULTS.md. Target: under 90 s on a 2-core machine.

    .venv/bin/python bench/bench_report.py [params/retail.yaml]
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

from clvkit.report import run_report

ROOT = Path(__file__).resolve().parents[1]


def main(params: str = str(ROOT / "params" / "retail.yaml")) -> None:
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        result = run_report(params, out=out, run_date="2024-12-31")
        total = time.perf_counter() - t0
        meta = json.loads((result.path / "run.json").read_text())
    print(f"| scenario | cores | load avg before | end-to-end (s) | target (s) |")
    print(f"|---|---|---|---|---|")
    print(f"| {result.scenario} ({len(result.reports)} reports) | {os.cpu_count()} | {load:.1f} "
          f"| {total:.1f} | 90 |")
    print(f"\nrun.json duration (before publishing): {meta['duration_seconds']:.1f} s")


if __name__ == "__main__":
    main(*sys.argv[1:])
