"""Per-task metrics, computed with scikit-learn on the labelled rows only.

Every task type has a fixed set of metrics (`mtlops.config.METRICS` names them and says which way is
better). A metric that is undefined on the rows at hand — AUC with a single class present, R² on fewer
than two rows or a constant target, anything on zero rows — is NaN, never an exception: a rare task in
a small test window must not stop the evaluation.

Prediction formats are those of `mtlops.training.predict`: binary → probability [N]; multiclass →
probabilities [N, K]; regression → value [N]; multi_regression → values [N, k]. Boxes (4 outputs) are
`[x_min, y_min, x_max, y_max]`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
from sklearn import metrics as skm

NAN = float("nan")
MetricFn = Callable[[np.ndarray, np.ndarray], float]


# ------------------------------------------------------------------------------------------ calibration
def reliability(y_true: np.ndarray, prob: np.ndarray, n_bins: int = 10) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-bin (count, mean predicted probability, fraction positive); NaN where a bin is empty.

    The bins are those of `sklearn.calibration.calibration_curve(strategy="uniform")`: `n_bins` equal
    widths over [0, 1], a probability on an inner edge going to the upper bin, 1.0 to the last. It is
    computed here (the same rule) because ECE needs the per-bin counts, which sklearn does not return.
    """
    y_true = np.asarray(y_true, dtype=float).ravel()
    prob = np.asarray(prob, dtype=float).ravel()
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    ids = np.searchsorted(edges[1:-1], prob)
    count = np.bincount(ids, minlength=n_bins).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_pred = np.bincount(ids, weights=prob, minlength=n_bins) / count
        frac_pos = np.bincount(ids, weights=y_true, minlength=n_bins) / count
    return count, mean_pred, frac_pos


def expected_calibration_error(y_true: np.ndarray, prob: np.ndarray, n_bins: int = 10) -> float:
    """ECE = Σ_b (n_b / N)·|fraction positive_b − mean predicted_b| over the uniform bins above."""
    if len(y_true) == 0:
        return NAN
    count, mean_pred, frac_pos = reliability(y_true, prob, n_bins)
    filled = count > 0
    return float(np.sum(count[filled] / count.sum() * np.abs(frac_pos[filled] - mean_pred[filled])))


# -------------------------------------------------------------------------------------------- per type
def _has_both_classes(y: np.ndarray) -> bool:
    return len(y) > 0 and np.unique(y).size > 1


def _roc_auc(y: np.ndarray, p: np.ndarray) -> float:
    return float(skm.roc_auc_score(y, p)) if _has_both_classes(y) else NAN


def _pr_auc(y: np.ndarray, p: np.ndarray) -> float:
    return float(skm.average_precision_score(y, p)) if _has_both_classes(y) else NAN


def _binary_log_loss(y: np.ndarray, p: np.ndarray) -> float:
    return float(skm.log_loss(y, p, labels=[0, 1])) if len(y) else NAN


def _binary_accuracy(y: np.ndarray, p: np.ndarray) -> float:
    return float(skm.accuracy_score(y, (p >= 0.5).astype(int))) if len(y) else NAN


def _multiclass_accuracy(y: np.ndarray, p: np.ndarray) -> float:
    return float(skm.accuracy_score(y, p.argmax(axis=1))) if len(y) else NAN


def _macro_f1(y: np.ndarray, p: np.ndarray) -> float:
    # Classes absent from both labels and predictions have no F1; zero_division=nan leaves them out
    # of the average instead of counting them as 0.
    if not len(y):
        return NAN
    labels = list(range(p.shape[1]))
    return float(skm.f1_score(y, p.argmax(axis=1), labels=labels, average="macro", zero_division=np.nan))


def _multiclass_log_loss(y: np.ndarray, p: np.ndarray) -> float:
    return float(skm.log_loss(y, p, labels=list(range(p.shape[1])))) if len(y) else NAN


def _mae(y: np.ndarray, p: np.ndarray) -> float:
    return float(skm.mean_absolute_error(y, p)) if len(y) else NAN


def _rmse(y: np.ndarray, p: np.ndarray) -> float:
    return float(skm.root_mean_squared_error(y, p)) if len(y) else NAN


def _r2(y: np.ndarray, p: np.ndarray) -> float:
    # R² of a constant target is undefined: force_finite=False makes it nan/-inf, which we drop; with
    # several outputs the mean is over the outputs where it is defined.
    if len(y) < 2:
        return NAN
    with np.errstate(divide="ignore", invalid="ignore"):
        values = np.atleast_1d(skm.r2_score(y, p, multioutput="raw_values", force_finite=False))
    values = values[np.isfinite(values)]
    return float(values.mean()) if values.size else NAN


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


def _mean_iou(y: np.ndarray, p: np.ndarray) -> float:
    return float(box_iou(y, p).mean()) if len(y) else NAN


_METRICS: dict[str, dict[str, MetricFn]] = {
    "binary": {
        "roc_auc": _roc_auc,
        "pr_auc": _pr_auc,
        "log_loss": _binary_log_loss,
        "accuracy": _binary_accuracy,
        "ece": expected_calibration_error,
    },
    "multiclass": {"accuracy": _multiclass_accuracy, "macro_f1": _macro_f1, "log_loss": _multiclass_log_loss},
    "regression": {"mae": _mae, "rmse": _rmse, "r2": _r2},
    "multi_regression": {"mae": _mae, "rmse": _rmse, "r2": _r2, "iou": _mean_iou},
}


# ---------------------------------------------------------------------------------------------- public
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


def metric_names(task: Any, dim: int | None = None) -> list[str]:
    """The metrics reported for a task; `iou` only for multi_regression with 4 outputs (boxes)."""
    names = list(_METRICS[_get(task, "type")])
    if _get(task, "type") == "multi_regression" and dim != 4:
        names.remove("iou")
    return names


def metric_fn(task: Any, name: str | None = None, calibration_bins: int = 10) -> MetricFn:
    """The function `(y_true, y_pred) -> float` for one metric (the task's primary one by default).

    It expects labelled rows in the shapes `labelled` returns; the bootstrap calls it once per resample.
    """
    name = name or _get(task, "metric")
    fn = _METRICS[_get(task, "type")][name]
    return partial(fn, n_bins=calibration_bins) if fn is expected_calibration_error else fn


def labelled(task: Any, y_true: np.ndarray, y_pred: np.ndarray, mask: np.ndarray | None = None):
    """Check shapes, keep the labelled rows, and cast labels/predictions to the form the metrics take."""
    kind, name = _get(task, "type"), _get(task, "name")
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred, dtype=float)
    if kind in ("binary", "regression"):
        y_pred = y_pred.reshape(len(y_pred), -1)
        if y_pred.shape[1] != 1:
            raise ValueError(f"task {name!r}: expected one prediction per row, got shape {y_pred.shape}")
        y_pred = y_pred[:, 0]
    elif y_pred.ndim != 2:
        raise ValueError(f"task {name!r}: expected predictions of shape [N, k], got {y_pred.shape}")
    if len(y_true) != len(y_pred):
        raise ValueError(f"task {name!r}: {len(y_true)} labels but {len(y_pred)} predictions")
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != (len(y_true),):
            raise ValueError(f"task {name!r}: mask of shape {mask.shape} for {len(y_true)} rows")
        y_true, y_pred = y_true[mask], y_pred[mask]
    if not np.all(np.isfinite(y_pred)):
        raise ValueError(f"task {name!r}: predictions contain NaN or inf")
    if kind == "multiclass":
        # float32 softmax rows sum to 1 only up to rounding, which sklearn's log_loss warns about
        y_pred = y_pred / y_pred.sum(axis=1, keepdims=True)
    if kind in ("binary", "multiclass"):
        y_true = y_true.astype(np.int64).reshape(-1)
    else:
        y_true = y_true.astype(float).reshape(y_pred.shape)
    return y_true, y_pred


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
