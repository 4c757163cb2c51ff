"""What `mtlops predict` costs: start-up (imports, loading the model) against scoring, by rows.

    .venv/bin/python benchmarks/predict_startup.py [--rows 1000 100000] [--repeats 2]

Trains the tests' tiny `mixed` project, registers and promotes it, writes its test rows resampled to
each size as Parquet, and runs `mtlops predict` (a new process, as a user runs it) on each, `--keep all`.
Prints per size the wall time (median of `--repeats`), the peak memory of the process and the part
beyond the 0-row start-up (a file with the header alone), then the ratio of the largest to the smallest.
The model is small (7 features): on flights' 22 the per-row part is larger, the start-up about the same.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.helpers import make_project

MTLOPS = [sys.executable, "-m", "mtlops.cli"]


def champion_project(root: Path):
    from mtlops.registry.promote import promote
    from mtlops.registry.register import register
    from mtlops.stages import run_stages

    overrides = {"search": {"enabled": False},
                 "promotion": {"delta_m_floor": -100.0, "allow_tradeoff": ["churn", "segment", "amount"],
                               "bootstrap": 100}}
    cfg, paths = make_project(root, kind="mixed", overrides=overrides)
    run_stages(cfg, paths, ["ingest", "validate", "prepare", "baselines", "search", "grouping", "train", "evaluate"])
    register(cfg, paths)
    assert promote(cfg, paths)["promoted"]
    return cfg, paths


def timed(argv: list[str], cwd: Path) -> tuple[float, float]:
    """(wall seconds, peak resident MB) of one child process."""
    start = time.perf_counter()
    subprocess.run(argv, cwd=cwd, check=True, capture_output=True)
    wall = time.perf_counter() - start
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # the largest child so far
    return wall, peak_kb / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1000, 100000])
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    import pandas as pd

    tmp = Path(tempfile.mkdtemp(prefix="mtlops-predict-"))
    try:
        _, paths = champion_project(tmp / "proj")
        rows = pd.read_parquet(paths.test_raw)
        results = {}
        for n in [0, *sorted(args.rows)]:
            src = tmp / f"rows_{n}.parquet"
            sample = rows.sample(n=n, replace=True, random_state=0) if n else rows.head(0)
            sample.to_parquet(src, index=False)
            runs = [timed([*MTLOPS, "predict", "--params", str(paths.root / "params.yaml"), "--input", str(src),
                           "--output", str(tmp / f"out_{n}.parquet")], paths.root) for _ in range(args.repeats)]
            results[n] = (statistics.median(w for w, _ in runs), max(m for _, m in runs))
        base = results[0][0]
        print(f"{'rows':>8} {'wall s':>8} {'peak MB':>8} {'beyond start-up s':>18}")
        for n, (wall, peak) in results.items():
            print(f"{n:>8} {wall:>8.2f} {peak:>8.0f} {wall - base:>18.2f}")
        sizes = sorted(args.rows)
        print(f"wall({sizes[-1]}) / wall({sizes[0]}) = {results[sizes[-1]][0] / results[sizes[0]][0]:.2f}; "
              f"start-up (0 rows) = {100 * base / results[sizes[0]][0]:.0f}% of the {sizes[0]}-row call")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
