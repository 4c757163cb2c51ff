"""Golden hashes of a small run's results: proof that a refactor changed no number.

Runs every stage, ingest → promote (on a temp MLflow store), on a small mixed-type table
(binary + multiclass + regression, a categorical feature, missing labels) with the search, the
grouping and the baselines switched on, then prints one sha256 per output with every wall-clock
field removed. Run it before and after a change on the same machine: identical hashes mean the
change moved code, not results.

    .venv/bin/python benchmarks/golden.py [--keep DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

TIMING_KEYS = ("second", "time", "wall", "duration", "started", "finished", "decided", "date_run", "run_id", "path",
               "uri")


def strip_timing(value):
    """The value with every key that names a time, a duration or a location removed, recursively."""
    if isinstance(value, dict):
        return {k: strip_timing(v) for k, v in value.items() if not any(t in k.lower() for t in TIMING_KEYS)}
    if isinstance(value, list):
        return [strip_timing(v) for v in value]
    return value


def digest(path: Path) -> str:
    if not path.exists():
        return "(missing)"
    if path.suffix == ".json":
        text = json.dumps(strip_timing(json.loads(path.read_text())), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="run in this folder and keep it (default: a temp folder)")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    from mtlops.stages import run_stages
    from tests.helpers import make_project

    root = args.keep or Path(tempfile.mkdtemp(prefix="golden-"))
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{root / 'mlflow.db'}"
    os.chdir(root)  # MLflow's default artifact folder (./mlruns) lands in the run's folder
    overrides = {
        "grouping": {"enabled": True},
        "search": {"n_trials": 3, "epochs": 3, "timeout_s": None},
        "train": {"epochs": 4, "patience": 2},
        "evaluation": {"bootstrap": 50},
    }
    cfg, paths = make_project(root, "mixed", overrides)
    run_stages(cfg, paths, None)
    outputs = {
        "baselines": paths.baselines_metrics,
        "best_params": paths.best_params,
        "grouping": paths.grouping,
        "history": paths.history,
        "metrics": paths.metrics,
        "headline": paths.headline,
        "promotion": paths.promotion,
    }
    for name, path in outputs.items():
        print(f"{name:12s} {digest(path)}")


if __name__ == "__main__":
    main()
