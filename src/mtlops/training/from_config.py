"""The bridge from a validated `Config` (and the processed data) to the modeling core.

The only part of `mtlops.training` that knows about params.yaml; it is not imported by
`mtlops.training` itself, so the core keeps to torch + numpy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mtlops.models import ModelSpec, TaskSpec, build_model
from mtlops.paths import Paths
from mtlops.schema import Config, ConfigError
from mtlops.training.distributed import launch, launched
from mtlops.training.early_stopping import StopOnDeltaM
from mtlops.training.trainer import Callback, FitResult, StepHook, TrainSettings, fit
from mtlops.weighting import Weighting, build_weighting


def _task_names(cfg: Config, tasks: Sequence[str] | None) -> list[str]:
    """The tasks to train: those given, else every target task with the auxiliaries that train."""
    names = list(tasks) if tasks else cfg.trained_with(cfg.target_names)
    unknown = [t for t in names if t not in cfg.task_names]
    if unknown or not names:
        raise ConfigError(f"tasks {unknown or names} are not among the config's tasks {cfg.task_names}")
    return names


def model_spec(cfg: Config, meta: dict[str, Any], tasks: Sequence[str] | None = None) -> ModelSpec:
    """The model for `tasks` (default: the targets and the training auxiliaries) from the config's model section
    and the data's meta.json."""
    names = _task_names(cfg, tasks)
    missing = [t for t in names if t not in meta.get("tasks", {})]
    if missing:
        raise ConfigError(
            f"meta.json has no tasks {missing} (it has {sorted(meta.get('tasks', {}))}); rerun `mtlops prepare`"
        )
    arch = cfg.model.architecture
    return ModelSpec(
        inputs=meta["inputs"],
        tasks=[replace(TaskSpec.from_meta(t, meta["tasks"][t]), loss_weight=cfg.task(t).loss_weight,
                       auxiliary=cfg.task(t).role == "auxiliary") for t in names],
        architecture=arch.name,
        arch_params=dict(arch.params),
        encoder=cfg.model.encoder.model_dump(),
    )


def train_settings(cfg: Config) -> TrainSettings:
    """params.yaml's `train` section and the project seed (`use_search`, `affinity_every`, `processes` and
    `max_cost_ratio` are the train stage's, `stop_on` this module's: the loop knows only a validation objective)."""
    return TrainSettings(**cfg.train.model_dump(exclude={"use_search", "stop_on", "affinity_every", "processes",
                                                          "max_cost_ratio"}),
                         seed=cfg.project.seed)


def weighting_for(cfg: Config, tasks: Sequence[str]) -> Weighting:
    """The configured weighting for these tasks; a single task trains on its own loss (equal weighting).

    Weighting balances tasks against each other: with one task there is nothing to balance, so a
    single-task model of a config that names static/GradNorm/... trains plainly.
    """
    names = _task_names(cfg, tasks)
    w = cfg.model.weighting
    if len(names) == 1:
        return build_weighting("equal", {}, names)
    return build_weighting(w.name, dict(w.params), names, {t: cfg.task(t).type for t in names})


def subsample(arrays: dict[str, np.ndarray], max_rows: int | None, seed: int) -> dict[str, np.ndarray]:
    """A seeded random subset of rows (in their original order), the same for every caller with this seed."""
    n = len(next(iter(arrays.values())))
    if not max_rows or n <= max_rows:
        return arrays
    keep = np.sort(np.random.default_rng(seed).choice(n, size=max_rows, replace=False))
    return {k: v[keep] for k, v in arrays.items()}


def train_from_config(
    cfg: Config,
    paths: Paths,
    tasks: Sequence[str] | None = None,
    max_train_rows: int | None = None,
    callbacks: Sequence[Callback] = (),
    checkpoint_dir: str | Path | None = None,
    resume: bool = False,
    reference: dict[str, float] | None = None,
    step_hooks: Sequence[StepHook] = (),
    processes: int = 1,
) -> FitResult:
    """Train the config's model on the processed data (`tasks=[one]`: the single-task model of that family).

    With `processes` > 1 (the train stage passes `train.processes`), this call runs again in that many
    data-parallel processes (`mtlops.training.distributed.launch`) and returns rank 0's result.

    With `train.stop_on: val_delta_m`, epochs are judged by validation Δm of the tasks' primary metrics vs
    `reference` (the single-task models' validation metrics) or, without one, vs the first epoch's metrics
    (a resumed run reads those back from its checkpoint, so it judges epochs as the interrupted run did);
    an auxiliary task with an `early_stopping_weight` counts with that weight, against its first epoch.
    """
    from mtlops.data.prepare import load_meta, load_split

    if processes > 1 and not launched():
        result, spec, state = launch(_one_rank, cfg, paths, tasks, max_train_rows, callbacks, checkpoint_dir, resume,
                                     reference, step_hooks, processes=processes, device=cfg.train.device,
                                     threads=cfg.train.threads)
        model = build_model(ModelSpec.from_dict(spec))
        model.load_state_dict(state)
        return replace(result, model=model.eval())
    names = _task_names(cfg, tasks)
    meta = load_meta(paths)
    train = subsample(load_split(paths, "train"), max_train_rows, cfg.project.seed)
    val = load_split(paths, "val")
    net_spec = model_spec(cfg, meta, names)
    torch.manual_seed(cfg.project.seed)
    model = build_model(net_spec)
    model.set_target_stats(train)
    if cfg.train.stop_on == "val_delta_m":
        if reference is None and resume and checkpoint_dir is not None:
            reference = _first_reference(checkpoint_dir)
        callbacks = [StopOnDeltaM([cfg.task(t) for t in names], val, reference), *callbacks]
    return fit(model, weighting_for(cfg, names), train, val, train_settings(cfg), callbacks, checkpoint_dir, resume,
               step_hooks)


def _one_rank(*args: Any) -> tuple[FitResult, dict[str, Any], dict[str, torch.Tensor]]:
    """`train_from_config` in one launched process; the model comes back as its spec and weights (a task
    type's loss may be a lambda, which does not pickle)."""
    result = train_from_config(*args)
    weights = {k: v.detach().cpu() for k, v in result.model.state_dict().items()}
    return replace(result, model=None), result.model.spec.to_dict(), weights  # type: ignore[arg-type]  # rebuilt by the caller


def _first_reference(checkpoint_dir: str | Path) -> dict[str, float] | None:
    from mtlops.training.checkpoint import load_training_state

    saved = load_training_state(checkpoint_dir)
    history = saved["history"] if saved else []
    return history[0].get("val_reference") if history else None
