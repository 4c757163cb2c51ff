"""The evaluate stage: the multi-task model against each task's single-task baselines, on the test split.

Two questions, never one in place of the other: (a) the shared network alone (`mtl`: the multi-task
question) and (b) the served model (`served`: each task answered by what the train stage chose for it on
validation, `mtlops.serving`), each against the single-task network (STL) and LightGBM (GBDT).
For every task: all metrics of each model; the signed difference of the primary metric (positive = the
model better) with a paired bootstrap interval (`mtlops.metrics.compare`, the comparison the promotion
gate makes, here absolute): `diff_vs_<base>` for the shared network, `served_diff_vs_<base>` for the
served one; flags when an interval lies entirely below zero (`negative_transfer`: the shared network vs
STL; `below_gbdt`: vs LightGBM; `served_below_stl`, `served_below_gbdt`). `served_by` names what serves
the task (kind, blend weight, the tasks sharing its network) and `served_gain` the choice's gain over the
shared network in percent, on validation (where it was chosen) beside test (optimism shows as the gap).
Across tasks: Δm against each baseline (`vs_*`, `served_vs_*`, with intervals from the same resamples),
and cost — training wall time and parameter count of the one MTL model vs the sum over the single-task models.

With `evaluation.seed_runs: N` (off by default) the model is also trained again with N other seeds
(`mtlops.evaluation.seed_noise`): metrics.json's `seed_noise` and summary.md give each task's spread over
the seeds next to the bootstrap intervals, so a reader sees whether a difference is within training noise.

Writes reports/metrics.json (strict JSON, NaN → null: every figure), reports/headline.json (what
`dvc metrics show/diff` and `dvc exp show` list: each task's primary metric of the multi-task model
and Δm), reports/summary.md and reports/plots/ (PNG + CSV for `dvc plots`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
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

MODELS = ("mtl", "served", "stl", "gbdt")
BASELINES = ("stl", "gbdt")
JUDGED = (("mtl", ""), ("served", "served_"))  # the models compared with each baseline, and their key prefix
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

    `preds[model][task]` holds test-split predictions for model "mtl", "served", "stl", "gbdt" (a
    baseline may lack tasks; without "served" nothing is said about a served model). Returns {"tasks",
    "delta_m", "delta_m_ci", "primary", "model_ci", "calibration"}; the first four are the metrics.json
    sections (NaN not yet replaced), the last two feed the plots.
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
        for model, prefix in JUDGED:
            if model == "served" and "served" not in preds:
                continue
            for base in BASELINES:
                diff = Interval(NAN, NAN, NAN)
                if name in scored[model] and name in scored[base]:
                    diff = compare(task, scored[model][name], scored[base][name], confidence, relative=False).change
                entry[f"{prefix}diff_vs_{base}"] = diff.to_dict()
                below = "negative_transfer" if (model, base) == ("mtl", "stl") else f"{prefix}below_{base}"
                entry[below] = diff.below_zero
        entry["n_test"] = int(mask.sum())
        entries[name] = entry

    dm, dm_ci = {}, {}
    for model, prefix in JUDGED:
        if model == "served" and "served" not in preds:
            continue
        for base in BASELINES:
            dm[f"{prefix}vs_{base}"] = delta_m(primary[model], primary[base], higher) if primary[base] else NAN
            samples = {m: {t: s.samples for t, s in scored[m].items()} for m in (model, base)}
            low, high = percentile_interval(delta_m_samples(samples[model], samples[base], higher), confidence)
            dm_ci[f"{prefix}vs_{base}"] = {"ci_low": low, "ci_high": high}
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
    serving: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """reports/metrics.json: the sections other stages read, NaN written as null; `affinity` is the
    training's inter-task affinity (null when not measured); `groups` the tasks each network of the
    model serves; `serving` the train stage's choice (serving.json). Each task's entry gets `served_by`
    ({kind, weight, group}: what serves it, the tasks sharing its network) and, with a choice and a
    served model scored, `served_gain` ({val, test}: % over the shared network)."""
    keys = ("tasks", "delta_m", "delta_m_ci")
    tasks = scores["tasks"]
    if groups is not None or serving is not None:
        group = {t: list(g) for g in groups or [] for t in g}
        chosen = (serving or {}).get("tasks", {})
        tasks = {t: {**entry, **_served(t, entry, group.get(t), chosen.get(t))} for t, entry in tasks.items()}
    return json_safe(
        {**{k: scores[k] for k in keys}, "tasks": tasks, "groups": [list(g) for g in groups or []] or None,
         "cost": cost, "primary": scores["primary"], "affinity": affinity}
    )


def _served(task: str, entry: dict[str, Any], group: list[str] | None, chosen: dict[str, Any] | None) -> dict[str, Any]:
    """`served_by` (and `served_gain` when the served model was scored) for one task's entry."""
    by = {"kind": chosen["kind"], "weight": chosen.get("weight")} if chosen else {"kind": "shared", "weight": None}
    out: dict[str, Any] = {"served_by": {**by, "group": (chosen or {}).get("group", group)}}
    metric = entry["metric"]
    served, shared = (entry.get("served") or {}).get(metric), (entry.get("mtl") or {}).get(metric)
    if chosen and served is not None:
        test = delta_m({task: served}, {task: shared}, {task: entry["higher_is_better"]})
        out["served_gain"] = {"val": chosen.get("gain_val"), "test": test}
    return out


def headline(metrics: dict[str, Any]) -> dict[str, Any]:
    """reports/headline.json: `{task: {primary metric: MTL value}, "delta_m": {"vs_stl", "vs_gbdt"}}`, a
    table a terminal holds (`dvc metrics show` prints `delayed.roc_auc … delta_m.vs_stl`): the multi-task
    question. The served model's figures are in metrics.json (`dvc metrics show reports/metrics.json`)."""
    tasks = {task: {entry["metric"]: entry["mtl"].get(entry["metric"])} for task, entry in metrics["tasks"].items()}
    return {**tasks, "delta_m": {k: v for k, v in metrics["delta_m"].items() if not k.startswith("served_")}}


# ------------------------------------------------------------------------------------------------ loading
def _require(path, what: str, stage: str) -> None:
    if not path.is_file():
        raise EvaluationError(f"{path}: {what} not found; run `mtlops {stage}` first")


def _predict_mtl(
    cfg: Config, paths: Paths, test: dict[str, np.ndarray]
) -> tuple[dict[str, dict[str, np.ndarray]], list[list[str]], dict[str, Any] | None]:
    """The test predictions of the shared network alone (`mtl`) and of the served model (`served`, the
    registered model's answers), the tasks each network serves, and the serving choice (None when the
    model folder predates it)."""
    from mtlops.io import read_json
    from mtlops.models import CompositeModel
    from mtlops.training import predict
    from mtlops.training.served import SERVING, load_served

    _require(paths.checkpoint, "multi-task checkpoint", "train")
    served = load_served(paths.model_dir)
    network: Any = served.network
    preds = {"mtl": predict(network, test), "served": predict(served, test)}
    missing = [t for t in cfg.target_names if t not in preds["mtl"]]
    if missing:
        raise EvaluationError(f"{paths.checkpoint}: the model has no head for tasks {missing}; run `mtlops train`")
    choice = paths.model_dir / SERVING
    serving = read_json(choice, what="serving choice") if choice.is_file() else None
    groups = network.groups if isinstance(network, CompositeModel) else [list(network.served_task_names)]
    return preds, groups, serving


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
        found = [(report["tasks"].get(t, {}).get(kind) or {}).get(key) for t in tasks]
        values: list[Any] = [v for v in found if v is not None]  # ints stay ints (parameter counts)
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


@dataclass(frozen=True)
class AsTrained:
    """What the seed runs retrain (the train stage's own inputs): the config with the search's overlay
    applied, the task groups, and the single-task validation metrics early stopping measures against."""

    cfg: Config
    groups: list[list[str]]
    reference: dict[str, float] | None


def evaluate(cfg: Config, paths: Paths, as_trained: AsTrained | None = None) -> dict[str, Any]:
    """Score MTL vs baselines on the test split; write metrics.json, summary.md and plots (and, with
    `evaluation.seed_runs`, retrain `as_trained` with other seeds: `mtlops.evaluation.seed_noise`)."""
    from mtlops.data.prepare import load_split
    from mtlops.io import read_json

    test = load_split(paths, "test")
    _require(paths.baselines_metrics, "baseline report", "baselines")
    report = read_json(paths.baselines_metrics, what="baseline report")
    _require(paths.history, "training history", "train")
    history = read_json(paths.history, what="training history")

    models, groups, serving = _predict_mtl(cfg, paths, test)
    preds = {**models, **_predict_baselines(cfg, paths, test, report)}
    scores = score_tasks(
        cfg.target_tasks,  # auxiliary tasks train, never count
        test,
        preds,
        n_resamples=cfg.evaluation.bootstrap,
        confidence=cfg.evaluation.confidence,
        seed=cfg.project.seed,
        calibration_bins=cfg.evaluation.calibration_bins,
    )
    metrics = metrics_document(scores, _cost(history, report, cfg.target_names), history.get("affinity"), groups,
                               serving)
    if cfg.evaluation.seed_runs:
        from mtlops.evaluation.seed_noise import seed_noise

        if as_trained is None:
            raise EvaluationError("evaluation.seed_runs: the seed runs need the config as trained; "
                                  "run them through `mtlops evaluate`")
        metrics["seed_noise"] = json_safe(seed_noise(as_trained.cfg, paths, as_trained.groups, as_trained.reference,
                                                     test, cfg.evaluation.seed_runs, scores["primary"]["mtl"]))
    write_outputs(paths, metrics, scores, history, cfg.evaluation.bootstrap, cfg.evaluation.confidence)
    return {
        "delta_m": metrics["delta_m"],
        "primary_mtl": metrics["primary"]["mtl"],
        "negative_transfer": [t for t, e in metrics["tasks"].items() if e["negative_transfer"]],
        "served_below_gbdt": [t for t, e in metrics["tasks"].items() if e.get("served_below_gbdt")],
        "groups": groups,
        "served_by": {t: e["served_by"]["kind"] for t, e in metrics["tasks"].items()},
    }
