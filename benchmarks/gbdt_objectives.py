"""How much does a practitioner's LightGBM (objective and early stopping matched to the metric) move the
baseline, per suite table? (issue 29)

    .venv/bin/python benchmarks/gbdt_objectives.py --tables flights,diamonds,nlswork --max-rows 60000

For each table (the suite's params files, `benchmarks/suite.py`): ingest and prepare in a temporary
folder (optionally a seeded sample of `--max-rows` snapshot rows, as the suite's `--max-rows`), then
per task fit LightGBM several ways on the same arrays and score the test split:

- `before`: the estimator's default objective (L2 for regressors, log loss for classifiers), early stopping
  on it, and the schema's former defaults (300 trees, learning rate 0.05, 63 leaves, 20 rounds' patience);
- `long_l2`: the same objective with up to 2000 trees and 50 rounds' patience (the budget's effect alone);
- `matched`: what the baselines stage fits: `TaskType.gbdt_objectives` (ROC AUC -> AUC, accuracy ->
  multi_error, MAE -> L1 and L2 both early-stopped on L1, the better on validation kept, ...), 2000/50;
- `l1_only`, `l2_stop_metric`, `huber` (MAE tasks): one objective each (Huber at LightGBM's default alpha),
  early-stopped on L1, 2000/50;
- `logloss_stop` (accuracy tasks): as `matched`, early-stopped on the log loss instead of the error.

Prints each task's test metric (and the objective kept, trees kept) per variant and Δm vs `before` of
`long_l2` and `matched` (the amount by which the shared model's "Δm vs LightGBM" falls when the baseline gets
stronger).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

FORMER = {"n_estimators": 300, "learning_rate": 0.05, "num_leaves": 63}
FORMER_STOPPING = 20


LONG = {"n_estimators": 2000, "learning_rate": 0.05, "num_leaves": 63}
LONG_STOPPING = 50
VARIANTS = ("before", "long_l2", "matched", "l1_only", "l2_stop_metric", "huber", "logloss_stop")


def variant_params(task: Any, present: int | None, variant: str) -> dict[str, Any] | None:
    """The `baselines` section of a variant for this task; None when the variant does not apply to it."""
    from mtlops.task_types import task_type

    kind = task_type(task.type)
    matched = kind.gbdt_objective(kind.metric_for(task.metric), present)
    own = ("binary" if (present or 0) <= 2 else "multiclass") if kind.classification else "regression"
    own_metric = {"binary": "binary_logloss", "multiclass": "multi_logloss", "regression": "l2"}[own]
    long = {"gbdt_params": {**LONG}, "gbdt_early_stopping": LONG_STOPPING}
    mae = task.metric == "mae"
    if variant == "before":  # the estimator's own objective and metric, the former defaults
        return {"gbdt_params": {**FORMER, "objective": own, "metric": own_metric},
                "gbdt_early_stopping": FORMER_STOPPING}
    if variant == "long_l2":  # the estimator's own objective with the longer budget: the budget's effect alone
        return {**long, "gbdt_params": {**LONG, "objective": own, "metric": own_metric}}
    if variant == "matched":  # what the baselines stage fits (MAE: L1 and L2 tried, the better on validation)
        return long
    fixed = {"l1_only": "l1", "l2_stop_metric": "regression", "huber": "huber"}
    if variant in fixed and mae:
        return {**long, "gbdt_params": {**LONG, "objective": fixed[variant], "metric": "l1"}}
    if variant == "logloss_stop" and matched["metric"] in ("multi_error", "binary_error"):
        stop = "multi_logloss" if matched["metric"] == "multi_error" else "binary_logloss"
        return {**long, "gbdt_params": {**LONG, **matched, "metric": stop}}
    return None


def _present(train: dict, task: Any) -> int:
    import numpy as np

    return int(np.unique(train[f"y_{task.name}"][train[f"mask_{task.name}"]]).size)


def run_table(table: str, params: Path, max_rows: int | None, work: Path) -> dict[str, Any]:
    import shutil

    from suite import subsample_snapshot

    from mtlops.config import load_config, set_value
    from mtlops.data.prepare import load_split
    from mtlops.metrics.delta_m import delta_m
    from mtlops.metrics.per_task import primary
    from mtlops.paths import Paths
    from mtlops.stages import run_stage

    project = work / table
    project.mkdir(parents=True)
    copy = project / "params.yaml"
    shutil.copyfile(params, copy)
    source = load_config(params)
    if source.data.source == "file" and not Path(source.data.file.path).is_absolute():
        set_value(copy, "data.file.path", str((source.params_dir / source.data.file.path).resolve()))
    cfg = load_config(copy)
    paths = Paths.at(project, store_root=project)
    run_stage("ingest", cfg, paths)
    if max_rows:
        subsample_snapshot(paths, max_rows)
    run_stage("prepare", cfg, paths)
    train, val, test = (load_split(paths, s) for s in ("train", "val", "test"))
    from mtlops.baselines.run import fit_gbdt
    from mtlops.config import with_overrides
    from mtlops.task_types import task_type

    scores: dict[str, dict[str, float]] = {v: {} for v in VARIANTS}
    seconds: dict[str, float] = dict.fromkeys(VARIANTS, 0.0)
    trees: dict[str, dict[str, list[int]]] = {v: {} for v in VARIANTS}
    for task in cfg.target_tasks:
        present = _present(train, task) if task_type(task.type).classification else None
        for variant in VARIANTS:
            overlay = variant_params(task, present, variant)
            if overlay is None:
                continue
            start = time.perf_counter()
            model = fit_gbdt(with_overrides(cfg, {"baselines": overlay}), task, train, val)
            seconds[variant] += time.perf_counter() - start
            trees[variant][task.name] = [model.objective, *(int(b.num_trees()) for b in model.boosters)]
            scores[variant][task.name] = primary(task, test[f"y_{task.name}"], model.predict(test),
                                                 test[f"mask_{task.name}"])
    higher = {t.name: t.higher_is_better for t in cfg.target_tasks}
    return {
        "table": table,
        "rows": {s: len(a[f"mask_{cfg.target_tasks[0].name}"]) for s, a in (("train", train), ("test", test))},
        "tasks": {t.name: (t.metric, {v: scores[v].get(t.name) for v in VARIANTS},
                           {v: trees[v].get(t.name) for v in VARIANTS}) for t in cfg.target_tasks},
        "dm_vs_before": {v: delta_m({**scores["matched"], **scores[v]}, scores["before"], higher)
                         for v in ("long_l2", "matched")},
        "seconds": {v: round(s, 1) for v, s in seconds.items()},
    }


def main() -> int:
    from suite import tables

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", default="flights,diamonds,nlswork")
    parser.add_argument("--max-rows", type=int)
    args = parser.parse_args()
    known = tables()
    with tempfile.TemporaryDirectory(prefix="mtlops_gbdt_") as tmp:
        for table in args.tables.split(","):
            r = run_table(table, known[table], args.max_rows, Path(tmp))
            dm = ", ".join(f"{v} {x:+.2f} %" for v, x in r["dm_vs_before"].items())
            print(f"\n{table} (train {r['rows']['train']}, test {r['rows']['test']} rows): Δm vs before: {dm}; "
                  f"seconds {r['seconds']}")
            for task, (metric, values, n_trees) in r["tasks"].items():
                cells = "  ".join(f"{v} {x:.4f} ({n_trees[v]} trees)" for v, x in values.items() if x is not None)
                print(f"  {task} ({metric}): {cells}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
