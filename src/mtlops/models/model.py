"""The multi-task model: encoder -> architecture (trunk, then a branch per task) -> one head per task."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from mtlops.models.architectures import ARCHITECTURES
from mtlops.models.encoders import build_encoder
from mtlops.models.heads import TaskHead, build_head, masked_mean
from mtlops.models.spec import ModelSpec, ModelSpecError

INPUT_KEYS = ("num", "cat", "text", "text_len", "image")


@dataclass
class Cut:
    """The graph cut between the shared trunk and the task branches.

    `state` are the trunk's outputs (attached to the trunk's graph); `leaves` are detached copies
    the branches read. Backpropagating the task losses fills `leaves[i].grad`; `backward()` then
    carries those gradients through the trunk in one pass. Gradient-based weightings instead send
    their own per-task gradients into `state`.
    """

    state: tuple[Tensor, ...]
    leaves: tuple[Tensor, ...]

    @classmethod
    def of(cls, state: tuple[Tensor, ...]) -> Cut:
        return cls(state, tuple(s.detach().requires_grad_(s.requires_grad) for s in state))

    def backward(self) -> None:
        pairs = [(s, leaf.grad) for s, leaf in zip(self.state, self.leaves) if leaf.grad is not None]
        if pairs:
            torch.autograd.backward([s for s, _ in pairs], [g for _, g in pairs])


class MultiTaskModel(nn.Module):
    """`model(batch) -> {task: raw output}`; losses, predictions and parameter groups per task.

    Raw outputs: binary [B] logits, multiclass [B, K] logits, regression [B] and multi_regression
    [B, k] in standardised units. `predict_outputs` maps them to probabilities / raw-scale values.
    """

    heads: Mapping[str, TaskHead]
    target_stats_set: Tensor

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.spec = spec
        self.task_names = spec.task_names
        self.encoder = build_encoder(spec.inputs, spec.encoder)
        if spec.architecture not in ARCHITECTURES:
            raise ModelSpecError(f"unknown architecture {spec.architecture!r}; allowed: {sorted(ARCHITECTURES)}")
        arch_cls = ARCHITECTURES[spec.architecture]
        try:
            problem = arch_cls.check_params(dict(spec.arch_params), self.task_names)
        except TypeError as err:  # an unknown key
            problem = str(err)
        if problem:
            raise ModelSpecError(f"architecture {spec.architecture!r}: {problem}")
        self.architecture = arch_cls(self.encoder.out_dim, self.task_names, dict(spec.arch_params))
        self.members = int(self.architecture.members)  # an ensemble's rows are (row, member) pairs
        # record the resolved params, so a checkpoint rebuilds the same shapes after a default changes
        self.spec = dataclasses.replace(spec, arch_params=dataclasses.asdict(self.architecture.params))
        self.heads = nn.ModuleDict(  # type: ignore[assignment]  # torch's ModuleList/ModuleDict are not generic
            {t.name: build_head(t, self.architecture.out_dim(t.name)) for t in spec.tasks}
        )
        self.register_buffer("target_stats_set", torch.tensor(False))
        self._loss_weights = {t.name: float(t.loss_weight) for t in spec.tasks}
        # the tasks `mtlops.training.predict` returns: auxiliary heads train, never serve
        self.served_task_names = spec.served_task_names

    # ----------------------------------------------------------------- forward
    def trunk(self, batch: dict[str, Tensor]) -> tuple[Tensor, ...]:
        """Encoder + the architecture's shared part: what every task reads."""
        return self.architecture.trunk(self.encoder(batch))

    def branches(self, state: tuple[Tensor, ...]) -> dict[str, Tensor]:
        """Each task's branch and head on the trunk state: raw outputs per task."""
        arch = self.architecture
        return {t: self.heads[t](arch.branch(t, state)) for t in self.task_names}

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        return self.branches(self.trunk(batch))

    # ------------------------------------------------------------------ losses
    def loss_terms(self, outputs: dict[str, Tensor], batch: dict[str, Tensor]) -> dict[str, tuple[Tensor, Tensor]]:
        """{task: (sum of per-row losses over labelled rows, labelled rows)}: exact means over many batches. The
        sum is times the task's `loss_weight` (1 unless set): the loss every caller trains, weighs and records."""
        terms = {}
        for t in self.task_names:
            y = batch[f"y_{t}"]
            mask = batch.get(f"mask_{t}")
            if mask is None:
                mask = torch.ones(y.shape[0], dtype=torch.bool, device=y.device)
            elif mask.dtype != torch.bool:
                mask = mask.bool()
            if self.members > 1:  # every member's loss counts: each label once per member
                y, mask = y.repeat_interleave(self.members, 0), mask.repeat_interleave(self.members, 0)
            total, count = self.heads[t].loss_terms(outputs[t], y, mask)
            terms[t] = (total * self._loss_weights[t] if self._loss_weights[t] != 1 else total, count)
        return terms

    def losses(self, outputs: dict[str, Tensor], batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Mean loss per task over the batch's labelled rows (0, still differentiable, when none), times the
        task's `loss_weight` (what the weighting method then combines)."""
        return {t: masked_mean(s, n) for t, (s, n) in self.loss_terms(outputs, batch).items()}

    def regularization(self) -> Tensor | float:
        return self.architecture.regularization()

    # ------------------------------------------------------------- predictions
    def predict_outputs(self, outputs: dict[str, Tensor]) -> dict[str, Tensor]:
        """Raw outputs (of any of its tasks) -> probabilities (binary [B], multiclass [B, K]) or raw-scale values;
        an ensemble's members' predictions averaged."""
        preds = {t: self.heads[t].predict(out) for t, out in outputs.items()}
        if self.members > 1:
            preds = {t: p.reshape(-1, self.members, *p.shape[1:]).mean(1) for t, p in preds.items()}
        return preds

    @torch.no_grad()
    def set_target_stats(self, train_arrays: dict[str, np.ndarray]) -> None:
        """Give each head the training split's labels (regression: mean and std, stored as buffers)."""
        for t in self.task_names:
            y = train_arrays[f"y_{t}"]
            mask = train_arrays.get(f"mask_{t}", np.ones(len(y), dtype=bool))
            self.heads[t].set_stats(y, mask)
        self.target_stats_set.fill_(True)

    # -------------------------------------------------------------- parameters
    def trunk_parameters(self) -> list[nn.Parameter]:
        return list(self.encoder.parameters()) + self.architecture.trunk_parameters()

    def shared_parameters(self) -> list[nn.Parameter]:
        """Parameters more than one task's loss reaches: what gradient-based weighting operates on."""
        return list(self.encoder.parameters()) + self.architecture.shared_parameters()

    def branch_parameters(self, task: str) -> list[nn.Parameter]:
        """The parameters of task `task`'s branch and head (after the cut)."""
        return list(self.architecture.towers[task].parameters()) + list(self.heads[task].parameters())

    def task_parameters(self, task: str) -> list[nn.Parameter]:
        """Every parameter only task `task`'s loss reaches."""
        return self.architecture.task_parameters(task) + list(self.heads[task].parameters())

    def last_shared_parameters(self) -> list[nn.Parameter]:
        """The last shared layer's weights (GradNorm); the encoder's when the architecture shares none."""
        return self.architecture.last_shared_parameters() or self.encoder.last_layer_parameters()

    @property
    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    @property
    def input_keys(self) -> list[str]:
        return [k for k in INPUT_KEYS if k in self.spec.inputs or (k == "text_len" and "text" in self.spec.inputs)]

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device


def build_model(spec: ModelSpec | dict[str, Any]) -> MultiTaskModel:
    """A fresh model from its spec (a `ModelSpec` or its `to_dict()`); weights from the global torch RNG."""
    if isinstance(spec, dict):
        spec = ModelSpec.from_dict(spec)
    return MultiTaskModel(spec)
