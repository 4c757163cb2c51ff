"""Regression: one real value per row, trained on the standardised target; MSE, Huber or L1.

Targets are standardised with training-split statistics kept as buffers of its head
(`mtlops.models.heads`), so tasks on different scales give comparable losses; predictions are mapped
back to the raw scale. Output column `<task>`. Metrics: MAE (the default), RMSE, R² (NaN on fewer than two
rows or a constant target).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from mtlops.task_types.base import NAN, Metric, TaskType, resampled_mean


# ---------------------------------------------------------------------------------------------- metrics
def mae(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn import metrics as skm

    return float(skm.mean_absolute_error(y, p)) if len(y) else NAN


def rmse(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn import metrics as skm

    return float(skm.root_mean_squared_error(y, p)) if len(y) else NAN


def mae_resampled(y: np.ndarray, p: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """MAE on each resample (`ResampledFn`); over several outputs their mean, as sklearn's uniform average."""
    error = np.abs(y - p)
    return resampled_mean(error if error.ndim == 1 else error.mean(axis=1), counts)


def rmse_resampled(y: np.ndarray, p: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """RMSE on each resample (`ResampledFn`); over several outputs the mean of each one's RMSE, as sklearn."""
    squared = (y - p) ** 2
    squared = squared[:, None] if squared.ndim == 1 else squared
    return np.sqrt(np.stack([resampled_mean(squared[:, j], counts) for j in range(squared.shape[1])])).mean(axis=0)


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


METRICS = {"mae": Metric(False, mae, mae_resampled), "rmse": Metric(False, rmse, rmse_resampled),
           "r2": Metric(True, r2)}
LOSSES = ("mse", "huber", "l1")  # the functions: `mtlops.models.heads.REGRESSION_LOSSES`


# ------------------------------------------------------------------------------------------------- type
# LightGBM per metric: MAE trains on L1 (the median) and on L2, both early-stopped on L1, the better on validation
# kept (neither wins on every suite table; Huber at LightGBM's default alpha lost everywhere: docs/modeling.md);
# RMSE and R² on L2
GBDT_METRICS: dict[str, tuple[str, str]] = {"mae": ("l1", "l1"), "rmse": ("l2", "l2"), "r2": ("l2", "l2")}
GBDT_ALTERNATIVES: dict[str, tuple[str, ...]] = {"mae": ("l2",)}


class Regression(TaskType):
    name = "regression"
    metrics = METRICS
    losses = LOSSES
    gbdt_metrics: ClassVar[dict[str, tuple[str, str]]] = GBDT_METRICS
    gbdt_alternatives: ClassVar[dict[str, tuple[str, ...]]] = GBDT_ALTERNATIVES

    def label_expectations(self, task):
        if task.bounds is None:
            return []
        lo, hi = task.bounds
        return [("ExpectColumnValuesToBeBetween", {"column": task.column, "min_value": lo, "max_value": hi})]
