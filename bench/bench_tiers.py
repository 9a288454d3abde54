"""Benchmark: the tiers steps and the export on a large synthetic scored customer base.

Run: ``.venv/bin/python bench/bench_tiers.py [n_customers]`` (default 1,000,000). Every step is
timed in the same process, one after another, on the same frame; k-means (which fits 7 values of
k, 10 initialisations each) runs on a 100,000-customer subsample. Prints a Markdown table to
paste into bench/RESULTS.md.
"""
from __future__ import annotations

import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from clvkit import export, tiers


def scored_frame(n: int, seed: int = 0) -> pd.DataFrame:
    """A scored-customers frame with realistic shapes (many one-time buyers, skewed CLV)."""
    rng = np.random.default_rng(seed)
    freq = rng.negative_binomial(0.5, 0.3, n)
    T = rng.uniform(1, 104, n)
    rec = np.where(freq > 0, T * rng.beta(2, 1, n), 0.0)
    mv = np.where(freq > 0, rng.gamma(3, 15, n), 0.0)
    p = np.where(freq > 0, rng.beta(3, 1, n), 1.0)
    clv = (freq + 0.1) * mv * p * rng.uniform(0.5, 1.5, n)
    frame = pd.DataFrame({"frequency": freq, "recency": rec, "T": T, "monetary_value": mv,
                          "p_alive": p, "expected_purchases": freq * p, "clv": clv,
                          "clv_at_risk": clv * (1 - p)},
                         index=pd.Index([f"C{i:08d}" for i in range(n)], name="customer_id"))
    frame.attrs["time_unit"] = "W"
    return frame


def main(n: int = 1_000_000) -> None:
    scored = scored_frame(n)
    prospects = pd.Index([f"P{i:08d}" for i in range(n // 10)])
    rules = [{"label": "VIP", "share": 0.1}, {"label": "regular", "share": 0.4},
             {"label": "potential", "share": 0.5}]
    times: dict[str, float] = {}

    def timed(name, fn):
        t0 = time.perf_counter()
        out = fn()
        times[name] = time.perf_counter() - t0
        return out

    tier = timed("value tiers (quantile)", lambda: tiers.assign_tiers(
        scored, rules, prospects=prospects)).tier
    timed("value tiers (threshold)", lambda: tiers.assign_tiers(
        scored, [{"label": "A", "min": 500}, {"label": "B", "min": 50}, {"label": "C"}],
        method="threshold"))
    stage = timed("lifecycle stages", lambda: tiers.lifecycle_stages(
        scored, prospects=prospects)).stage
    grid = timed("2-D grid (tier x stage)", lambda: tiers.tier_grid(tier, stage, column="stage"))
    rfm = timed("RFM scores", lambda: tiers.rfm_scores(scored))
    seg = timed("RFM rule segments", lambda: tiers.rfm_segments(rfm)).segment
    sub = scored.sample(100_000, random_state=0) if n > 100_000 else scored
    timed(f"k-means segments ({len(sub):,} customers, k=2..8)",
          lambda: tiers.kmeans_segments(sub))
    action = timed("playbook actions", lambda: tiers.assign_actions(
        tier, stage, tiers={"VIP": "a", "regular": "b", "potential": "c", "prospect": "d"},
        stages={"dormant": "w"})).action
    timed("churn warning (top 1,000)", lambda: tiers.churn_warning(
        scored, previous=scored["p_alive"] + 0.1, drop_more_than=0.2, top_n=1000))
    timed("tier profiles", lambda: tiers.tier_profiles(tier, scored))
    table = pd.DataFrame({"customer_id": tier.index, "tier": tier.array,
                          "tier_2d": grid.tier_2d.array, "stage": stage.array,
                          "segment": seg.reindex(tier.index).astype("string").array})
    for col in ("r_score", "f_score", "m_score", "rfm_score"):
        table[col] = rfm[col].reindex(tier.index).astype("Int64").array
    for col in ("clv", "p_alive", "expected_purchases", "clv_at_risk"):
        table[col] = scored[col].reindex(tier.index).to_numpy()
    table["action"] = action.array
    table["run_date"] = pd.Timestamp("2025-01-31")
    previous = table.sample(frac=0.9, random_state=1)
    timed("tier migration", lambda: tiers.tier_migration(previous, table))
    with tempfile.TemporaryDirectory() as tmp:
        paths = timed("export CSV + Parquet", lambda: export.write_assignments(table, tmp))
        timed("read back CSV", lambda: export.read_assignments(paths["csv"]))
        timed("read back Parquet", lambda: export.read_assignments(paths["parquet"]))
        size = {k: Path(p).stat().st_size / 1e6 for k, p in paths.items()}
    print(f"{n:,} scored customers + {len(prospects):,} prospects; Python "
          f"{platform.python_version()}, pandas {pd.__version__}, {platform.machine()}; "
          f"tiers.csv {size['csv']:.0f} MB, tiers.parquet {size['parquet']:.0f} MB\n")
    print("| step | seconds |\n|---|---:|")
    for name, sec in times.items():
        print(f"| {name} | {sec:.2f} |")
    print(f"| **total** | **{sum(times.values()):.2f}** |")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
