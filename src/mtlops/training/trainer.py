"""The training loop: one function, read top to bottom.

Batches are drawn by index from tensors that sit on the device; per-task loss sums and label
counts accumulate on the device, so the hot loop reads nothing back to the host except a finite
check every `check_every` steps (and the progress bar, when shown). The weighting method does the
backward pass; the loop never asks which method it is.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from mtlops.models import Cut, MultiTaskModel
from mtlops.task_types import masked_mean
from mtlops.training.checkpoint import load_training_state, save_training_state
from mtlops.training.data import TensorData, needed_keys
from mtlops.training.device import resolve_amp, resolve_device
from mtlops.training.progress import EpochProgress
from mtlops.weighting import Weighting

Callback = Callable[[int, dict[str, Any], MultiTaskModel], None]


class StopTraining(Exception):
    """Raised by a callback to end training after the current epoch (the message becomes the stop reason)."""


class NonFiniteLoss(RuntimeError):
    """A task's training loss became NaN or infinite."""


@dataclass
class TrainSettings:
    """How to train (params.yaml's `train` section, plus a seed and loop details)."""

    epochs: int = 10
    batch_size: int = 1024
    lr: float = 1e-3
    weight_decay: float = 0.0
    optimizer: str = "adamw"  # adam | adamw | sgd (momentum 0.9)
    patience: int = 3  # epochs without validation improvement tolerated before stopping
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


def fit(
    model: MultiTaskModel,
    weighting: Weighting,
    train_arrays: dict[str, np.ndarray],
    val_arrays: dict[str, np.ndarray] | None,
    settings: TrainSettings,
    callbacks: Sequence[Callback] = (),
    checkpoint_dir: str | Path | None = None,
    resume: bool = False,
) -> FitResult:
    """Train `model` with `weighting`; early-stop on the validation objective; keep the best weights.

    The validation objective is the mean over tasks of the masked validation loss (lower is
    better). Callbacks `cb(epoch, row, model)` run after each epoch, before the early-stopping
    decision: one may replace `row["val_objective"]` (lower is better) or raise `StopTraining`.
    With `checkpoint_dir`, each epoch ends with a checkpoint there; `resume=True` continues from it
    and, on the CPU, reaches the same weights as an uninterrupted run. Seeds torch's global RNG
    with `settings.seed` (dropout, PCGrad's task order); each epoch's shuffle has its own seed.
    Regression target statistics are taken from `train_arrays` unless the model already has them.
    """
    device = resolve_device(settings.device)
    amp = resolve_amp(settings.amp, device)
    names = model.task_names
    started = time.perf_counter()

    with _deterministic(settings.deterministic, device):
        torch.manual_seed(settings.seed)
        if not bool(model.target_stats_set):
            model.set_target_stats(train_arrays)
        model.to(device)
        weighting.to(device)
        train = TensorData(train_arrays, needed_keys(model, train_arrays), device)
        if len(train) == 0:
            raise ValueError("the training arrays have no rows")
        val = None
        if val_arrays is not None and len(next(iter(val_arrays.values()), [])):
            val = TensorData(val_arrays, needed_keys(model, val_arrays), device)
        optimizer = _optimizer(model, weighting, settings)
        scaler = torch.amp.GradScaler(device.type, enabled=amp == torch.float16)
        scale = scaler.scale if scaler.is_enabled() else None
        trunk, branches = model.trunk, model.branches
        if settings.compile:
            trunk, branches = torch.compile(trunk), torch.compile(branches)

        history: list[dict[str, Any]] = []
        best = {"objective": math.inf, "epoch": 0, "state": None, "bad_epochs": 0}
        first_epoch, elapsed, stop_reason = 1, 0.0, None
        saved = load_training_state(checkpoint_dir) if (resume and checkpoint_dir) else None
        if saved is not None:
            model.load_state_dict(saved["model"])
            optimizer.load_state_dict(saved["optimizer"])
            weighting.load_state_dict(saved["weighting"])
            scaler.load_state_dict(saved["scaler"])
            _set_rng(saved["rng"])
            history, best, elapsed = saved["history"], saved["best"], saved["elapsed"]
            first_epoch = saved["epoch"] + 1
            stop_reason = saved["stop_reason"] if saved["stop_reason"] != "completed" else None

        def autocast() -> contextlib.AbstractContextManager:
            if amp is None:
                return contextlib.nullcontext()
            return torch.autocast(device.type, dtype=amp)

        progress = EpochProgress(settings.progress, names, settings.epochs)
        with progress:
            for epoch in range(first_epoch, settings.epochs + 1):
                if stop_reason is not None:
                    break
                epoch_start = time.perf_counter()
                model.train()
                generator = torch.Generator().manual_seed(settings.seed * 1_000_003 + epoch)
                n_steps = math.ceil(len(train) / settings.batch_size)
                progress.start_epoch(epoch, n_steps)
                sums = torch.zeros(len(names), device=device)
                counts = torch.zeros(len(names), device=device)
                weight_sums = torch.zeros(len(names), device=device)
                first_bad = torch.full((len(names),), -1, dtype=torch.long, device=device)
                for step, batch in enumerate(train.batches(settings.batch_size, generator)):
                    with autocast():
                        cut = Cut.of(trunk(batch))
                        terms = model.loss_terms(branches(cut.leaves), batch)
                    losses = {t: masked_mean(s, n) for t, (s, n) in terms.items()}
                    weights = weighting.backward(losses, model, cut, scale)
                    if settings.grad_clip:
                        scaler.unscale_(optimizer)
                        torch.nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
                    scaler.step(optimizer)
                    scaler.update()
                    optimizer.zero_grad(set_to_none=True)
                    weighting.after_step(lambda b=batch: _losses_now(model, b, autocast))
                    with torch.no_grad():
                        step_sums = torch.stack([terms[t][0].detach() for t in names])
                        sums += step_sums
                        counts += torch.stack([terms[t][1] for t in names])
                        weight_sums += torch.stack([weights[t] for t in names])
                        first_bad = torch.where((first_bad < 0) & ~torch.isfinite(step_sums), step, first_bad)
                    if (step + 1) % settings.check_every == 0:
                        _check_finite(first_bad, names, epoch)
                    progress.step(step, sums, counts)
                _check_finite(first_bad, names, epoch)

                train_loss = dict(zip(names, (sums / counts.clamp_min(1)).tolist()))
                weighting.on_epoch_end(epoch, train_loss)
                val_loss = evaluate_losses(model, val, settings.eval_batch_size, autocast) if val else {}
                labelled = [v for t, v in val_loss.items() if v is not None] or list(train_loss.values())
                row = {
                    "epoch": epoch,
                    "train_loss": train_loss,
                    "val_loss": val_loss,
                    "weights": dict(zip(names, (weight_sums / max(n_steps, 1)).tolist())),
                    "val_objective": float(np.mean(labelled)),
                    "seconds": 0.0,
                }
                try:
                    for callback in callbacks:
                        callback(epoch, row, model)
                except StopTraining as stop:
                    stop_reason = f"callback: {stop}" if str(stop) else "callback"
                row["seconds"] = time.perf_counter() - epoch_start
                history.append(row)
                progress.end_epoch(row)

                if row["val_objective"] < best["objective"]:
                    best = {"objective": row["val_objective"], "epoch": epoch, "bad_epochs": 0,
                            "state": {k: v.detach().clone() for k, v in model.state_dict().items()}}
                else:
                    best["bad_epochs"] += 1
                    if best["bad_epochs"] > settings.patience and stop_reason is None:
                        stop_reason = "early_stopping"
                if checkpoint_dir is not None:
                    save_training_state(checkpoint_dir, {
                        "epoch": epoch,
                        "model": model.state_dict(),
                        "optimizer": optimizer.state_dict(),
                        "weighting": weighting.state_dict(),
                        "scaler": scaler.state_dict(),
                        "rng": _get_rng(),
                        "history": history,
                        "best": best,
                        "elapsed": elapsed + time.perf_counter() - started,
                        "stop_reason": stop_reason or ("completed" if epoch == settings.epochs else None),
                        "settings": asdict(settings),
                    })

        if best["state"] is not None:
            model.load_state_dict(best["state"])
        model.eval()
    return FitResult(
        model=model,
        history=history,
        best_epoch=int(best["epoch"]),
        epochs_run=len(history),
        wall_time_s=elapsed + time.perf_counter() - started,
        stop_reason=stop_reason or "completed",
        device=str(device),
    )


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
