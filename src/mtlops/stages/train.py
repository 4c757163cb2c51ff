"""train: the multi-task model on the processed data, with the search's best params when asked.

Reads `data/processed/`, `reports/baselines.json` (the single-task validation metrics early stopping
measures Δm against) and, when `train.use_search`, `data/models/best_params.json` (a config
overlay; in a DVC experiment, an overlay that would replace a key the experiment set is refused);
writes `data/models/mtl/model.pt` and `reports/history.json` (with the inter-task affinity matrix
when `train.affinity_every` > 0: `mtlops.training.affinity`). The work:
`mtlops.training.from_config.train_from_config` (the loop itself: `mtlops.training.trainer`).

With `grouping.enabled`, it follows `data/models/grouping.json`: one network per group of two or more
tasks, and a task alone keeps its single-task baseline network; several groups are saved as one
composite model (`mtlops.models.CompositeModel`), one group exactly as without grouping.

Each epoch ends with a checkpoint in `data/checkpoints/train/<fingerprint>/` (outside every DVC
output, which DVC deletes before rerunning the stage). The fingerprint covers what the weights
depend on: the model and train sections as applied, the seed, mtlops' version and the processed
arrays. A rerun after a kill resumes from the last finished epoch of the same fingerprint and, on
the CPU, ends with the weights an uninterrupted run has; any other change starts afresh. Each group of
a composite resumes from its own subfolder, named by its tasks.

With `train.processes` > 1 each group trains in that many data-parallel processes started by torchrun
(`mtlops.training.distributed`); this process writes the model and history from rank 0's result.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mtlops.errors import DataError
from mtlops.io import read_json, write_json
from mtlops.models import CompositeModel
from mtlops.search.overlay import searched_config
from mtlops.training import load_model, save_model
from mtlops.training.affinity import TaskAffinity, affinity_from_history
from mtlops.training.checkpoint import LAST, ModelFileError, load_training_state
from mtlops.training.from_config import train_from_config

if TYPE_CHECKING:
    from mtlops.paths import Paths
    from mtlops.schema import Config

RUN_KEYS = ("wall_time_s", "n_params", "best_epoch", "epochs_run", "stop_reason", "device", "resumed_from_epoch")


def run(cfg: Config, paths: Paths) -> dict[str, Any]:
    """Writes data/models/mtl/model.pt and reports/history.json; returns a short summary."""
    cfg, applied = searched_config(cfg, paths)
    folder = checkpoint_folder(cfg, paths)
    groups = task_groups(cfg, paths)
    reference = _reference(cfg, paths)
    if len(groups) == 1:
        model, report = _train_group(cfg, paths, groups[0], folder, reference)
    else:  # each group in its own checkpoint folder; a task alone keeps its single-task network
        parts = [_train_group(cfg, paths, g, folder / "+".join(g), reference) if len(g) > 1 else _single_task(paths, g[0])
                 for g in groups]
        model = CompositeModel([m for m, _ in parts], cfg.task_names)
        report = _composite_report(model, [r for _, r in parts], cfg.task_names)
    arch, weighting = cfg.model.architecture, cfg.model.weighting
    save_model(
        model,
        paths.checkpoint,
        extra={
            "config_hash": cfg.section_hash("model", "train"),
            "architecture": arch.name,
            "weighting": weighting.name,
            "best_epoch": report["best_epoch"],
        },
    )
    report = {
        **{k: report[k] for k in RUN_KEYS},
        "architecture": {"name": arch.name, "params": dict(arch.params)},
        "weighting": {"name": weighting.name, "params": dict(weighting.params)},
        "train": {**cfg.train.model_dump(mode="json"), "search_params_applied": applied},
        **{k: v for k, v in report.items() if k not in (*RUN_KEYS, "tasks", "source")},
    }
    write_json(paths.history, report)
    return {k: report[k] for k in RUN_KEYS} | {
        "architecture": arch.name,
        "weighting": weighting.name,
        "search_params_applied": applied,
        "groups": groups,
        "best_val_objective": min((r["val_objective"] for r in report["history"] if "val_objective" in r),
                                  default=None),
    }


def task_groups(cfg: Config, paths: Paths) -> list[list[str]]:
    """The grouping stage's groups (every task in one group when grouping is off), checked against the tasks."""
    if not cfg.grouping.enabled:
        return [cfg.task_names]
    try:
        groups = read_json(paths.grouping, "task grouping").get("groups")
    except FileNotFoundError as err:
        raise DataError(f"{err}; run `mtlops grouping`") from None
    served = [t for g in groups or [] for t in g]
    if sorted(served) != sorted(cfg.task_names) or len(set(served)) != len(served):
        raise DataError(f"{paths.grouping}: groups {groups} do not serve each of the tasks {cfg.task_names} once; "
                        "rerun `mtlops grouping`")
    return groups


def _train_group(cfg: Config, paths: Paths, tasks: list[str], folder: Path, reference) -> tuple[Any, dict[str, Any]]:
    """One network for `tasks` with the full recipe (resumable from `folder`), and its part of the report."""
    folder.mkdir(parents=True, exist_ok=True)
    resumed_from = _resumable_epoch(folder)
    hooks = {}
    if cfg.train.affinity_every and len(tasks) > 1:
        affinity = TaskAffinity(tasks, cfg.train.affinity_every)
        hooks = {"step_hooks": [affinity], "callbacks": [affinity.end_epoch]}
    result = train_from_config(cfg, paths, tasks=tasks, checkpoint_dir=folder, resume=True,
                               reference=reference, processes=cfg.train.processes, **hooks)
    return result.model, {
        "tasks": list(tasks),
        "source": "trained",
        "wall_time_s": round(result.wall_time_s, 3),
        "n_params": result.model.n_params,
        "best_epoch": result.best_epoch,
        "epochs_run": result.epochs_run,
        "stop_reason": result.stop_reason,
        "device": result.device,
        "resumed_from_epoch": resumed_from,
        "history": result.history,
        "affinity": affinity_from_history(result.history, tasks),
    }


def _single_task(paths: Paths, task: str) -> tuple[Any, dict[str, Any]]:
    """A task served alone: its single-task baseline network (the grouping chose it over every shared one)."""
    path = paths.baselines_dir / f"stl_{task}.pt"
    try:
        model = load_model(path)
    except ModelFileError as err:
        raise DataError(f"{err}; task {task!r} is served by its single-task network: run `mtlops baselines`") from None
    return model, {"tasks": [task], "source": "single_task", "file": path.name, "n_params": model.n_params}


def _composite_report(model: CompositeModel, parts: list[dict[str, Any]], tasks: list[str]) -> dict[str, Any]:
    """history.json of several networks: their sums, per-task curves merged by epoch, affinity within groups."""
    trained = [p for p in parts if p["source"] == "trained"]
    epochs = sorted({r["epoch"] for p in trained for r in p["history"]})
    rows = []
    for epoch in epochs:
        row: dict[str, Any] = {"epoch": epoch}
        for part in trained:
            for key, value in next((r for r in part["history"] if r["epoch"] == epoch), {}).items():
                if isinstance(value, dict) and key in ("train_loss", "val_loss", "weights"):
                    row.setdefault(key, {}).update(value)
        rows.append(row)
    return {
        "wall_time_s": round(sum(p["wall_time_s"] for p in trained), 3),
        "n_params": model.n_params,
        "best_epoch": None,  # each group's own: `groups`
        "epochs_run": max((p["epochs_run"] for p in trained), default=0),
        "stop_reason": "; ".join(f"{'+'.join(p['tasks'])}: {p['stop_reason']}" for p in trained),
        "device": trained[0]["device"] if trained else "cpu",
        "resumed_from_epoch": min((p["resumed_from_epoch"] for p in trained), default=0),
        "groups": [{k: v for k, v in p.items() if k not in ("history", "affinity")} for p in parts],
        "history": rows,
        "affinity": _within_groups([p["affinity"] for p in trained], tasks),
    }


def _within_groups(parts: list[dict[str, Any] | None], tasks: list[str]) -> dict[str, Any] | None:
    """The groups' affinity matrices in one T×T matrix; pairs across groups were never measured (null)."""
    parts = [p for p in parts if p]
    if not parts:
        return None
    index = {t: k for k, t in enumerate(tasks)}
    out: dict[str, Any] = {"tasks": list(tasks), "measurements": max(p["measurements"] for p in parts)}
    for key in ("matrix", "stderr"):
        full: list[list[float | None]] = [[None] * len(tasks) for _ in tasks]
        for part in parts:
            for i, a in enumerate(part["tasks"]):
                for j, b in enumerate(part["tasks"]):
                    full[index[a]][index[b]] = part[key][i][j]
        out[key] = full
    return out


def _reference(cfg: Config, paths: Paths) -> dict[str, float] | None:
    """The single-task models' validation metrics: early stopping judges epochs by Δm against them, as the
    search judged trials (None without them: the first epoch is the reference)."""
    from mtlops.baselines.run import baseline_val_metrics

    if not (cfg.baselines.stl and paths.baselines_metrics.exists()):
        return None
    return baseline_val_metrics(paths) or None


def fingerprint(cfg: Config, paths: Paths) -> str:
    """A short hash of everything the trained weights depend on: config as applied, seed, code version, data."""
    from mtlops import __version__

    digest = hashlib.sha256(json.dumps({
        "config": cfg.section_hash("model", "train"), "seed": cfg.project.seed, "mtlops": __version__,
    }, sort_keys=True).encode())
    for path in (paths.processed_meta, paths.split_arrays("train"), paths.split_arrays("val"), paths.baselines_metrics):
        if path.is_file():
            with path.open("rb") as fh:
                digest.update(hashlib.file_digest(fh, "sha256").digest())
    return digest.hexdigest()[:16]


def checkpoint_folder(cfg: Config, paths: Paths) -> Path:
    """This fingerprint's checkpoint folder; other fingerprints' folders (stale runs) are removed."""
    folder = paths.train_checkpoints / fingerprint(cfg, paths)
    if paths.train_checkpoints.is_dir():
        for other in paths.train_checkpoints.iterdir():
            if other != folder:
                shutil.rmtree(other, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _resumable_epoch(folder: Path) -> int:
    """The last finished epoch of the folder's checkpoint (0: none); an unreadable one is removed."""
    try:
        state = load_training_state(folder)
    except ModelFileError as err:
        print(f"train: starting afresh, the checkpoint cannot be resumed: {err}", file=sys.stderr)
        (folder / LAST).unlink(missing_ok=True)
        return 0
    return int(state["epoch"]) if state else 0
