"""The grouping stage's work: train each candidate group briefly, score the partitions, write the choice.

Every group a candidate partition uses — each task alone included — is trained once with the
search's best params at the search's trial budget (`search.epochs`, `search.max_train_rows`), so
groups and single tasks are compared at the same budget: scoring the short group trainings against
the fully trained single-task baselines would favour every task alone by the budget gap alone
(trial 0 of a flights search sits several Δm points below the baselines). The train stage then
trains the chosen groups with the full recipe; a task chosen alone is served by its single-task
baseline network, trained with the full recipe already.

The all-task training, always a candidate, also measures inter-task affinity (`mtlops.training.affinity`,
every `grouping.affinity_every` steps), recorded in grouping.json. For T <= `grouping.exhaustive_max_tasks`
every partition is a candidate; above it the matrix proposes the candidates
(`mtlops.grouping.partitions.affinity_partitions`), so 2T − 1 groups are trained, not one per subset.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np

from mtlops.config import with_overrides
from mtlops.grouping.partitions import Group, affinity_partitions, choose, groups_of, score, set_partitions
from mtlops.io import write_json
from mtlops.schema import ConfigError
from mtlops.search.overlay import searched_config
from mtlops.training.affinity import TaskAffinity, affinity_from_history, affinity_subset

if TYPE_CHECKING:
    from mtlops.paths import Paths
    from mtlops.schema import Config


def group_tasks(cfg: Config, paths: Paths) -> dict[str, Any]:
    """Choose the groups, write `data/models/grouping.json`; returns it."""
    names = cfg.target_names  # auxiliary tasks train with every shared network, never alone: not grouped
    if not cfg.grouping.enabled or len(names) == 1:
        reason = "grouping.enabled is false" if not cfg.grouping.enabled else "a single task"
        doc: dict[str, Any] = {"enabled": cfg.grouping.enabled, "method": "none",
                               "note": f"{reason}: every task shares one trunk",
                               "groups": [names], "served_by": dict.fromkeys(names, names)}
        write_json(paths.grouping, doc)
        return doc

    started = time.perf_counter()
    base, applied = searched_config(cfg, paths)
    short = with_overrides(base, {"train": {"epochs": cfg.search.epochs}})
    everything = tuple(names)  # trained first, measuring the affinity the report shows and large T proposes from
    trainings: dict[Group, dict[str, Any]] = {}
    hook = TaskAffinity(cfg.trained_with(names), cfg.grouping.affinity_every)
    trainings[everything], history = _train(short, cfg, paths, everything, hook)
    affinity = affinity_subset(affinity_from_history(history, cfg.trained_with(names)), names)
    if len(names) <= cfg.grouping.exhaustive_max_tasks:
        method, candidates = "exhaustive", set_partitions(names)
    elif affinity is None:
        raise ConfigError(f"grouping: the all-task training measured no affinity (grouping.affinity_every = "
                         f"{cfg.grouping.affinity_every} steps is more than it ran); lower it")
    else:
        method, candidates = "affinity", affinity_partitions(names, affinity["matrix"])
    for group in groups_of(candidates):
        if group not in trainings:
            trainings[group], _ = _train(short, cfg, paths, group)

    metrics = {g: t["val_metrics"] for g, t in trainings.items()}
    reference = {t: metrics[(t,)][t] for t in names if t in metrics.get((t,), {})}
    higher = {t.name: t.higher_is_better for t in cfg.tasks}
    scored = sorted(
        ({"groups": [list(g) for g in p], **score(p, metrics, reference, higher, cfg.search.transfer_penalty)}
         for p in candidates),
        key=lambda s: -s["score"] if np.isfinite(s["score"]) else np.inf,
    )
    chosen = choose(scored, cfg.grouping.noise_band)
    shared = next(s for s in scored if len(s["groups"]) == 1)
    doc = {
        "enabled": True,
        "method": method,
        "groups": chosen["groups"],
        "served_by": {t: g for g in chosen["groups"] for t in g},
        "val_delta_m": chosen["delta_m"],
        "val_score": chosen["score"],
        "all_shared": {"val_delta_m": shared["delta_m"], "val_score": shared["score"]},
        "delta_m_vs_all_shared": chosen["delta_m"] - shared["delta_m"],
        "reference": "each task alone, trained at the same budget",
        "budget": {"epochs": cfg.search.epochs, "max_train_rows": cfg.search.max_train_rows},
        "noise_band": cfg.grouping.noise_band,
        "search_params_applied": applied,
        "candidates": scored,
        "trainings": [{"tasks": list(g), **t} for g, t in trainings.items()],
        "affinity": affinity,
        "wall_time_s": round(time.perf_counter() - started, 3),
    }
    write_json(paths.grouping, doc)
    return doc


def _train(short: Config, cfg: Config, paths: Paths, group: Group, hook: Any = None):
    """One short training of `group`: ({val_metrics, best_epoch, epochs, seconds}, history); a group whose loss
    or predictions go non-finite gets NaN metrics (its partitions cannot win)."""
    from mtlops.baselines.reference import stl_val_reference
    from mtlops.training import NonFiniteLoss
    from mtlops.training.early_stopping import kept_scores
    from mtlops.training.from_config import train_from_config

    hooks = {"step_hooks": [hook], "callbacks": [hook.end_epoch]} if hook else {}
    start = time.perf_counter()
    reference = stl_val_reference(paths, cfg.target_names)
    tasks = cfg.trained_with(list(group)) if len(group) > 1 else list(group)  # alone: as its single-task network
    try:
        result = train_from_config(short, paths, tasks=tasks, max_train_rows=cfg.search.max_train_rows,
                                   reference=reference, **hooks)
    except NonFiniteLoss as err:
        nan = {t: float("nan") for t in group}
        return {"val_metrics": nan, "best_epoch": None, "epochs": 0, "seconds": 0.0, "failed": str(err)}, []
    _, metrics = kept_scores([short.task(t) for t in group], result, _val(paths), reference)
    return {
        "val_metrics": {t: float(metrics.get(t, np.nan)) for t in group},
        "best_epoch": result.best_epoch,
        "epochs": result.epochs_run,
        "seconds": round(time.perf_counter() - start, 3),
    }, result.history


def _val(paths: Paths) -> dict[str, np.ndarray]:
    from mtlops.data.prepare import load_split

    return load_split(paths, "val")
