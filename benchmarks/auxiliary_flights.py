"""What do flights' auxiliary tasks (departure delay minutes, air time) do to the target tasks? (issue 29)

    .venv/bin/python benchmarks/auxiliary_flights.py --max-rows 60000 --seeds 42,43

The repository's params.yaml, its search and grouping off (the configured network, so only the
auxiliary tasks differ), on a seeded sample of `--max-rows` snapshot rows (source order kept, as the
suite's `--max-rows`). Per seed: ingest, prepare and baselines once, then the train and evaluate stages
once per variant:

- `none`: both auxiliary tasks off (`loss_weight: 0`);
- `dep_delay`, `air_time`: that one on at `--weight`;
- `both`: both on at `--weight`;
- `dep_delay_es` (with `--steer W`): dep_delay on, also steering early stopping with weight W.

Prints each variant's test metrics of the target tasks (delayed and cancelled ROC AUC, arr_delay MAE), Δm vs
the single-task networks, epochs and seconds, per seed and as the mean over seeds.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))


def variants(weight: float, steer: float | None) -> dict[str, dict[str, Any]]:
    off = {"dep_delay": {"loss_weight": 0.0}, "air_time": {"loss_weight": 0.0}}
    out = {
        "none": off,
        "dep_delay": {**off, "dep_delay": {"loss_weight": weight}},
        "air_time": {**off, "air_time": {"loss_weight": weight}},
        "both": {"dep_delay": {"loss_weight": weight}, "air_time": {"loss_weight": weight}},
    }
    if steer:
        out["dep_delay_es"] = {**off, "dep_delay": {"loss_weight": weight, "early_stopping_weight": steer}}
    return out


def run_seed(seed: int, max_rows: int, weight: float, steer: float | None, work: Path) -> dict[str, Any]:
    from suite import subsample_snapshot

    from mtlops.config import load_config, with_overrides
    from mtlops.io import read_json
    from mtlops.paths import Paths
    from mtlops.stages import run_stage

    project = work / f"seed{seed}"
    project.mkdir(parents=True)
    shutil.copyfile(ROOT / "params.yaml", project / "params.yaml")
    base = load_config(project / "params.yaml", overrides={
        "project": {"seed": seed}, "search": {"enabled": False}, "grouping": {"enabled": False},
        "train": {"use_search": False},
    })
    paths = Paths.at(project, store_root=project)
    run_stage("ingest", base, paths)
    subsample_snapshot(paths, max_rows)
    run_stage("prepare", base, paths)
    run_stage("baselines", base, paths)
    out: dict[str, Any] = {}
    for name, tasks in variants(weight, steer).items():
        cfg = with_overrides(base, {"tasks": tasks})
        start = time.perf_counter()
        run_stage("train", cfg, paths)
        run_stage("evaluate", cfg, paths)
        metrics, history = read_json(paths.metrics), read_json(paths.history)
        out[name] = {
            **{t: e["mtl"][e["metric"]] for t, e in metrics["tasks"].items()},
            "dm_vs_stl": metrics["delta_m"]["vs_stl"],
            "epochs": history["epochs_run"],
            "seconds": round(time.perf_counter() - start, 1),
        }
        print(f"seed {seed} {name}: " + ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
                                                 for k, v in out[name].items()), flush=True)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-rows", type=int, default=60000)
    parser.add_argument("--seeds", default="42,43")
    parser.add_argument("--weight", type=float, default=0.3, help="the auxiliary tasks' loss weight when on")
    parser.add_argument("--steer", type=float, help="also a variant with dep_delay steering early stopping")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mtlops_aux_") as tmp:
        runs = [run_seed(seed, args.max_rows, args.weight, args.steer, Path(tmp)) for seed in seeds]
    print(f"\nflights, {args.max_rows} rows, seeds {seeds}, auxiliary weight {args.weight}: mean over seeds "
          f"({(time.perf_counter() - started) / 60:.1f} min)")
    for name in runs[0]:
        keys = runs[0][name]
        cells = [f"{k} {statistics.fmean(r[name][k] for r in runs):.4f}" for k in keys if k != "seconds"]
        print(f"  {name}: " + ", ".join(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
