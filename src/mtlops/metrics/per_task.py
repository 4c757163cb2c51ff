"""Per-task metrics on the labelled rows only; each task type (`mtlops.task_types`) owns its metric functions.

A metric that is undefined on the rows at hand — AUC with a single class present, R² on fewer than
two rows or a constant target, anything on zero rows — is NaN, never an exception: a rare task in a
small test window must not stop the evaluation.

`task` is a params.yaml task (`TaskConfig`) or a meta.json task entry (a dict with `name` added):
its `type`, `name` and `metric` are read. Prediction formats are those of `mtlops.training.predict`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mtlops.task_types import task_type
from mtlops.task_types.base import MetricFn, ResampledFn


def json_safe(obj: Any) -> Any:
    """NaN/inf → None and numpy scalars → Python, recursively: reports stay strict JSON for DVC."""
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def _get(task: Any, key: str) -> Any:
    """TaskConfig attributes, or the same keys of a task entry in meta.json."""
    return task[key] if isinstance(task, dict) else getattr(task, key)


def metric_names(task: Any, dim: int) -> list[str]:
    """The metrics reported for a task whose predictions have `dim` values per row."""
    return task_type(_get(task, "type")).metric_names(dim)


def metric_fn(task: Any, name: str | None = None, calibration_bins: int = 10) -> MetricFn:
    """The function `(y_true, y_pred) -> float` for one metric (the task's primary one by default).

    It expects labelled rows in the shapes `labelled` returns; the bootstrap calls it once per resample.
    """
    return task_type(_get(task, "type")).metric_fn(name or _get(task, "metric"), calibration_bins)


def resampled_metric_fn(task: Any, name: str | None = None) -> ResampledFn | None:
    """The metric (the task's primary one by default) on many bootstrap resamples at once, or None where it
    has no such form (`mtlops.task_types.base.Metric.resampled`)."""
    return task_type(_get(task, "type")).resampled_fn(name or _get(task, "metric"))


def labelled(task: Any, y_true: np.ndarray, y_pred: np.ndarray, mask: np.ndarray | None = None):
    """Check shapes, keep the labelled rows, and cast labels/predictions to the form the metrics take."""
    kind, name = task_type(_get(task, "type")), _get(task, "name")
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred, dtype=float)
    try:
        y_pred = kind.shape_predictions(y_pred)
    except ValueError as err:
        raise ValueError(f"task {name!r}: {err}") from None
    if len(y_true) != len(y_pred):
        raise ValueError(f"task {name!r}: {len(y_true)} labels but {len(y_pred)} predictions")
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != (len(y_true),):
            raise ValueError(f"task {name!r}: mask of shape {mask.shape} for {len(y_true)} rows")
        y_true, y_pred = y_true[mask], y_pred[mask]
    if not np.all(np.isfinite(y_pred)):
        raise ValueError(f"task {name!r}: predictions contain NaN or inf")
    return kind.metric_arrays(y_true, y_pred)


def task_metrics(
    task: Any, y_true: np.ndarray, y_pred: np.ndarray, mask: np.ndarray | None = None, calibration_bins: int = 10
) -> dict[str, float]:
    """Every metric of the task's type on the labelled rows (NaN where undefined)."""
    y, p = labelled(task, y_true, y_pred, mask)
    dim = p.shape[1] if p.ndim == 2 else 1
    return {name: metric_fn(task, name, calibration_bins)(y, p) for name in metric_names(task, dim)}


def primary(
    task: Any, y_true: np.ndarray, y_pred: np.ndarray, mask: np.ndarray | None = None, calibration_bins: int = 10
) -> float:
    """The task's own metric (`task.metric`) on the labelled rows."""
    y, p = labelled(task, y_true, y_pred, mask)
    return metric_fn(task, calibration_bins=calibration_bins)(y, p)
