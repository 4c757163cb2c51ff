"""One head per task type: the output layer, its masked loss, and the prediction transform.

Every loss honours the label mask: a masked row's label is replaced before the loss is computed
and its loss term is selected away with `torch.where`, so its label may be anything (NaN, an
out-of-range class) and it adds nothing to the loss or to any gradient. A batch without a label
for a task gives sum 0 over count 0, and `masked_mean` turns that into a zero loss that is still
attached to the graph (zero gradients, no 0/0).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mtlops.models.spec import TaskSpec


def masked_mean(total: Tensor, count: Tensor) -> Tensor:
    return total / count.clamp_min(1.0)


class TaskHead(nn.Module):
    """Linear layer from the task's representation to its raw output (logits / standardised values)."""

    def __init__(self, spec: TaskSpec, in_dim: int) -> None:
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


class BinaryHead(TaskHead):
    """One logit; BCE with the optional positive-class weight; predicts P(y = 1)."""

    def __init__(self, spec: TaskSpec, in_dim: int) -> None:
        super().__init__(spec, in_dim)
        # from the spec, not the state dict: a file always carries its own spec
        self.register_buffer("pos_weight", torch.tensor(float(spec.pos_weight or 1.0)), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(x).squeeze(-1)

    def per_row_loss(self, raw: Tensor, y: Tensor) -> Tensor:
        return F.binary_cross_entropy_with_logits(raw, y.float(), pos_weight=self.pos_weight, reduction="none")

    def predict(self, raw: Tensor) -> Tensor:
        return torch.sigmoid(raw.float())


class MulticlassHead(TaskHead):
    """K logits; cross-entropy on class indices; predicts the class probabilities [B, K]."""

    def _clean(self, y: Tensor, mask: Tensor) -> Tensor:
        return torch.where(mask, y.long(), 0)

    def per_row_loss(self, raw: Tensor, y: Tensor) -> Tensor:
        return F.cross_entropy(raw, y, reduction="none")

    def predict(self, raw: Tensor) -> Tensor:
        return torch.softmax(raw.float(), dim=-1)


class RegressionHead(TaskHead):
    """`dim` values (1 for regression, k for multi_regression), trained on standardised targets.

    Targets are standardised with training-split statistics kept as buffers (`set_stats`), so
    tasks on different scales give comparable losses; `predict` maps back to the raw scale.
    """

    LOSSES = {
        "mse": lambda a, b: F.mse_loss(a, b, reduction="none"),
        "huber": lambda a, b: F.huber_loss(a, b, reduction="none", delta=1.0),
        "l1": lambda a, b: F.l1_loss(a, b, reduction="none"),
    }

    def __init__(self, spec: TaskSpec, in_dim: int) -> None:
        super().__init__(spec, in_dim)
        self.register_buffer("mean", torch.zeros(spec.dim))
        self.register_buffer("std", torch.ones(spec.dim))
        self._loss = self.LOSSES[spec.loss]

    def forward(self, x: Tensor) -> Tensor:
        out = self.linear(x)
        return out.squeeze(-1) if self.spec.type == "regression" else out

    def standardise(self, y: Tensor) -> Tensor:
        shape = (-1,) if self.spec.type == "regression" else (1, -1)
        return (y.float() - self.mean.view(shape)) / self.std.view(shape)

    def per_row_loss(self, raw: Tensor, y: Tensor) -> Tensor:
        loss = self._loss(raw, self.standardise(y))
        return loss if loss.dim() == 1 else loss.mean(dim=-1)

    def predict(self, raw: Tensor) -> Tensor:
        shape = (-1,) if self.spec.type == "regression" else (1, -1)
        return raw.float() * self.std.view(shape) + self.mean.view(shape)

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


HEADS: dict[str, type[TaskHead]] = {
    "binary": BinaryHead,
    "multiclass": MulticlassHead,
    "regression": RegressionHead,
    "multi_regression": RegressionHead,
}


def build_head(spec: TaskSpec, in_dim: int) -> TaskHead:
    return HEADS[spec.type](spec, in_dim)
