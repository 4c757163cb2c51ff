"""Regression: one real value per row, trained on the standardised target; MSE, Huber or L1.

Targets are standardised with training-split statistics kept as head buffers (`set_stats`), so tasks
on different scales give comparable losses; predictions are mapped back to the raw scale. Output
column `<task>`. Metrics: MAE (the default), RMSE, R² (NaN on fewer than two rows or a constant target).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from mtlops.task_types.base import NAN, Metric, TaskHead, TaskType


# ---------------------------------------------------------------------------------------------- metrics
def mae(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn import metrics as skm

    return float(skm.mean_absolute_error(y, p)) if len(y) else NAN


def rmse(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn import metrics as skm

    return float(skm.root_mean_squared_error(y, p)) if len(y) else NAN


def r2(y: np.ndarray, p: np.ndarray) -> float:
    # R² of a constant target is undefined: force_finite=False makes it nan/-inf, which we drop; with
    # several outputs the mean is over the outputs where it is defined.
    from sklearn import metrics as skm

    if len(y) < 2:
        return NAN
    with np.errstate(divide="ignore", invalid="ignore"):
        values = np.atleast_1d(skm.r2_score(y, p, multioutput="raw_values", force_finite=False))
    values = values[np.isfinite(values)]
    return float(values.mean()) if values.size else NAN


METRICS = {"mae": Metric(False, mae), "rmse": Metric(False, rmse), "r2": Metric(True, r2)}
LOSSES = {
    "mse": lambda a, b: F.mse_loss(a, b, reduction="none"),
    "huber": lambda a, b: F.huber_loss(a, b, reduction="none", delta=1.0),
    "l1": lambda a, b: F.l1_loss(a, b, reduction="none"),
}


# ------------------------------------------------------------------------------------------------- head
class RegressionHead(TaskHead):
    """`dim` values trained on standardised targets; `predict` maps them back to the raw scale."""

    stats_shape: tuple[int, ...] = (-1,)  # how the per-column statistics broadcast against a batch [B]

    def __init__(self, spec: Any, in_dim: int) -> None:
        super().__init__(spec, in_dim)
        self.register_buffer("mean", torch.zeros(spec.dim))
        self.register_buffer("std", torch.ones(spec.dim))
        self._loss = LOSSES[spec.loss]

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


# ------------------------------------------------------------------------------------------------- type
class Regression(TaskType):
    name = "regression"
    metrics = METRICS
    losses = tuple(LOSSES)
    Head = RegressionHead

    def label_expectations(self, task):
        if task.bounds is None:
            return []
        lo, hi = task.bounds
        return [("ExpectColumnValuesToBeBetween", {"column": task.column, "min_value": lo, "max_value": hi})]
