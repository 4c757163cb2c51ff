"""The model for the chosen task groups: one network per group of two or more tasks, and a task alone served
by its single-task baseline network (the grouping chose it over every shared one). Several groups make
one composite model (`mtlops.models.CompositeModel`); one group is exactly the model without grouping.

Each group trains with the full recipe (`mtlops.training.from_config.train_from_config`), resumable from
its checkpoint folder (`mtlops.training.resume`): the given folder for one group, else a subfolder
named by the group's tasks.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mtlops.errors import DataError
from mtlops.models import CompositeModel
from mtlops.training.affinity import TaskAffinity, affinity_from_history
from mtlops.training.checkpoint import ModelFileError, load_model
from mtlops.training.cost import ComputeBudget, budget_epochs
from mtlops.training.from_config import train_from_config
from mtlops.training.resume import resumable_epoch

if TYPE_CHECKING:
    from mtlops.paths import Paths
    from mtlops.schema import Config


Budget = Callable[[list[str]], float | None]


def train_groups(
    cfg: Config, paths: Paths, groups: list[list[str]], folder: Path, reference: dict[str, float] | None,
    budget: Budget | None = None,
) -> tuple[Any, dict[str, Any]]:
    """The model serving `groups` (of target tasks) and its history report (`reference`: what validation Δm is
    measured against). Each trained network trains the auxiliary tasks too (`cfg.trained_with`). `budget(targets)`
    is the most seconds a network for those targets may train (the cost guard; None: no cap)."""
    if len(groups) == 1:
        return _train_group(cfg, paths, groups[0], folder, reference, budget)
    # each group in its own checkpoint folder; a task alone keeps its single-task network
    parts = [_train_group(cfg, paths, g, folder / "+".join(g), reference, budget) if len(g) > 1
             else _single_task(paths, g[0]) for g in groups]
    model = CompositeModel([m for m, _ in parts], cfg.target_names)
    return model, _composite_report(model, [r for _, r in parts], cfg.target_names)


def _train_group(
    cfg: Config, paths: Paths, targets: list[str], folder: Path, reference, budget: Budget | None = None
) -> tuple[Any, dict[str, Any]]:
    """One network for `targets` (and the auxiliary tasks) with the full recipe (resumable from `folder`), and
    its part of the report."""
    folder.mkdir(parents=True, exist_ok=True)
    resumed_from = resumable_epoch(folder)
    tasks = cfg.trained_with(targets)
    hooks: dict[str, list[Any]] = {"step_hooks": [], "callbacks": []}
    if cfg.train.affinity_every and len(tasks) > 1:
        affinity = TaskAffinity(tasks, cfg.train.affinity_every)
        hooks = {"step_hooks": [affinity], "callbacks": [affinity.end_epoch]}
    param_epochs = budget(targets) if budget else None
    if param_epochs is not None:
        hooks["callbacks"].append(ComputeBudget(param_epochs, f"train.max_cost_ratio {cfg.train.max_cost_ratio:g} × "
                                                              "the single-task networks' parameter-epochs"))
    result = train_from_config(cfg, paths, tasks=tasks, checkpoint_dir=folder, resume=True, reference=reference,
                               processes=cfg.train.processes, step_hooks=hooks["step_hooks"],
                               callbacks=hooks["callbacks"])
    return result.model, {
        "tasks": list(tasks),
        "source": "trained",
        "wall_time_s": round(result.wall_time_s, 3),
        "n_params": result.model.n_params,
        "best_epoch": result.best_epoch,
        "epochs_run": result.epochs_run,
        "stop_reason": result.stop_reason,
        "budget_param_epochs": param_epochs,
        "budget_epochs": None if param_epochs is None else budget_epochs(param_epochs, result.model.n_params),
        "device": result.device,
        "resumed_from_epoch": resumed_from,
        "history": result.history,
        "affinity": affinity_from_history(result.history, tasks),
    }


def _single_task(paths: Paths, task: str) -> tuple[Any, dict[str, Any]]:
    """A task served alone: its single-task baseline network (the grouping chose it over every shared one)."""
    path = paths.stl_model(task)
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
    found = [p for p in parts if p]
    if not found:
        return None
    index = {t: k for k, t in enumerate(tasks)}
    out: dict[str, Any] = {"tasks": list(tasks), "measurements": max(p["measurements"] for p in found)}
    for key in ("matrix", "stderr"):
        full: list[list[float | None]] = [[None] * len(tasks) for _ in tasks]
        for part in found:
            for i, a in enumerate(part["tasks"]):
                for j, b in enumerate(part["tasks"]):
                    if a in index and b in index:  # an auxiliary task trained in several groups: not reported
                        full[index[a]][index[b]] = part[key][i][j]
        out[key] = full
    return out
