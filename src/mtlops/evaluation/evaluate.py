"""The evaluate stage: the multi-task model against each task's single-task baselines, on the test split.

For every task: all metrics of the MTL model, the single-task network (STL) and LightGBM (GBDT); the
signed difference of the primary metric (positive = MTL better) with a paired bootstrap interval
(`mtlops.metrics.compare`, the comparison the promotion gate makes, here absolute); a
negative-transfer flag when the interval against the single-task network lies entirely below zero.
Across tasks: Δm against each baseline (with an interval from the same resamples), and cost —
training wall time and parameter count of the one MTL model vs the sum over the single-task models.
Each task's entry names the tasks sharing the network that served it (`served_by`: the task grouping).

Writes reports/metrics.json (strict JSON, NaN → null: every figure), reports/headline.json (what
`dvc metrics show/diff` and `dvc exp show` list: each task's primary metric of the multi-task model
and Δm), reports/summary.md and reports/plots/ (PNG + CSV for `dvc plots`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from mtlops.errors import UserError
from mtlops.metrics.bootstrap import Interval, percentile_interval
from mtlops.metrics.compare import PairedResamples, Scored, compare
from mtlops.metrics.delta_m import delta_m, delta_m_samples
from mtlops.metrics.per_task import json_safe, labelled, task_metrics
from mtlops.task_types import task_type

if TYPE_CHECKING:
    from mtlops.paths import Paths
    from mtlops.schema import Config, TaskConfig

MODELS = ("mtl", "stl", "gbdt")
BASELINES = ("stl", "gbdt")
NAN = float("nan")


class EvaluationError(UserError):
    """An input of the evaluation (checkpoint, baseline, report) is missing or does not fit the config."""


def score_tasks(
    tasks: Sequence[TaskConfig],
    test: dict[str, np.ndarray],
    preds: dict[str, dict[str, np.ndarray]],
    n_resamples: int,
    confidence: float,
    seed: int,
    calibration_bins: int = 10,
) -> dict[str, Any]:
    """Metrics, paired differences, flags and Δm from predictions alone (no files).

    `preds[model][task]` holds test-split predictions for model "mtl", "stl", "gbdt" (a baseline may
    lack tasks). Returns {"tasks", "delta_m", "delta_m_ci", "primary", "model_ci", "calibration"}; the
    first four are the metrics.json sections (NaN not yet replaced), the last two feed the plots.
    """
    resamples = PairedResamples(len(test[f"mask_{tasks[0].name}"]), n_resamples, seed)
    entries: dict[str, Any] = {}
    primary: dict[str, dict[str, float]] = {m: {} for m in MODELS}
    scored: dict[str, dict[str, Scored]] = {m: {} for m in MODELS}
    model_ci: dict[str, dict[str, tuple[float, float]]] = {}
    calibration: dict[str, dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
    higher = {t.name: t.higher_is_better for t in tasks}

    for task in tasks:
        name, mask = task.name, test[f"mask_{task.name}"]
        entry: dict[str, Any] = {"metric": task.metric, "higher_is_better": task.higher_is_better}
        model_ci[name] = {}
        for model in MODELS:
            pred = preds.get(model, {}).get(name)
            if pred is None:
                entry[model] = {}
                continue
            entry[model] = task_metrics(task, test[f"y_{name}"], pred, mask, calibration_bins)
            primary[model][name] = entry[model][task.metric]
            scored[model][name] = resamples.score(task, test[f"y_{name}"], pred, mask, calibration_bins)
            model_ci[name][model] = percentile_interval(scored[model][name].samples, confidence)
            y, p = labelled(task, test[f"y_{name}"], pred)
            curve = task_type(task.type).reliability(y[mask], p[mask], calibration_bins)
            if curve is not None:
                calibration.setdefault(name, {})[model] = curve
        for base in BASELINES:
            diff = Interval(NAN, NAN, NAN)
            if name in scored["mtl"] and name in scored[base]:
                diff = compare(task, scored["mtl"][name], scored[base][name], confidence, relative=False).change
            entry[f"diff_vs_{base}"] = diff.to_dict()
            if base == "stl":
                entry["negative_transfer"] = diff.below_zero
        entry["n_test"] = int(mask.sum())
        entries[name] = entry

    dm, dm_ci = {}, {}
    for base in BASELINES:
        dm[f"vs_{base}"] = delta_m(primary["mtl"], primary[base], higher) if primary[base] else NAN
        samples = {m: {t: s.samples for t, s in scored[m].items()} for m in ("mtl", base)}
        low, high = percentile_interval(delta_m_samples(samples["mtl"], samples[base], higher), confidence)
        dm_ci[f"vs_{base}"] = {"ci_low": low, "ci_high": high}
    return {
        "tasks": entries,
        "delta_m": dm,
        "delta_m_ci": dm_ci,
        "primary": primary,
        "model_ci": model_ci,
        "calibration": calibration,
    }


def metrics_document(
    scores: dict[str, Any],
    cost: dict[str, Any],
    affinity: dict[str, Any] | None = None,
    groups: Sequence[Sequence[str]] | None = None,
) -> dict[str, Any]:
    """reports/metrics.json: the sections other stages read, NaN written as null; `affinity` is the
    training's inter-task affinity (null when not measured); `groups` the tasks each network of the
    model serves (each task's entry gets `served_by`: the tasks sharing its network)."""
    keys = ("tasks", "delta_m", "delta_m_ci")
    tasks = scores["tasks"]
    if groups is not None:
        served = {t: list(g) for g in groups for t in g}
        tasks = {t: {**entry, "served_by": served.get(t)} for t, entry in tasks.items()}
    return json_safe(
        {**{k: scores[k] for k in keys}, "tasks": tasks, "groups": [list(g) for g in groups or []] or None,
         "cost": cost, "primary": scores["primary"], "affinity": affinity}
    )


def headline(metrics: dict[str, Any]) -> dict[str, Any]:
    """reports/headline.json: `{task: {primary metric: MTL value}, "delta_m": {"vs_stl", "vs_gbdt"}}`, a
    table a terminal holds (`dvc metrics show` prints `delayed.roc_auc … delta_m.vs_stl`)."""
    tasks = {task: {entry["metric"]: entry["mtl"].get(entry["metric"])} for task, entry in metrics["tasks"].items()}
    return {**tasks, "delta_m": dict(metrics["delta_m"])}


# ------------------------------------------------------------------------------------------------ loading
def _require(path, what: str, stage: str) -> None:
    if not path.is_file():
        raise EvaluationError(f"{path}: {what} not found; run `mtlops {stage}` first")


def _predict_mtl(
    cfg: Config, paths: Paths, test: dict[str, np.ndarray]
) -> tuple[dict[str, np.ndarray], list[list[str]]]:
    """The model's test predictions and the tasks each of its networks serves (one group unless composite)."""
    from mtlops.models import CompositeModel
    from mtlops.training import load_model, predict

    _require(paths.checkpoint, "multi-task checkpoint", "train")
    model = load_model(paths.checkpoint)
    preds = predict(model, test)
    missing = [t for t in cfg.target_names if t not in preds]
    if missing:
        raise EvaluationError(f"{paths.checkpoint}: the model has no head for tasks {missing}; run `mtlops train`")
    return preds, model.groups if isinstance(model, CompositeModel) else [list(model.served_task_names)]


def _predict_baselines(
    cfg: Config, paths: Paths, test: dict[str, np.ndarray], report: dict[str, Any]
) -> dict[str, dict[str, np.ndarray]]:
    """Test predictions of each baseline that the baselines stage trained (skipped ones are absent)."""
    from mtlops.models.gbdt import GbdtModel
    from mtlops.training import load_model, predict

    missing = [t for t in cfg.target_names if t not in report.get("tasks", {})]
    if missing:
        raise EvaluationError(f"{paths.baselines_metrics}: no baselines for tasks {missing}; run `mtlops baselines`")
    out: dict[str, dict[str, np.ndarray]] = {"stl": {}, "gbdt": {}}
    for task in cfg.target_tasks:
        entry = report["tasks"][task.name]
        if entry.get("stl"):
            path = paths.stl_model(task.name)
            _require(path, f"single-task model for {task.name!r}", "baselines")
            out["stl"][task.name] = predict(load_model(path), test)[task.name]
        if entry.get("gbdt"):
            for name in entry["gbdt"]["files"]:
                _require(paths.baselines_dir / name, f"LightGBM model for {task.name!r}", "baselines")
            model = GbdtModel.load(paths.baselines_dir, task.type, entry["gbdt"])
            out["gbdt"][task.name] = model.predict(test)
    return out


def _cost(history: dict[str, Any], report: dict[str, Any], tasks: list[str]) -> dict[str, Any]:
    def total(kind: str, key: str) -> float | None:
        values = [(report["tasks"].get(t, {}).get(kind) or {}).get(key) for t in tasks]
        values = [v for v in values if v is not None]
        return sum(values) if values else None

    mtl = {"wall_time_s": history.get("wall_time_s"), "n_params": history.get("n_params")}
    stl = {"wall_time_s": total("stl", "wall_time_s"), "n_params": total("stl", "n_params")}
    return {
        "mtl": mtl,
        "stl_sum": stl,
        "gbdt_sum": {"wall_time_s": total("gbdt", "wall_time_s")},
        # what the cost guard bounds (train.max_cost_ratio, search.max_cost_ratio): the MTL model ÷ Σ single-task
        "mtl_over_stl_sum": {k: _ratio(mtl[k], stl[k]) for k in mtl},
    }


def _ratio(a: Any, b: Any) -> float | None:
    return float(a) / float(b) if a is not None and b else None


# -------------------------------------------------------------------------------------------------- stage
def write_outputs(
    paths: Paths,
    metrics: dict[str, Any],
    scores: dict[str, Any],
    history: dict[str, Any],
    bootstrap: int,
    confidence: float,
) -> None:
    """Plots (one folder swap), summary.md, headline.json, then metrics.json last: its presence means the
    stage finished."""
    from mtlops.evaluation import plots
    from mtlops.evaluation.report import summary_markdown
    from mtlops.io import atomic_dir, write_json, write_text

    with atomic_dir(paths.plots_dir) as out:
        plots.per_task(metrics, scores["model_ci"], out)
        plots.differences(metrics, out)
        plots.training_curves(history.get("history", []), list(metrics["tasks"]), out, history.get("best_epoch"))
        for task, curves in scores["calibration"].items():
            plots.calibration(task, curves, out)
        if metrics.get("affinity"):
            plots.affinity(metrics["affinity"], out)
    write_text(paths.summary, summary_markdown(metrics, bootstrap, confidence))
    write_json(paths.headline, headline(metrics))
    write_json(paths.metrics, metrics)


def evaluate(cfg: Config, paths: Paths) -> dict[str, Any]:
    """Score MTL vs baselines on the test split; write metrics.json, summary.md and plots."""
    from mtlops.data.prepare import load_split
    from mtlops.io import read_json

    test = load_split(paths, "test")
    _require(paths.baselines_metrics, "baseline report", "baselines")
    report = read_json(paths.baselines_metrics, what="baseline report")
    _require(paths.history, "training history", "train")
    history = read_json(paths.history, what="training history")

    mtl, groups = _predict_mtl(cfg, paths, test)
    preds = {"mtl": mtl, **_predict_baselines(cfg, paths, test, report)}
    scores = score_tasks(
        cfg.target_tasks,  # auxiliary tasks train, never count
        test,
        preds,
        n_resamples=cfg.evaluation.bootstrap,
        confidence=cfg.evaluation.confidence,
        seed=cfg.project.seed,
        calibration_bins=cfg.evaluation.calibration_bins,
    )
    metrics = metrics_document(scores, _cost(history, report, cfg.target_names), history.get("affinity"), groups)
    write_outputs(paths, metrics, scores, history, cfg.evaluation.bootstrap, cfg.evaluation.confidence)
    return {
        "delta_m": metrics["delta_m"],
        "primary_mtl": metrics["primary"]["mtl"],
        "negative_transfer": [t for t, e in metrics["tasks"].items() if e["negative_transfer"]],
        "groups": groups,
    }
