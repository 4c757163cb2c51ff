"""Binary: a 0/1 label, or any two labels declared as `classes: [negative, positive]` (no/yes); one logit
trained with BCE (its head: `mtlops.models.heads`); predicts P(y = 1), the positive class.

Output columns `<task>_proba` and `<task>_label` (1, or the positive class, at P >= the entry's `threshold`).
The threshold is chosen on the validation split when the model is packaged (`output_rule`): the one that
maximises F1 of the positive class. At 0.5 a calibrated model of a rare label marks few rows (6.9 % of flights
"delayed" against a 29 % base rate): the label a consumer acts on should trade precision against recall, and
F1 does so without costs nobody stated; matching the base rate instead would ignore how well the model
separates the classes. A consumer with real costs uses `<task>_proba` and their own cut. Metrics (sklearn,
labelled rows only): ROC AUC (the default) and PR AUC, NaN when a single class is present; log loss; accuracy
at 0.5; and ECE over the reliability diagram's uniform bins.
"""

from __future__ import annotations

from functools import partial
from typing import Any, ClassVar

import numpy as np

from mtlops.task_types.base import NAN, Metric, MetricFn, TaskType, resampled_mean


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


# ---------------------------------------------------------------------------------------------- metrics
def has_both_classes(y: np.ndarray) -> bool:
    return len(y) > 0 and np.unique(y).size > 1


def roc_auc(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn import metrics as skm

    return float(skm.roc_auc_score(y, p)) if has_both_classes(y) else NAN


def roc_auc_resampled(y: np.ndarray, p: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """ROC AUC on each resample (`ResampledFn`): the Mann-Whitney statistic with each row counted as often as it
    was drawn, a negative tied with a positive counting one half. That is the area sklearn's trapezoids give.
    Each positive's negatives below and tied come from one running count over the negatives sorted by score,
    in whole numbers until the last division. NaN where a resample holds one class."""
    positive = y == 1
    negatives = np.flatnonzero(~positive)
    negatives = negatives[np.argsort(p[negatives], kind="stable")]
    positives = np.flatnonzero(positive)
    below = np.searchsorted(p[negatives], p[positives], side="left")  # negatives scored below each positive
    up_to = np.searchsorted(p[negatives], p[positives], side="right")  # ... and those tied with it
    running = np.zeros((len(counts), len(negatives) + 1), dtype=counts.dtype)
    np.cumsum(counts[:, negatives], axis=1, out=running[:, 1:])
    pos = counts[:, positives]
    n_pos, n_neg = pos.sum(axis=1), running[:, -1]
    twice = (pos * (running[:, below] + running[:, up_to])).sum(axis=1)  # 2 x (below + half the ties)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((n_pos > 0) & (n_neg > 0), 0.5 * twice / (n_pos * n_neg), NAN)


def pr_auc(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn import metrics as skm

    return float(skm.average_precision_score(y, p)) if has_both_classes(y) else NAN


def log_loss(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn import metrics as skm

    return float(skm.log_loss(y, p, labels=[0, 1])) if len(y) else NAN


def accuracy(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn import metrics as skm

    return float(skm.accuracy_score(y, (p >= 0.5).astype(int))) if len(y) else NAN


def accuracy_resampled(y: np.ndarray, p: np.ndarray, counts: np.ndarray) -> np.ndarray:
    return resampled_mean(((p >= 0.5).astype(int) == y).astype(float), counts)


# ------------------------------------------------------------------------------------------------- type
class Binary(TaskType):
    name = "binary"
    metrics = {
        "roc_auc": Metric(True, roc_auc, roc_auc_resampled),
        "pr_auc": Metric(True, pr_auc),
        "log_loss": Metric(False, log_loss),
        "accuracy": Metric(True, accuracy, accuracy_resampled),
        "ece": Metric(False, expected_calibration_error),
    }
    losses = ("bce",)
    gbdt_metrics: ClassVar[dict[str, tuple[str, str]]] = {
        "roc_auc": ("binary", "auc"),
        "pr_auc": ("binary", "average_precision"),
        "log_loss": ("binary", "binary_logloss"),
        "accuracy": ("binary", "binary_error"),
        "ece": ("binary", "binary_logloss"),  # calibration: the log loss is a proper score
    }
    classification = True
    takes_pos_weight = True

    def config_problem(self, task):
        problem = super().config_problem(task)
        if problem is None and task.classes is not None:
            import pandas as pd

            from mtlops.columns import category_strings

            # two labels that read as one category (1 and 1.0) would be one class, as the labels are read
            if len(task.classes) != 2 or category_strings(pd.Series(task.classes)).nunique() != 2:
                return f"binary classes are two labels, [negative, positive]; got {task.classes}"
        return problem

    def label_kind(self, task):
        if not task.classes:
            return "numeric"
        if all(isinstance(c, str) for c in task.classes):
            return "text"
        return "numeric" if all(isinstance(c, int | float) for c in task.classes) else None

    def label_values(self, df, task):
        """0/1 labels as they are, or, with `classes: [negative, positive]`, the index of each label in them
        (text labels such as no/yes); anything else raises SchemaError naming the column."""
        from mtlops.columns import SchemaError, class_indices

        role = f" (task {task.name!r})"
        if task.classes:
            idx, mask = class_indices(df[task.column], task.classes, task.column, role)
            return np.where(mask, idx, np.nan).astype(np.float64)[:, None], mask
        try:
            values, mask = super().label_values(df, task)
        except SchemaError as err:
            raise SchemaError(f"{err}; text labels need the task's classes: [negative, positive]") from None
        bad = mask & (values[:, 0] != 0) & (values[:, 0] != 1)
        if bad.any():
            raise SchemaError(f"column {task.column!r}{role} must hold 0/1 labels, e.g. got {values[bad, 0][0]:g}; "
                              "other labels need the task's classes: [negative, positive]")
        return values, mask

    def label_expectations(self, task):
        return [("ExpectColumnValuesToBeInSet", {"column": task.column, "value_set": list(task.classes or [0, 1])})]

    def metric_fn(self, name: str, calibration_bins: int = 10) -> MetricFn:
        fn = self.metrics[name].fn
        return partial(fn, n_bins=calibration_bins) if fn is expected_calibration_error else fn

    def metric_arrays(self, y, pred):
        return y.astype(np.int64).reshape(-1), pred

    def reliability(self, y, pred, n_bins):
        return reliability(y, pred, n_bins)

    def value_columns(self, entry):
        return [f"{entry['name']}_proba"]

    def output_columns(self, entry):
        return [*self.value_columns(entry), f"{entry['name']}_label"]

    def to_output(self, entry, pred):
        p = pred.reshape(-1).astype(np.float64)
        proba, label = self.output_columns(entry)
        positive = (p >= entry.get("threshold", 0.5)).astype(np.int64)
        classes = entry.get("classes")  # [negative, positive] where the labels are not 0/1
        return {proba: p, label: np.asarray(classes)[positive] if classes else positive}

    def output_rule(self, entry, y, pred, mask):
        return f1_threshold(np.asarray(y).reshape(-1)[mask], np.asarray(pred, dtype=np.float64).reshape(-1)[mask])


def f1_threshold(y: np.ndarray, p: np.ndarray) -> dict[str, Any]:
    """The cut on P(1) that maximises F1 on these rows (`threshold`, as `p >= threshold`), with the F1 it
    reaches and the share of rows it labels 1 against the share that are 1; 0.5 when F1 is undefined."""
    from sklearn.metrics import precision_recall_curve

    y = y.astype(np.int64)
    rule: dict[str, Any] = {"threshold": 0.5, "threshold_rule": "max F1 on the validation split",
                            "val_positive_rate": float(y.mean()) if len(y) else NAN}
    if len(y) == 0 or y.min() == y.max():
        rule["threshold_rule"] = "0.5 (F1 undefined: the validation split holds one class)"
        return rule
    precision, recall, cuts = precision_recall_curve(y, p)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)[:-1]
    best = int(np.argmax(f1))
    threshold = float(cuts[best])
    labelled = float((p >= threshold).mean())
    return rule | {"threshold": threshold, "val_f1": float(f1[best]), "val_labelled_rate": labelled}
