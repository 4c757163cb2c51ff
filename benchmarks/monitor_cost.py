"""What `mtlops monitor` costs on a month of flights, phase by phase.

    .venv/bin/python benchmarks/monitor_cost.py [--workdir DIR] [--train-end 2013-01-31] [--month 2013-02] [--repeat 3]

Builds a small flights champion in DIR (trained on data up to --train-end: one epoch, search off — the
model's quality does not matter here, only the work around it), registers and promotes it, then runs
the monitor on the rows of --month (every arriving row, the reference capped by monitor.reference_rows)
--repeat times. Prints the sizes and the median seconds per phase (`seconds` in monitor.json): rows
(loading the source, the reference and the arriving rows), score (the champion on both), drift, health
(the realised metrics' bootstrap), report, mlflow. A second run in the same DIR reuses the champion.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def champion(root: Path, train_end: str) -> None:
    from mtlops.checks import load_checked
    from mtlops.config import deep_merge
    from mtlops.paths import Paths
    from mtlops.registry.promote import promote
    from mtlops.registry.register import register
    from mtlops.stages import run_stages

    params = deep_merge(yaml.safe_load((REPO / "params.yaml").read_text()), {
        "project": {"model_name": "monitor-bench", "experiment": "monitor-bench"},
        "data": {"flights": {"end": train_end}},
        "split": {"val_days": 5, "test_days": 5, "max_train_rows": 5000},
        "validation": {"min_rows": 1000},
        "train": {"epochs": 1, "batch_size": 512, "device": "cpu"},
        "baselines": {"gbdt_params": {"n_estimators": 10, "num_leaves": 7}},
        "search": {"enabled": False}, "grouping": {"enabled": False}, "evaluation": {"bootstrap": 20},
        "promotion": {"delta_m_floor": -1000.0, "allow_tradeoff": ["delayed", "cancelled", "arr_delay"],
                      "bootstrap": 100},
    })
    root.mkdir(parents=True, exist_ok=True)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    cfg, paths = load_checked(root / "params.yaml"), Paths.at(root)
    run_stages(cfg, paths, ["ingest", "validate", "prepare", "baselines", "search", "grouping", "train", "evaluate"])
    register(cfg, paths)
    promote(cfg, paths)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--train-end", default="2013-01-31")
    parser.add_argument("--month", default="2013-02")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    root = args.workdir or Path(tempfile.mkdtemp(prefix="monitor-bench-"))

    from mtlops.checks import load_checked
    from mtlops.monitoring.monitor import monitor
    from mtlops.paths import Paths

    if not (root / "mlflow" / "mlflow.db").exists():
        began = time.perf_counter()
        champion(root, args.train_end)
        print(f"champion built in {time.perf_counter() - began:.0f} s ({root})")
    cfg, paths = load_checked(root / "params.yaml"), Paths.at(root)
    runs = []
    for _ in range(args.repeat):
        began = time.perf_counter()
        result = monitor(cfg, paths, cutoff=args.month)
        runs.append({**result["seconds"], "total": time.perf_counter() - began})
    w = result["window"]
    print(f"month {args.month}: {w['arriving_rows']} arriving rows, {w['reference_rows']} reference rows, "
          f"{len(result['features']['columns'])} features, {len(result['tasks'])} tasks, "
          f"monitor.bootstrap {cfg.monitor.bootstrap}; verdict {result['verdict']}")
    print("median seconds over", args.repeat, "runs:")
    for phase in runs[0]:
        print(f"  {phase:8s} {statistics.median(r[phase] for r in runs):7.2f}")


if __name__ == "__main__":
    main()
