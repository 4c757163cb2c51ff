"""The served model's folder: choose what serves each task on the validation split, copy the files the
choice needs beside the network and write serving.json (the format: `mtlops.training.served`).

Reads `data/processed/val.npz` (never the test split), `reports/baselines.json` and the baselines'
model files (`Paths.stl_model`, `Paths.gbdt_model`). With `serving.best_of_baselines: false` the shared
network serves every task, as before serving choices existed; its validation metric is still recorded.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mtlops.errors import DataError
from mtlops.io import read_json, write_json
from mtlops.metrics.per_task import json_safe
from mtlops.models.gbdt import GbdtModel
from mtlops.models.served import SINGLE_TASK
from mtlops.serving.choice import blend_weights, candidates, choose
from mtlops.training import load_model, predict
from mtlops.training.served import SERVING

if TYPE_CHECKING:
    from mtlops.paths import Paths
    from mtlops.schema import Config, TaskConfig

FORMAT = 1


def serve_best(cfg: Config, paths: Paths, network: Any, folder: Path) -> dict[str, Any]:
    """Write serving.json (last) and the baseline files it names into `folder`, which holds `network` as
    model.pt; returns the document."""
    from mtlops.data.prepare import load_split

    val = load_split(paths, "val")
    shared = predict(network, val)
    groups = getattr(network, "groups", None) or [list(network.served_task_names)]
    report = _baselines(cfg, paths)
    policy = cfg.serving
    tasks: dict[str, Any] = {}
    for task in cfg.target_tasks:  # an auxiliary task is never served
        entry = report.get(task.name) or {}
        single, gbdt, why = _baseline_predictions(cfg, paths, task, entry, val) if policy.best_of_baselines else (
            None, None, ["serving.best_of_baselines is false"])
        cands = candidates(task, shared[task.name], single, gbdt, policy.blend_steps)
        chosen = choose(task, val[f"y_{task.name}"], val[f"mask_{task.name}"], cands, policy.noise_band,
                        cfg.evaluation.calibration_bins, policy.prefer)
        files: dict[str, Any] = {}
        if chosen["kind"] == SINGLE_TASK:
            files["single_task"] = _copy(paths.stl_model(task.name), folder)
        if gbdt is not None and chosen["kind"] in ("gbdt", "blend"):
            files["gbdt"] = {"files": [_copy(paths.baselines_dir / f, folder) for f in entry["gbdt"]["files"]],
                             "classes": entry["gbdt"].get("classes"), "n_classes": entry["gbdt"].get("n_classes")}
        tasks[task.name] = {
            "kind": chosen["kind"],
            "weight": chosen["weight"],
            "type": task.type,
            "metric": task.metric,
            "higher_is_better": task.higher_is_better,
            "group": next(list(g) for g in groups if task.name in g),
            "gain_val": chosen["gain_val"],
            **files,
            "candidates": chosen["candidates"],
            "missing": why,
            "note": chosen["note"],
        }
    doc = {
        "format": FORMAT,
        "split": "val",
        "best_of_baselines": policy.best_of_baselines,
        "prefer": policy.prefer,
        "noise_band": policy.noise_band,
        "blend_weights": blend_weights(policy.blend_steps) if policy.best_of_baselines else [],
        "tasks": tasks,
    }
    doc = json_safe(doc)
    write_json(folder / SERVING, doc)
    return doc


def _baselines(cfg: Config, paths: Paths) -> dict[str, Any]:
    """reports/baselines.json's tasks; none (the shared network serves) when off or never run."""
    if not cfg.serving.best_of_baselines or not paths.baselines_metrics.is_file():
        return {}
    return read_json(paths.baselines_metrics, what="baseline report").get("tasks", {})


def _baseline_predictions(
    cfg: Config, paths: Paths, task: TaskConfig, entry: dict[str, Any], val: dict[str, np.ndarray]
) -> tuple[np.ndarray | None, np.ndarray | None, list[str]]:
    """The task's single-task network's and LightGBM's validation predictions (None where there is none) and
    why any is missing."""
    why: list[str] = []
    single = gbdt = None
    if not entry:
        why.append(f"no baselines for this task in {paths.baselines_metrics}")
    for kind in ("stl", "gbdt"):
        if entry and not entry.get(kind):
            why.append(f"{kind}: {(entry.get('skipped') or {}).get(kind, 'not trained')}")
    if entry.get("stl"):
        path = _need(paths.stl_model(task.name), task)
        single = predict(load_model(path), val)[task.name]
    if entry.get("gbdt"):
        for name in entry["gbdt"]["files"]:
            _need(paths.baselines_dir / name, task)
        gbdt = GbdtModel.load(paths.baselines_dir, task.type, entry["gbdt"]).predict(val)
    return single, gbdt, why


def _need(path: Path, task: TaskConfig) -> Path:
    if not path.is_file():
        raise DataError(f"{path}: baseline model of task {task.name!r} not found; run `mtlops baselines`")
    return path


def _copy(source: Path, folder: Path) -> str:
    shutil.copyfile(source, folder / source.name)
    return source.name
