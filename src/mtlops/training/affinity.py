"""Inter-task affinity, measured during training (Fifty et al., NeurIPS 2021, "Efficiently Identifying
Task Groupings for Multi-Task Networks").

    Z_{i→j} = 1 − L_j(θ_s − η ∇_{θ_s} L_i, θ_j) / L_j(θ_s, θ_j)

on the batch about to be trained on: how much one SGD step of the shared parameters θ_s on task i's
loss alone (η: the optimiser's current learning rate) lowers task j's loss. Positive: i's gradient
helps j; negative: it hurts j. The look-ahead runs in eval mode (no dropout noise, no batch-norm
statistics updated) through `torch.func.functional_call`, so the model's parameters, buffers and
gradients and the optimiser's state stay exactly as they were.

`TaskAffinity` is both a step hook (`fit(step_hooks=[a])`) and an epoch callback
(`fit(callbacks=[a.end_epoch])`): each epoch's sums go into the history row, so a resumed run keeps
the measurements of the epochs before the interruption; `affinity_from_history` averages them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.func import functional_call

from mtlops.models import MultiTaskModel

HISTORY_KEY = "affinity"


def lookahead_affinity(model: MultiTaskModel, batch: dict[str, Tensor], lr: float) -> np.ndarray:
    """The T×T matrix Z[i, j] = Z_{i→j} on this batch (NaN where task j has no labelled row or zero loss)."""
    names = model.task_names
    shared_ids = {id(p) for p in model.shared_parameters() if p.requires_grad}
    shared = {n: p for n, p in model.named_parameters() if id(p) in shared_ids}
    z = np.full((len(names), len(names)), np.nan)
    if not shared:
        return z
    was_training = model.training
    model.eval()
    try:
        losses = model.losses(model(batch), batch)
        before = torch.stack([losses[t].detach() for t in names])
        for i, task in enumerate(names):
            if not losses[task].requires_grad:
                continue
            grads = torch.autograd.grad(losses[task], list(shared.values()), retain_graph=True, allow_unused=True)
            with torch.no_grad():
                stepped = {n: p - lr * g for (n, p), g in zip(shared.items(), grads) if g is not None}
                after_losses = model.losses(functional_call(model, stepped, (batch,), strict=False), batch)
                after = torch.stack([after_losses[t] for t in names])
                z[i] = torch.where(before > 0, 1 - after / before, torch.nan).double().cpu().numpy()
    finally:
        model.train(was_training)
    return z


class TaskAffinity:
    """Averages `lookahead_affinity` over training, measured on every `every`-th step of each epoch."""

    def __init__(self, task_names: Sequence[str], every: int) -> None:
        if every < 1:
            raise ValueError(f"affinity: every must be >= 1 step, got {every}")
        self.task_names = list(task_names)
        self.every = every
        self._reset()

    def _reset(self) -> None:
        t = len(self.task_names)
        self._step = 0
        self._sum, self._sumsq, self._count = np.zeros((t, t)), np.zeros((t, t)), np.zeros((t, t))

    def __call__(self, model: MultiTaskModel, batch: dict[str, Tensor], optimizer: torch.optim.Optimizer) -> None:
        step, self._step = self._step, self._step + 1
        if step % self.every:
            return
        z = lookahead_affinity(model, batch, float(optimizer.param_groups[0]["lr"]))
        seen = np.isfinite(z)
        self._sum[seen] += z[seen]
        self._sumsq[seen] += z[seen] ** 2
        self._count += seen

    def end_epoch(self, epoch: int, row: dict[str, Any], model: MultiTaskModel) -> None:
        """Epoch callback: this epoch's sums into `row["affinity"]`, then start the next epoch afresh."""
        row[HISTORY_KEY] = {"sum": self._sum.tolist(), "sumsq": self._sumsq.tolist(), "count": self._count.tolist()}
        self._reset()


def affinity_from_history(history: Sequence[dict[str, Any]], task_names: Sequence[str]) -> dict[str, Any] | None:
    """The mean affinity over all epochs of a training history, with its standard error per pair.

    Returns {"tasks", "matrix" (rows: the task stepped on, i; columns: the task affected, j), "stderr",
    "measurements"} with None for pairs never measured, or None when the history holds no measurement.
    """
    rows = [r[HISTORY_KEY] for r in history if HISTORY_KEY in r]
    if not rows:
        return None
    total, totalsq, count = (
        np.sum([np.asarray(r[k], dtype=float) for r in rows], axis=0) for k in ("sum", "sumsq", "count")
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count
        var = (totalsq / count - mean**2) * count / (count - 1)
        stderr = np.sqrt(np.clip(var, 0, None) / count)
    return {
        "tasks": list(task_names),
        "matrix": _nullable(mean, count > 0),
        "stderr": _nullable(stderr, count > 1),
        "measurements": int(count.max()) if count.size else 0,
    }


def affinity_subset(affinity: dict[str, Any] | None, task_names: Sequence[str]) -> dict[str, Any] | None:
    """The affinity among `task_names` alone (a network that trained auxiliary tasks too measured them all)."""
    if affinity is None or list(affinity["tasks"]) == list(task_names):
        return affinity
    index = [affinity["tasks"].index(t) for t in task_names]
    return {**affinity, "tasks": list(task_names),
            **{k: [[affinity[k][i][j] for j in index] for i in index] for k in ("matrix", "stderr")}}


def _nullable(values: np.ndarray, keep: np.ndarray) -> list[list[float | None]]:
    return [[float(v) if k and np.isfinite(v) else None for v, k in zip(row, krow)] for row, krow in zip(values, keep)]
