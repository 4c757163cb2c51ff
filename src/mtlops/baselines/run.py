"""The baselines stage: per task, what one would ship without multi-task learning.

(a) A single-task network ("STL"): the same architecture, encoder, training settings and early stopping
    as the multi-task model, trained on that task alone (`train_from_config(cfg, paths, tasks=[t])`).
(b) LightGBM on the same preprocessed arrays: numeric columns plus categorical ids as LightGBM
    categorical features, trained and early-stopped on the objective and metric that match the task's
    metric (`TaskType.gbdt_objectives`: AUC for ROC AUC, multi_error for accuracy, L1 and L2 both tried for
    MAE, the better on validation kept, ...; `baselines.gbdt_params` wins).

Each is fitted on the rows labelled for its task. Outputs: `Paths.stl_model(task)`, `Paths.gbdt_model(task)`
(LightGBM's text format; one file per output for multi_regression; the model: `mtlops.models.gbdt`), and
`reports/baselines.json` with validation and test metrics, wall time and size. Validation Δm is measured
against the single-task validation metrics (`mtlops.baselines.reference.stl_val_reference`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mtlops.metrics.per_task import json_safe, primary, task_metrics
from mtlops.models.gbdt import GbdtModel, gbdt_features
from mtlops.task_types import task_type

if TYPE_CHECKING:
    from mtlops.paths import Paths
    from mtlops.schema import Config, TaskConfig


# ---------------------------------------------------------------------------------------------- LightGBM
def fit_gbdt(cfg: Config, task: TaskConfig, train: dict[str, np.ndarray], val: dict[str, np.ndarray]) -> GbdtModel:
    """LightGBM for one task on its labelled rows, early-stopped on the labelled validation rows.

    Each objective its task type proposes for the metric (`TaskType.gbdt_objectives`; MAE: L1 and L2) is
    fitted and the one with the better validation metric kept (`GbdtModel.objective` names it);
    `baselines.gbdt_params` win over every candidate's keys.
    """
    kind = task_type(task.type)
    y = train[f"y_{task.name}"][train[f"mask_{task.name}"]]
    present = int(np.unique(y).size) if kind.classification else None
    base = {"random_state": cfg.project.seed, "n_jobs": 2, "verbose": -1}
    candidates: list[dict[str, Any]] = []
    for objective in kind.gbdt_objectives(kind.metric_for(task.metric), present):
        params = {**base, **objective, **cfg.baselines.gbdt_params}
        if params not in candidates:
            candidates.append(params)
    labelled_val = val[f"mask_{task.name}"]
    if len(candidates) == 1 or not labelled_val.any():
        return _fit_gbdt(cfg, task, train, val, candidates[0])
    fitted = [_fit_gbdt(cfg, task, train, val, params) for params in candidates]
    sign = 1.0 if task.higher_is_better else -1.0

    def on_val(model: GbdtModel) -> float:
        value = primary(task, val[f"y_{task.name}"], model.predict(val), labelled_val)
        return sign * value if np.isfinite(value) else -np.inf

    return max(fitted, key=on_val)  # the first on a tie


def _fit_gbdt(
    cfg: Config, task: TaskConfig, train: dict[str, np.ndarray], val: dict[str, np.ndarray], params: dict[str, Any]
) -> GbdtModel:
    import lightgbm as lgb

    x, cats = gbdt_features(train)
    xv, _ = gbdt_features(val)
    m, mv = train[f"mask_{task.name}"], val[f"mask_{task.name}"]
    y, yv = train[f"y_{task.name}"][m], val[f"y_{task.name}"][mv]
    x, xv = x[m], xv[mv]
    kind = task_type(task.type)
    stopping = cfg.baselines.gbdt_early_stopping if len(yv) else 0
    column = np.ascontiguousarray  # LightGBM copies (and warns about) strided views
    targets = [(y, yv)] if y.ndim == 1 else [(column(y[:, j]), column(yv[:, j])) for j in range(y.shape[1])]
    n_classes = kind.meta(task)["n_classes"]
    boosters, classes = [], None
    for target, target_val in targets:
        if kind.classification:
            target, target_val = target.astype(np.int64), target_val.astype(np.int64)
            estimator = lgb.LGBMClassifier(**params)
        else:
            estimator = lgb.LGBMRegressor(**params)
        fit_kw: dict[str, Any] = {"categorical_feature": cats}
        if len(target_val):
            fit_kw |= {"eval_X": (xv,), "eval_y": (target_val,)}
        if stopping:
            fit_kw["callbacks"] = [lgb.early_stopping(stopping, verbose=False)]
        estimator.fit(x, target, **fit_kw)
        boosters.append(estimator.booster_)
        if n_classes is not None:  # the classes this classifier saw, among the task's declared ones
            classes = [int(c) for c in estimator.classes_]
    return GbdtModel(task.type, boosters, classes, n_classes, objective=str(params.get("objective")))


def gbdt_skip_reason(task: TaskConfig, train: dict[str, np.ndarray]) -> str | None:
    x, _ = gbdt_features(train)
    if x.shape[1] == 0:
        return "no tabular (numeric/categorical) features for LightGBM"
    y = train[f"y_{task.name}"][train[f"mask_{task.name}"]]
    if task_type(task.type).classification and np.unique(y).size < 2:
        return "a single class in the training rows"
    return None


# ------------------------------------------------------------------------------------------------ stage
def _metrics(cfg: Config, task: TaskConfig, arrays: dict[str, np.ndarray], pred: np.ndarray) -> dict[str, float]:
    return task_metrics(
        task, arrays[f"y_{task.name}"], pred, arrays[f"mask_{task.name}"], cfg.evaluation.calibration_bins
    )


def _train_stl(cfg: Config, paths: Paths, task: TaskConfig, val, test, out: Path) -> dict[str, Any]:
    from mtlops.training import predict, save_model
    from mtlops.training.from_config import train_from_config

    result = train_from_config(cfg, paths, tasks=[task.name])
    model = result.model
    save_model(model, out / paths.stl_model(task.name).name, extra={"baseline": "stl", "task": task.name})
    return {
        "val": _metrics(cfg, task, val, predict(model, val)[task.name]),
        "test": _metrics(cfg, task, test, predict(model, test)[task.name]),
        "wall_time_s": round(float(result.wall_time_s), 3),
        "n_params": int(model.n_params),
        "best_epoch": result.best_epoch,
        "epochs_run": result.epochs_run,
    }


def _train_gbdt(cfg: Config, paths: Paths, task: TaskConfig, train, val, test, out: Path) -> dict[str, Any]:
    start = time.perf_counter()
    model = fit_gbdt(cfg, task, train, val)
    seconds = time.perf_counter() - start
    n = len(model.boosters)
    files = [paths.gbdt_model(task.name, j if n > 1 else None).name for j in range(n)]
    model.save([out / name for name in files])
    return {
        "val": _metrics(cfg, task, val, model.predict(val)),
        "test": _metrics(cfg, task, test, model.predict(test)),
        "wall_time_s": round(seconds, 3),
        "n_trees": [int(b.num_trees()) for b in model.boosters],
        "objective": model.objective,
        "files": files,
        "classes": model.classes,
        "n_classes": model.n_classes,
    }


@dataclass(frozen=True)
class BaselineJob:
    """One baseline to train: a task's single-task network ("stl") or its LightGBM ("gbdt"), into `out`."""

    kind: str
    task: str
    cfg: Config
    paths: Paths
    out: Path

    def __str__(self) -> str:
        return f"the {self.kind} baseline of task {self.task!r}"


def train_baseline(job: BaselineJob) -> dict[str, Any]:
    """Train one baseline from the files alone (so it can run in a worker process); its report entry."""
    from mtlops.data.prepare import load_split

    cfg, paths, task = job.cfg, job.paths, job.cfg.task(job.task)
    val, test = load_split(paths, "val"), load_split(paths, "test")
    if job.kind == "stl":
        return _train_stl(cfg, paths, task, val, test, job.out)
    return _train_gbdt(cfg, paths, task, load_split(paths, "train"), val, test, job.out)


def run_baselines(cfg: Config, paths: Paths) -> dict[str, Any]:
    """Train and score both baselines for every task; write the models and reports/baselines.json.

    The baselines are independent: they train in `resources.workers` processes (`mtlops.parallel`), the
    single-task networks first (the longest), with the same results as one after another.
    """
    from mtlops.data.prepare import load_split
    from mtlops.io import atomic_dir, write_json
    from mtlops.parallel import resolve_workers, run_jobs

    workers = resolve_workers(cfg.resources.workers)
    train = load_split(paths, "train")
    report: dict[str, Any] = {"tasks": {}}
    with atomic_dir(paths.baselines_dir) as out:
        stl, gbdt = [], []
        for task in cfg.target_tasks:  # an auxiliary task is never served: nothing to compare it with
            entry: dict[str, Any] = {"metric": task.metric, "higher_is_better": task.higher_is_better, "skipped": {}}
            if cfg.baselines.stl:
                stl.append(BaselineJob("stl", task.name, cfg, paths, out))
            else:
                entry["skipped"]["stl"] = "baselines.stl is false"
            reason = None if cfg.baselines.gbdt else "baselines.gbdt is false"
            reason = reason or gbdt_skip_reason(task, train)
            if reason:
                entry["skipped"]["gbdt"] = reason
            else:
                gbdt.append(BaselineJob("gbdt", task.name, cfg, paths, out))
            report["tasks"][task.name] = entry
        jobs = stl + gbdt
        for job, result in zip(jobs, run_jobs(train_baseline, jobs, workers)):
            report["tasks"][job.task][job.kind] = result
    report = json_safe(report)
    write_json(paths.baselines_metrics, report)
    return {
        task: {kind: entry[kind]["val"][entry["metric"]] for kind in ("stl", "gbdt") if kind in entry}
        for task, entry in report["tasks"].items()
    }
