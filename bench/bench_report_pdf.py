"""`make report` with the PDF: `clvkit report params/retail.yaml --pdf`, end to end, timed.

The leaders' report of issue 14 (executive summary, five reports, appendix) plus one PDF of all
pages printed by the system Chromium, as a scheduler runs it: a fresh process, a fresh result
cache, a temporary output folder. Prints the Markdown section for bench/RESULTS.md
(``--record`` writes it there). Target: under 90 s on the 2-core machine.

    .venv/bin/python bench/bench_report_pdf.py [--record] [--keep DIR]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
TARGET = 90


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--record", action="store_true")
    ap.add_argument("--keep", type=Path, metavar="DIR", help="copy the run folder here")
    args = ap.parse_args()
    clvkit = Path(sys.executable).parent / "clvkit"
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "CLVKIT_CACHE_DIR": str(Path(tmp) / "cache")}
        load = os.getloadavg()[0]
        t0 = time.perf_counter()
        subprocess.run([str(clvkit), "report", str(ROOT / "params" / "retail.yaml"), "--pdf",
                        "--out", str(Path(tmp) / "out"), "--run-date", "2024-12-31"],
                       env=env, check=True, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        run = Path(tmp) / "out" / "retail" / "2024-12-31"
        pdf = run / "retail-2024-12-31.pdf"
        pages = sum(1 for _ in __import__("re").finditer(rb"/Type\s*/Page\b", pdf.read_bytes()))
        html_kb = sum(p.stat().st_size for p in run.glob("*.html") if p.name != "report-all.html") / 1024
        if args.keep:
            import shutil

            shutil.copytree(run, args.keep, dirs_exist_ok=True)
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    text = (f"## Report with PDF (bench/bench_report_pdf.py)\n\n"
            f"`clvkit report params/retail.yaml --pdf` end to end in a fresh process (summary, five "
            f"reports, appendix, one PDF printed by the system Chromium), {stamp}, 2 cores, load "
            f"average {load:.1f} when it started (other engineers' jobs were running).\n\n"
            f"| run | end-to-end (s) | target (s) | PDF pages | HTML pages total (KB) |\n"
            f"|---|---|---|---|---|\n"
            f"| retail, 5,000 customers, with PDF | {wall:.1f} | {TARGET} | {pages} | {html_kb:,.0f} |\n")
    print(text)
    if args.record:
        from _results import record

        record("bench_report_pdf", text)


if __name__ == "__main__":
    main()
