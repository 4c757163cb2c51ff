"""Each task type's head: the torch half of a task type (`mtlops.task_types` holds the rest, torch-free).

`HEADS` maps a task type's class to its head class (a subclass of a type uses its parent's unless it
has its own line), so the params schema and every command that
only reads the config never import torch; `build_head` looks a task's head up by its type.

Every head's loss honours the label mask: a masked row's label is replaced before the loss is
computed and its loss term is selected away with `torch.where`, so its label may be anything (NaN,
an out-of-range class) and it adds nothing to the loss or to any gradient. A batch without a label
for a task gives sum 0 over count 0, and `masked_mean` turns that into a zero loss that is still
attached to the graph (zero gradients, no 0/0).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mtlops.models.spec import ModelSpecError
from mtlops.task_types import TaskType, task_type
from mtlops.task_types.binary import Binary
from mtlops.task_types.multi_regression import MultiRegression
from mtlops.task_types.multiclass import Multiclass
from mtlops.task_types.regression import Regression


def masked_mean(total: Tensor, count: Tensor) -> Tensor:
    return total / count.clamp_min(1.0)


class TaskHead(nn.Module):
    """Linear layer from the task's representation to its raw output (logits / standardised values)."""

    def __init__(self, spec: Any, in_dim: int) -> None:
        super().__init__()
        self.spec = spec
        self.linear = nn.Linear(in_dim, spec.out_features)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(x)

    def loss_terms(self, raw: Tensor, y: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """(sum of the per-row losses over labelled rows, number of labelled rows), both float32 scalars."""
        per_row = self.per_row_loss(raw.float(), self._clean(y, mask))
        return torch.where(mask, per_row, 0.0).sum(), mask.sum(dtype=torch.float32)

    def _clean(self, y: Tensor, mask: Tensor) -> Tensor:
        fill = torch.zeros((), dtype=y.dtype, device=y.device)
        return torch.where(mask.view(-1, *([1] * (y.dim() - 1))), y, fill)

    def per_row_loss(self, raw: Tensor, y: Tensor) -> Tensor:  # pragma: no cover - interface
        raise NotImplementedError

    def predict(self, raw: Tensor) -> Tensor:  # pragma: no cover - interface
        raise NotImplementedError

    def set_stats(self, y: np.ndarray, mask: np.ndarray) -> None:
        """Learn what the head needs from the training labels (regression: their mean and std); nothing here."""


# ---------------------------------------------------------------------------------------------- binary
class BinaryHead(TaskHead):
    """One logit; BCE with the optional positive-class weight; predicts P(y = 1)."""

    pos_weight: Tensor

    def __init__(self, spec: Any, in_dim: int) -> None:
        super().__init__(spec, in_dim)
        # from the spec, not the state dict: a file always carries its own spec
        self.register_buffer("pos_weight", torch.tensor(float(spec.pos_weight or 1.0)), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(x).squeeze(-1)

    def per_row_loss(self, raw: Tensor, y: Tensor) -> Tensor:
        return F.binary_cross_entropy_with_logits(raw, y.float(), pos_weight=self.pos_weight, reduction="none")

    def predict(self, raw: Tensor) -> Tensor:
        return torch.sigmoid(raw.float())


# ------------------------------------------------------------------------------------------ multiclass
class MulticlassHead(TaskHead):
    """K logits; cross-entropy on class indices; predicts the class probabilities [B, K]."""

    def _clean(self, y: Tensor, mask: Tensor) -> Tensor:
        return torch.where(mask, y.long(), 0)

    def per_row_loss(self, raw: Tensor, y: Tensor) -> Tensor:
        return F.cross_entropy(raw, y, reduction="none")

    def predict(self, raw: Tensor) -> Tensor:
        return torch.softmax(raw.float(), dim=-1)


# ------------------------------------------------------------------------------------------ regression
# the regression types' loss names (`Regression.losses`), as functions of (standardised raw, target)
REGRESSION_LOSSES = {
    "mse": lambda a, b: F.mse_loss(a, b, reduction="none"),
    "huber": lambda a, b: F.huber_loss(a, b, reduction="none", delta=1.0),
    "l1": lambda a, b: F.l1_loss(a, b, reduction="none"),
}


class RegressionHead(TaskHead):
    """`dim` values trained on standardised targets; `predict` maps them back to the raw scale."""

    mean: Tensor
    std: Tensor

    stats_shape: tuple[int, ...] = (-1,)  # how the per-column statistics broadcast against a batch [B]

    def __init__(self, spec: Any, in_dim: int) -> None:
        super().__init__(spec, in_dim)
        self.register_buffer("mean", torch.zeros(spec.dim))
        self.register_buffer("std", torch.ones(spec.dim))
        self._loss = REGRESSION_LOSSES[spec.loss]

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(x).squeeze(-1)

    def standardise(self, y: Tensor) -> Tensor:
        return (y.float() - self.mean.view(self.stats_shape)) / self.std.view(self.stats_shape)

    def per_row_loss(self, raw: Tensor, y: Tensor) -> Tensor:
        loss = self._loss(raw, self.standardise(y))
        return loss if loss.dim() == 1 else loss.mean(dim=-1)

    def predict(self, raw: Tensor) -> Tensor:
        return raw.float() * self.std.view(self.stats_shape) + self.mean.view(self.stats_shape)

    @torch.no_grad()
    def set_stats(self, y: np.ndarray, mask: np.ndarray) -> None:
        """Mean and std of the labelled rows (std 1 where it is 0 or there are no labels)."""
        y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)[np.asarray(mask, dtype=bool)]
        if len(y) == 0:
            mean, std = np.zeros(self.spec.dim), np.ones(self.spec.dim)
        else:
            mean, std = y.mean(axis=0), y.std(axis=0)
            std = np.where(np.isfinite(std) & (std > 1e-12), std, 1.0)
        self.mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        self.std.copy_(torch.as_tensor(std, dtype=torch.float32))


class MultiRegressionHead(RegressionHead):
    """[B, k] values; the statistics broadcast per column."""

    stats_shape = (1, -1)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(x)


# ------------------------------------------------------------------------------------------ the table
HEADS: dict[type[TaskType], type[TaskHead]] = {
    Binary: BinaryHead,
    Multiclass: MulticlassHead,
    Regression: RegressionHead,
    MultiRegression: MultiRegressionHead,
}


def build_head(spec: Any, in_dim: int) -> TaskHead:
    """The head of `spec`'s task type (a `TaskSpec`) on `in_dim` inputs."""
    kind = type(task_type(spec.type))
    head = next((HEADS[c] for c in kind.__mro__ if c in HEADS), None)  # a subclass of a type shares its head
    if head is None:
        raise ModelSpecError(f"task {spec.name!r}: task type {spec.type!r} has no head in mtlops.models.heads.HEADS")
    return head(spec, in_dim)
