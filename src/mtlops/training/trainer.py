"""The training loop: `fit` reads top to bottom; each of its steps is a short function below it.

Batches are drawn by index from tensors that sit on the device; per-task loss sums and label
counts accumulate on the device, so the hot loop reads nothing back to the host except a finite
check every `check_every` steps (and the progress bar, when shown). The weighting method does the
backward pass; the loop never asks which method it is. Started by `mtlops.training.distributed.launch`,
each process trains on its shard of every batch and the processes stay one model (see there).
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from mtlops.models import Cut, MultiTaskModel
from mtlops.models.heads import masked_mean
from mtlops.training.checkpoint import load_training_state, save_training_state
from mtlops.training.data import TensorData, needed_keys
from mtlops.training.device import resolve_amp, resolve_device
from mtlops.training.distributed import (
    Ranks,
    average_gradients,
    broadcast_weights,
    check_same_weights,
    first_over_ranks,
    from_main,
    refuse_unsynchronised,
    sum_over_ranks,
)
from mtlops.training.progress import EpochProgress
from mtlops.training.recipe import WeightAverage, resolve_batch_size, warmup_cosine
from mtlops.weighting import Weighting

Callback = Callable[[int, dict[str, Any], MultiTaskModel], None]
# before each optimiser step, on the batch it is about to train on; must leave model and optimiser as found
StepHook = Callable[[MultiTaskModel, dict[str, Tensor], torch.optim.Optimizer], None]


class StopTraining(Exception):
    """Raised by a callback to end training after the current epoch (the message becomes the stop reason)."""


class NonFiniteLoss(RuntimeError):
    """A task's training loss became NaN or infinite."""


@dataclass
class TrainSettings:
    """How to train (params.yaml's `train` section, plus a seed and loop details)."""

    epochs: int = 100  # a ceiling: early stopping ends most runs long before it
    batch_size: int | str = "auto"  # "auto": see `mtlops.training.recipe.resolve_batch_size`
    lr: float = 1e-3
    weight_decay: float = 0.0
    optimizer: str = "adamw"  # adam | adamw | sgd (momentum 0.9)
    patience: int = 5  # epochs without validation improvement tolerated before stopping
    schedule: str = "warmup_cosine"  # warmup_cosine | constant
    warmup_epochs: float = 1.0
    ema_half_life: float | None = 0.5  # epochs; the weight average validated and kept (None/0: raw weights)
    threads: int | None = 1  # torch intra-op threads while training (None: torch's default, one per core)
    device: str = "auto"
    amp: str = "auto"  # auto | bf16 | fp16 | off
    compile: bool = False
    deterministic: bool = True
    grad_clip: float | None = None
    seed: int = 0
    eval_batch_size: int = 8192
    progress: bool = True
    check_every: int = 50  # steps between finite-loss checks (each one a host sync)


@dataclass
class FitResult:
    model: MultiTaskModel  # with the best epoch's weights
    history: list[dict[str, Any]]
    best_epoch: int
    epochs_run: int
    wall_time_s: float
    stop_reason: str  # "completed" | "early_stopping" | "callback: <message>"
    device: str = field(default="cpu")


@dataclass
class BestEpoch:
    """The best validation objective so far (lower is better), its epoch and weights, and the epochs since.

    Checkpoints keep it as a plain dict of these fields (format 1): renaming one needs a new format.
    """

    objective: float = math.inf
    epoch: int = 0
    state: dict[str, Tensor] | None = None
    bad_epochs: int = 0

    def update(self, epoch: int, objective: float, model: nn.Module, patience: int) -> bool:
        """Keep `model`'s weights when `objective` is a new best; True when patience has run out."""
        if objective < self.objective:
            self.objective, self.epoch, self.bad_epochs = objective, epoch, 0
            self.state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            return False
        self.bad_epochs += 1
        return self.bad_epochs > patience

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def fit(
    model: MultiTaskModel,
    weighting: Weighting,
    train_arrays: dict[str, np.ndarray],
    val_arrays: dict[str, np.ndarray] | None,
    settings: TrainSettings,
    callbacks: Sequence[Callback] = (),
    checkpoint_dir: str | Path | None = None,
    resume: bool = False,
    step_hooks: Sequence[StepHook] = (),
) -> FitResult:
    """Train `model` with `weighting`; early-stop on the validation objective; keep the best weights.

    The validation objective is the mean over tasks of the masked validation loss (lower is
    better). Callbacks `cb(epoch, row, model)` run after each epoch, before the early-stopping
    decision: one may replace `row["val_objective"]` (lower is better; `from_config` puts the judged
    metrics' Δm there) or raise `StopTraining`. With `settings.ema_half_life`, validation, callbacks
    and the kept weights all see the weight average (`mtlops.training.recipe.WeightAverage`).
    With `checkpoint_dir`, each epoch ends with a checkpoint there; `resume=True` continues from it
    and, on the CPU, reaches the same weights as an uninterrupted run. Seeds torch's global RNG
    with `settings.seed` (dropout, PCGrad's task order); each epoch's shuffle has its own seed.
    Regression target statistics are taken from `train_arrays` unless the model already has them.
    `step_hooks` `hook(model, batch, optimizer)` run before each step (measurements such as
    `mtlops.training.affinity.TaskAffinity`).

    In data-parallel processes, rank 0 alone validates, runs the callbacks, writes checkpoints and shows
    progress; every rank returns the same result.
    """
    ranks = Ranks.current()
    refuse_unsynchronised(weighting, ranks)
    device = resolve_device(settings.device)
    if ranks.parallel and device.type == "cuda":
        device = torch.device("cuda", torch.cuda.current_device())  # the GPU the launch gave this rank
    started = time.perf_counter()
    with _deterministic(settings.deterministic, device), _threads(settings.threads):
        setup = _set_up(model, weighting, train_arrays, val_arrays, settings, device, ranks)
        setup.step_hooks = tuple(step_hooks)
        run = _resume(checkpoint_dir, setup) if resume and checkpoint_dir is not None else _Run()
        with EpochProgress(settings.progress and ranks.main, model.task_names, settings.epochs) as progress:
            for epoch in range(run.epoch + 1, settings.epochs + 1):
                if run.stop_reason is not None:
                    break
                epoch_start = time.perf_counter()
                train_loss, weights = _train_epoch(setup, epoch, progress)
                weighting.on_epoch_end(epoch, train_loss)
                if ranks.parallel:
                    check_same_weights(model, epoch)
                with setup.averaged():
                    if ranks.main:
                        row, run.stop_reason = _history_row(setup, epoch, train_loss, weights, callbacks)
                    if ranks.parallel:
                        row, run.stop_reason = from_main((row, run.stop_reason) if ranks.main else None)
                    row["seconds"] = time.perf_counter() - epoch_start
                    run.history.append(row)
                    run.epoch = epoch
                    progress.end_epoch(row)
                    patience_out = run.best.update(epoch, row["val_objective"], model, setup.settings.patience)
                if patience_out and run.stop_reason is None:
                    run.stop_reason = "early_stopping"
                if checkpoint_dir is not None and ranks.main:
                    _save_checkpoint(checkpoint_dir, setup, run, started)
        if run.best.state is not None:
            model.load_state_dict(run.best.state)
        model.eval()
    return FitResult(
        model=model,
        history=run.history,
        best_epoch=int(run.best.epoch),
        epochs_run=len(run.history),
        wall_time_s=run.elapsed + time.perf_counter() - started,
        stop_reason=run.stop_reason or "completed",
        device=str(device),
    )


# ------------------------------------------------------------------------------------------- the steps
@dataclass
class _Setup:
    """What every step uses, built once: model, weighting and data on the device, the optimiser, the precision."""

    model: MultiTaskModel
    weighting: Weighting
    settings: TrainSettings
    device: torch.device
    train: TensorData
    val: TensorData | None
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    autocast: Callable[[], contextlib.AbstractContextManager]
    trunk: Callable[[dict[str, Tensor]], tuple[Tensor, ...]]  # compiled when `settings.compile`
    branches: Callable[[tuple[Tensor, ...]], dict[str, Tensor]]
    ranks: Ranks = field(default_factory=Ranks)
    step_hooks: tuple[StepHook, ...] = ()
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None
    average: WeightAverage | None = None

    def averaged(self) -> contextlib.AbstractContextManager:
        """The weight average in the model while validating and keeping the best (when there is one)."""
        return self.average.applied() if self.average is not None else contextlib.nullcontext()


@dataclass
class _Run:
    """Where training stands: the loop's part of a checkpoint."""

    epoch: int = 0  # the last finished epoch
    history: list[dict[str, Any]] = field(default_factory=list)
    best: BestEpoch = field(default_factory=BestEpoch)
    elapsed: float = 0.0  # seconds trained before this call (by the run a checkpoint resumes)
    stop_reason: str | None = None


def _set_up(
    model: MultiTaskModel,
    weighting: Weighting,
    train_arrays: dict[str, np.ndarray],
    val_arrays: dict[str, np.ndarray] | None,
    settings: TrainSettings,
    device: torch.device,
    ranks: Ranks,
) -> _Setup:
    """Seed torch; model, weighting and data onto the device; the optimiser and the loss scaler.

    Every rank seeds alike, so dropout and PCGrad's task order draw the same on each (the same
    number of draws: each rank's shard of a batch has the same size).
    """
    amp = resolve_amp(settings.amp, device)
    torch.manual_seed(settings.seed)
    if not bool(model.target_stats_set):
        model.set_target_stats(train_arrays)
    model.to(device)
    if ranks.parallel:
        broadcast_weights(model)
    weighting.to(device)
    train = TensorData(train_arrays, needed_keys(model, train_arrays), device)
    if len(train) == 0:
        raise ValueError("the training arrays have no rows")
    if settings.schedule not in ("warmup_cosine", "constant"):
        raise ValueError(f"train.schedule: {settings.schedule!r}; allowed: warmup_cosine, constant")
    batch_size = resolve_batch_size(settings.batch_size, len(train))
    settings = replace(settings, batch_size=batch_size)
    steps_per_epoch = train.n_batches(batch_size, ranks.world)
    val = None
    if val_arrays is not None and len(next(iter(val_arrays.values()), [])):
        val = TensorData(val_arrays, needed_keys(model, val_arrays), device)
    optimizer = _optimizer(model, weighting, settings)
    scaler = torch.amp.GradScaler(device.type, enabled=amp == torch.float16)
    autocast = contextlib.nullcontext if amp is None else functools.partial(torch.autocast, device.type, dtype=amp)
    trunk, branches = model.trunk, model.branches
    if settings.compile:  # trunk and branches apart: the cut between them is where weightings step in
        trunk, branches = torch.compile(trunk), torch.compile(branches)
    scheduler = None
    if settings.schedule == "warmup_cosine":
        warmup = max(1, round(settings.warmup_epochs * steps_per_epoch))
        scheduler = warmup_cosine(optimizer, warmup, settings.epochs * steps_per_epoch)
    average = WeightAverage(model, settings.ema_half_life, steps_per_epoch) if settings.ema_half_life else None
    return _Setup(model, weighting, settings, device, train, val, optimizer, scaler, autocast, trunk, branches,
                  ranks=ranks, scheduler=scheduler, average=average)  # fmt: skip


def _resume(directory: str | Path, setup: _Setup) -> _Run:
    """Restore weights, optimiser, weighting, loss scaler and RNG from the directory's checkpoint, if any."""
    saved = load_training_state(directory)
    if saved is None:
        return _Run()
    setup.model.load_state_dict(saved["model"])
    setup.optimizer.load_state_dict(saved["optimizer"])
    setup.weighting.load_state_dict(saved["weighting"])
    setup.scaler.load_state_dict(saved["scaler"])
    if setup.scheduler is not None and saved.get("scheduler"):
        setup.scheduler.load_state_dict(saved["scheduler"])
    if setup.average is not None and saved.get("average"):
        setup.average.load_state_dict(saved["average"])
    _set_rng(saved["rng"])
    stop_reason = None if saved["stop_reason"] == "completed" else saved["stop_reason"]
    return _Run(saved["epoch"], saved["history"], BestEpoch(**saved["best"]), saved["elapsed"], stop_reason)


def _train_epoch(setup: _Setup, epoch: int, progress: EpochProgress) -> tuple[dict[str, float], dict[str, float]]:
    """One pass over the training data in this epoch's seeded order: each task's mean loss and mean weight.

    In data-parallel processes each rank trains on its shard of every batch, its gradients averaged
    with the others' before the step; the losses returned are over all ranks' rows.
    """
    model, weighting, settings, names = setup.model, setup.weighting, setup.settings, setup.model.task_names
    optimizer, scaler, autocast, ranks = setup.optimizer, setup.scaler, setup.autocast, setup.ranks
    scale = scaler.scale if scaler.is_enabled() else None
    synced = [p for group in optimizer.param_groups for p in group["params"]] if ranks.parallel else []
    check = first_over_ranks if ranks.parallel else (lambda first: first)
    cuts = weighting.needs_cut
    model.train()
    assert isinstance(settings.batch_size, int), "fit resolved 'auto'"
    generator = torch.Generator().manual_seed(settings.seed * 1_000_003 + epoch)
    n_steps = setup.train.n_batches(settings.batch_size, ranks.world)
    progress.start_epoch(epoch, n_steps)
    sums = torch.zeros(len(names), device=setup.device)
    counts = torch.zeros(len(names), device=setup.device)
    weight_sums = torch.zeros(len(names), device=setup.device)
    first_bad = torch.full((len(names),), -1, dtype=torch.long, device=setup.device)
    for step, batch in enumerate(setup.train.batches(settings.batch_size, generator, ranks.rank, ranks.world)):
        for hook in setup.step_hooks:
            hook(model, batch, optimizer)
        with autocast():
            state = setup.trunk(batch)
            cut = Cut.of(state) if cuts else None  # a cut only for a method that reads it (`needs_cut`)
            terms = model.loss_terms(setup.branches(cut.leaves if cut else state), batch)
        losses = {t: masked_mean(s, n) for t, (s, n) in terms.items()}
        weights = weighting.backward(losses, model, cut, scale)
        if ranks.parallel:
            average_gradients(synced, ranks.world)
        if settings.grad_clip:
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        if setup.scheduler is not None:
            setup.scheduler.step()
        if setup.average is not None:
            setup.average.update()
        weighting.after_step(functools.partial(_losses_now, model, batch, autocast))
        with torch.no_grad():
            step_sums = torch.stack([terms[t][0].detach() for t in names])
            sums += step_sums
            counts += torch.stack([terms[t][1] for t in names])
            weight_sums += torch.stack([weights[t] for t in names])
            first_bad = torch.where((first_bad < 0) & ~torch.isfinite(step_sums), step, first_bad)
        if (step + 1) % settings.check_every == 0:
            _check_finite(check(first_bad), names, epoch)
        progress.step(step, sums, counts)
    _check_finite(check(first_bad), names, epoch)
    if ranks.parallel:
        sums, counts = sum_over_ranks(sums), sum_over_ranks(counts)
    train_loss = dict(zip(names, (sums / counts.clamp_min(1)).tolist()))
    return train_loss, dict(zip(names, (weight_sums / max(n_steps, 1)).tolist()))


def _history_row(
    setup: _Setup, epoch: int, train_loss: dict[str, float], weights: dict[str, float], callbacks: Sequence[Callback]
) -> tuple[dict[str, Any], str | None]:
    """The epoch's history row as the callbacks left it, and the stop reason when one raised `StopTraining`.

    Without validation data (or labels there) the objective is the mean training loss.
    """
    val, model = setup.val, setup.model
    val_loss = evaluate_losses(model, val, setup.settings.eval_batch_size, setup.autocast) if val else {}
    labelled = [v for v in val_loss.values() if v is not None] or list(train_loss.values())
    row = {
        "epoch": epoch,
        "train_loss": train_loss,
        "val_loss": val_loss,
        "weights": weights,
        "val_objective": float(np.mean(labelled)),
        "seconds": 0.0,
    }
    try:
        for callback in callbacks:
            callback(epoch, row, model)
    except StopTraining as stop:
        return row, f"callback: {stop}" if str(stop) else "callback"
    return row, None


def _save_checkpoint(directory: str | Path, setup: _Setup, run: _Run, started: float) -> None:
    """Everything `_resume` needs to continue after `run.epoch` as if never interrupted."""
    save_training_state(directory, {
        "epoch": run.epoch,
        "model": setup.model.state_dict(),
        "optimizer": setup.optimizer.state_dict(),
        "weighting": setup.weighting.state_dict(),
        "scaler": setup.scaler.state_dict(),
        "scheduler": setup.scheduler.state_dict() if setup.scheduler is not None else None,
        "average": setup.average.state_dict() if setup.average is not None else None,
        "rng": _get_rng(),
        "history": run.history,
        "best": run.best.to_dict(),
        "elapsed": run.elapsed + time.perf_counter() - started,
        "stop_reason": run.stop_reason or ("completed" if run.epoch == setup.settings.epochs else None),
        "settings": asdict(setup.settings),
    })


def evaluate_losses(
    model: MultiTaskModel,
    data: TensorData,
    batch_size: int = 8192,
    autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
) -> dict[str, float | None]:
    """Masked mean loss per task over all of `data` (None for a task with no labels there)."""
    was_training = model.training
    model.eval()
    names = model.task_names
    device = model.device
    sums = torch.zeros(len(names), device=device)
    counts = torch.zeros(len(names), device=device)
    with torch.inference_mode():
        for batch in data.batches(batch_size):
            with autocast():
                terms = model.loss_terms(model(batch), batch)
            sums += torch.stack([terms[t][0] for t in names])
            counts += torch.stack([terms[t][1] for t in names])
    model.train(was_training)
    means = (sums / counts.clamp_min(1)).tolist()
    return {t: (m if c > 0 else None) for t, m, c in zip(names, means, counts.tolist())}


# ---------------------------------------------------------------------------------------------- helpers
def _optimizer(model: MultiTaskModel, weighting: Weighting, s: TrainSettings) -> torch.optim.Optimizer:
    groups = [{"params": [p for p in model.parameters() if p.requires_grad], "weight_decay": s.weight_decay}]
    extra = weighting.parameters()
    if extra:
        groups.append({"params": extra, "weight_decay": 0.0})
    if s.optimizer not in ("adam", "adamw", "sgd"):
        raise ValueError(f"train.optimizer: {s.optimizer!r}; allowed: adam, adamw, sgd")
    if s.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=s.lr, momentum=0.9, foreach=True)
    cls = torch.optim.Adam if s.optimizer == "adam" else torch.optim.AdamW
    try:  # one fused kernel for all parameters: on the CPU the per-tensor loop costs more than the math
        return cls(groups, lr=s.lr, fused=True)
    except (RuntimeError, ValueError):  # a device without a fused kernel
        return cls(groups, lr=s.lr, foreach=True)


def _losses_now(model: MultiTaskModel, batch: dict[str, Tensor], autocast) -> dict[str, Tensor]:
    with torch.no_grad(), autocast():
        return model.losses(model(batch), batch)


def _check_finite(first_bad: Tensor, names: list[str], epoch: int) -> None:
    bad = {t: s for t, s in zip(names, first_bad.tolist()) if s >= 0}
    if bad:
        step = min(bad.values())
        first = " and ".join(repr(t) for t, s in bad.items() if s == step)
        later = ", ".join(f"{t!r} at step {s + 1}" for t, s in bad.items() if s != step)
        raise NonFiniteLoss(
            f"non-finite training loss for task {first} in epoch {epoch}, step {step + 1}"
            + (f" (then {later})" if later else "")
            + ": check that labelled rows and features are finite (masked rows may hold anything), "
            "or lower train.lr / set train.grad_clip"
        )


def _get_rng() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


@contextlib.contextmanager
def _threads(n: int | None) -> Iterator[None]:
    """torch's intra-op threads while training, restored after: on a shared 2-core machine one thread ran
    ×8-15 faster than two (issue #13), because two spin-wait against every other process."""
    if not n:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@contextlib.contextmanager
def _deterministic(enabled: bool, device: torch.device) -> Iterator[None]:
    """Deterministic kernels while training on an accelerator (warn-only where torch has none).

    On the CPU the kernels this model uses are deterministic already (seeded runs repeat exactly),
    and the switch itself imports torch's inductor (seconds), so it is left alone there.
    """
    if not enabled or device.type == "cpu":
        yield
        return
    if device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    previous = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled())
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous[0], warn_only=previous[1])
