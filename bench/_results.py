"""Write one benchmark's section of bench/RESULTS.md, between that benchmark's markers.

``record("bench_rfm", text)`` replaces what stands between ``<!-- bench_rfm:start -->`` and
``<!-- bench_rfm:end -->`` (appending the section when the markers are missing), so each
script owns its section and hand-written notes outside the markers survive a re-run.
"""
from __future__ import annotations

from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def record(name: str, text: str, path: Path = RESULTS) -> None:
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    section = f"{start}\n{text.strip(chr(10))}\n{end}"
    old = path.read_text(encoding="utf-8") if path.exists() else "# Benchmark results\n"
    if start in old:
        if end not in old:
            raise ValueError(f"{path} has {start} but not {end}: restore the end marker")
        head, rest = old.split(start, 1)
        new = head + section + rest.split(end, 1)[1]
    else:
        new = old.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(new, encoding="utf-8")
