"""Does the grouping stage split tasks that should not share? Ma et al.'s synthetic source at a few
label correlations, through mtlops' own stages (ingest … baselines, then grouping; search off).

    .venv/bin/python benchmarks/grouping_synthetic.py [--correlations 1.0 0.5 0.0] [--seeds 1] [--n 10000]
                                                      [--out /tmp/grouping_synthetic]

Per correlation and seed: a project under `--out` (two regression tasks, 100 features, a random
split), single-task baselines, then `mtlops grouping` at its default budget and noise band. Prints
the chosen groups, every candidate's validation Δm and score, and the measured affinity matrix
(row = the task whose loss took the look-ahead step).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import yaml


def params(n: int, correlation: float, seed: int) -> dict:
    d = 100
    return {
        "project": {"name": "syn", "experiment": "syn", "model_name": "syn-mtl", "seed": seed},
        "data": {"source": "synthetic", "synthetic": {"n": n, "d": d, "correlation": correlation, "seed": seed}},
        "features": {"numeric": [f"x{i}" for i in range(d)]},
        "tasks": [{"name": t, "column": t, "type": "regression", "metric": "mae"} for t in ("y1", "y2")],
        "split": {"method": "random", "val_fraction": 0.2, "test_fraction": 0.2},
        "model": {"architecture": {"name": "hard", "params": {}}, "weighting": {"name": "equal", "params": {}}},
        "train": {"epochs": 30, "patience": 5},
        "baselines": {"stl": True},
        "search": {"enabled": False, "epochs": 10, "max_train_rows": None},
        "grouping": {"enabled": True},
    }


def main() -> None:
    from mtlops.checks import load_checked
    from mtlops.paths import Paths
    from mtlops.stages import run_stage

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--correlations", type=float, nargs="+", default=[1.0, 0.5, 0.0])
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--out", type=Path, default=Path("/tmp/grouping_synthetic"))
    args = ap.parse_args()
    for corr in args.correlations:
        for seed in range(args.seeds):
            root = args.out / f"p{corr}-s{seed}"
            root.mkdir(parents=True, exist_ok=True)
            (root / "params.yaml").write_text(yaml.safe_dump(params(args.n, corr, seed)))
            cfg, paths = load_checked(root / "params.yaml"), Paths.for_params(root / "params.yaml")
            started = time.perf_counter()
            for stage in ("ingest", "validate", "prepare", "baselines", "search", "grouping"):
                run_stage(stage, cfg, paths)
            chosen = json.loads(paths.grouping.read_text())
            print(f"correlation {corr} seed {seed}: groups {chosen['groups']} "
                  f"(grouping {chosen['wall_time_s']:.1f} s of {time.perf_counter() - started:.1f} s)")
            for c in chosen["candidates"]:
                print(f"    {c['groups']}: val Δm {c['delta_m']:+.3f}, score {c['score']:+.3f}")
            matrix = chosen["affinity"]["matrix"]
            print("    affinity", "  ".join("[" + " ".join(f"{x:+.2e}" for x in row) + "]" for row in matrix))


if __name__ == "__main__":
    main()
