"""Multi-regression: k real values per row from k label columns, standardised per column.

A row is labelled only where every column is. Output columns `<task>_0` … `<task>_<k-1>`. Metrics
as regression (averaged over the outputs), plus `iou` for boxes: with 4 outputs the values are
`[x_min, y_min, x_max, y_max]` and `iou` is the mean IoU of predicted and true boxes.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from mtlops.task_types.base import NAN, Metric, TaskType
from mtlops.task_types.regression import GBDT_ALTERNATIVES, GBDT_METRICS, LOSSES, METRICS


def box_iou(true: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Row-wise IoU of boxes `[x_min, y_min, x_max, y_max]`; a predicted box with max < min has no area."""
    ix = np.clip(np.minimum(true[:, 2], pred[:, 2]) - np.maximum(true[:, 0], pred[:, 0]), 0, None)
    iy = np.clip(np.minimum(true[:, 3], pred[:, 3]) - np.maximum(true[:, 1], pred[:, 1]), 0, None)
    inter = ix * iy

    def area(b: np.ndarray) -> np.ndarray:
        return np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)

    union = area(true) + area(pred) - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def mean_iou(y: np.ndarray, p: np.ndarray) -> float:
    return float(box_iou(y, p).mean()) if len(y) else NAN


class MultiRegression(TaskType):
    name = "multi_regression"
    metrics = {**METRICS, "iou": Metric(True, mean_iou)}
    losses = LOSSES
    # one booster per box edge: IoU grows as each edge's error shrinks
    gbdt_metrics: ClassVar[dict[str, tuple[str, str]]] = {**GBDT_METRICS, "iou": ("l1", "l1")}
    gbdt_alternatives: ClassVar[dict[str, tuple[str, ...]]] = {**GBDT_ALTERNATIVES, "iou": ("l2",)}
    vector = True
    multi_column = True

    def metric_names(self, dim):
        """`iou` only for boxes (4 outputs)."""
        return [name for name in self.metrics if name != "iou" or dim == 4]

    def gbdt_prediction(self, outputs, classes, n_classes):
        return np.column_stack(outputs)
