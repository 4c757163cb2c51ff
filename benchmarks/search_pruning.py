"""Does pruning pay? The same study (seed, space, trial budget) with and without a pruner.

Prints the trial-epochs each spent, the best validation Δm each found and the wall time. Runs on
the project's prepared data (flights by default) when `data/processed` and `reports/baselines.json`
exist, else on a small synthetic project. Each arm works in its own temp folder (its own study and
MLflow store), so the project's outputs are left alone.

    .venv/bin/python benchmarks/search_pruning.py [--params params.yaml] [--n-trials 16] [--pruner median]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _project(params: Path, work: Path, overrides: dict) -> tuple:
    """A temp project that reads the real prepared data (symlinked) and writes only under `work`."""
    from mtlops.checks import load_checked
    from mtlops.paths import Paths

    src = Paths.at(params.parent)
    work.mkdir(parents=True)
    cfg = load_checked(params, overrides=overrides)
    paths = Paths.at(work)
    paths.processed_dir.parent.mkdir(parents=True)
    os.symlink(src.processed_dir, paths.processed_dir)
    paths.baselines_metrics.parent.mkdir(parents=True)
    shutil.copy(src.baselines_metrics, paths.baselines_metrics)
    if src.raw_meta.exists():
        paths.raw_meta.parent.mkdir(parents=True)
        shutil.copy(src.raw_meta, paths.raw_meta)
    return cfg, paths


def _synthetic(work: Path, overrides: dict) -> tuple:
    sys.path.insert(0, str(ROOT))
    from mtlops.baselines.run import run_baselines
    from mtlops.config import deep_merge
    from mtlops.data.ingest import ingest
    from mtlops.data.prepare import prepare
    from tests.helpers import make_project

    cfg, paths = make_project(
        work,
        overrides=deep_merge(
            {"data": {"synthetic": {"n": 6000, "d": 16}}, "baselines": {"gbdt": False}, "train": {"epochs": 6}},
            overrides,
        ),
    )
    ingest(cfg, paths)
    prepare(cfg, paths)
    run_baselines(cfg, paths)
    return cfg, paths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", type=Path, default=ROOT / "params.yaml")
    ap.add_argument("--n-trials", type=int, default=16)
    ap.add_argument("--epochs", type=int, default=None, help="most epochs per trial (default: the config's)")
    ap.add_argument("--max-train-rows", type=int, default=None)
    ap.add_argument("--pruner", choices=["median", "hyperband"], default="median")
    ap.add_argument("--synthetic", action="store_true", help="use the synthetic project even if data is prepared")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(1)
    from mtlops.paths import Paths
    from mtlops.search.run import search

    real = Paths.at(args.params.parent)
    use_real = not args.synthetic and real.split_arrays("train").exists() and real.baselines_metrics.exists()
    search_over: dict = {"timeout_s": None, "n_trials": args.n_trials, "storage": None, "study_name": None}
    if args.epochs:
        search_over["epochs"] = args.epochs
    if args.max_train_rows:
        search_over["max_train_rows"] = args.max_train_rows

    results = {}
    with tempfile.TemporaryDirectory(prefix="search_pruning_") as tmp:
        for pruner in (args.pruner, "none"):
            work = Path(tmp) / pruner
            overrides = {"search": {**search_over, "pruner": pruner}}
            if use_real:
                cfg, paths = _project(args.params, work, overrides)
            else:
                if pruner == args.pruner:
                    print("no prepared data with baselines: using a synthetic project")
                cfg, paths = _synthetic(work, overrides)
            os.environ["MLFLOW_TRACKING_URI"] = paths.default_tracking_uri
            t0 = time.perf_counter()
            search(cfg, paths)
            report = json.loads(paths.search_summary.read_text())
            results[pruner] = {
                "trial_epochs": report["trial_epochs"],
                "best_delta_m": report["best_delta_m"],
                "complete": report["n_complete"],
                "pruned": report["n_pruned"],
                "wall_s": time.perf_counter() - t0,
                "best": json.loads(paths.best_params.read_text()),
            }

    data = f"{cfg.data.source} (prepared)" if use_real else "synthetic"
    print(f"data: {data}; trials: {args.n_trials}; epochs/trial <= {cfg.search.epochs}; "
          f"max_train_rows: {cfg.search.max_train_rows}; seed: {cfg.project.seed}")
    print(f"{'pruner':<10} {'trial-epochs':>12} {'best Δm':>9} {'complete':>8} {'pruned':>6} {'wall s':>7}")
    for name, r in results.items():
        print(
            f"{name:<10} {r['trial_epochs']:>12} {r['best_delta_m']:>9.3f} {r['complete']:>8} {r['pruned']:>6} "
            f"{r['wall_s']:>7.1f}"
        )
    saved = 1 - results[args.pruner]["trial_epochs"] / max(1, results["none"]["trial_epochs"])
    print(f"pruning saves {100 * saved:.0f}% of trial-epochs; "
          f"best Δm {results[args.pruner]['best_delta_m']:.3f} vs {results['none']['best_delta_m']:.3f} without")
    for name, r in results.items():
        print(f"best params ({name}): {json.dumps(r['best'])}")


if __name__ == "__main__":
    main()
