"""Multiclass: one label out of the task's declared `classes`; K logits, cross-entropy (its head:
`mtlops.models.heads`); class probabilities.

Labels are stored as the index into `classes` (int64). Output columns `<task>_proba_<class>` per
class and `<task>_label` (the most probable class). Metrics: accuracy (the default), macro F1 over
the classes present, log loss.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from mtlops.task_types.base import NAN, Metric, TaskType, resampled_mean


# ---------------------------------------------------------------------------------------------- metrics
def accuracy(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn import metrics as skm

    return float(skm.accuracy_score(y, p.argmax(axis=1))) if len(y) else NAN


def accuracy_resampled(y: np.ndarray, p: np.ndarray, counts: np.ndarray) -> np.ndarray:
    return resampled_mean((p.argmax(axis=1) == y).astype(float), counts)


def macro_f1(y: np.ndarray, p: np.ndarray) -> float:
    # Classes absent from both labels and predictions have no F1; zero_division=nan leaves them out
    # of the average instead of counting them as 0.
    from sklearn import metrics as skm

    if not len(y):
        return NAN
    labels = list(range(p.shape[1]))
    return float(skm.f1_score(y, p.argmax(axis=1), labels=labels, average="macro", zero_division=np.nan))


def log_loss(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn import metrics as skm

    return float(skm.log_loss(y, p, labels=list(range(p.shape[1])))) if len(y) else NAN


# ------------------------------------------------------------------------------------------------- type
class Multiclass(TaskType):
    name = "multiclass"
    metrics = {
        "accuracy": Metric(True, accuracy, accuracy_resampled),
        "macro_f1": Metric(True, macro_f1),
        "log_loss": Metric(False, log_loss),
    }
    losses = ("ce",)
    # (objective, metric) with more than two classes present; with two LightGBM fits a binary objective
    gbdt_metrics: ClassVar[dict[str, tuple[str, str]]] = {
        "accuracy": ("multiclass", "multi_error"),
        "macro_f1": ("multiclass", "multi_logloss"),
        "log_loss": ("multiclass", "multi_logloss"),
    }
    binary_metrics: ClassVar[dict[str, str]] = {"multi_error": "binary_error", "multi_logloss": "binary_logloss"}
    vector = True
    classification = True

    def config_problem(self, task):
        return super().config_problem(task) or (None if task.classes else "multiclass tasks must declare their classes")

    def meta(self, task):
        return {"dim": len(task.classes), "n_classes": len(task.classes)}

    def spec_problem(self, spec):
        if spec.n_classes is None or spec.n_classes < 2:
            return f"multiclass needs n_classes >= 2, got {spec.n_classes}"
        return super().spec_problem(spec)

    def out_features(self, spec):
        return spec.n_classes

    def encode_labels(self, df, task):
        """int64 index into `task.classes` (0 where unlabelled); a label outside them raises SchemaError."""
        from mtlops.columns import class_indices

        idx, mask = class_indices(df[task.column], task.classes, task.column, f" (task {task.name!r})")
        return np.where(mask, idx, 0).astype(np.int64), mask

    def label_kind(self, task):
        if all(isinstance(c, str) for c in task.classes):
            return "text"
        if all(isinstance(c, int | float) and not isinstance(c, bool) for c in task.classes):
            return "numeric"
        return None

    def label_expectations(self, task):
        return [("ExpectColumnValuesToBeInSet", {"column": task.column, "value_set": list(task.classes)})]

    def metric_arrays(self, y, pred):
        # float32 softmax rows sum to 1 only up to rounding, which sklearn's log_loss warns about
        return y.astype(np.int64).reshape(-1), pred / pred.sum(axis=1, keepdims=True)

    def value_columns(self, entry):
        return [f"{entry['name']}_proba_{c}" for c in entry["classes"]]

    def output_columns(self, entry):
        return [*self.value_columns(entry), f"{entry['name']}_label"]

    def to_output(self, entry: Any, pred: np.ndarray) -> dict[str, np.ndarray]:
        out = {col: pred[:, j].astype(np.float64) for j, col in enumerate(self.value_columns(entry))}
        out[f"{entry['name']}_label"] = np.asarray(entry["classes"])[pred.argmax(axis=1)]
        return out

    def gbdt_objective(self, metric: str, n_classes: int | None = None) -> dict[str, Any]:
        """Multi-class log loss or error; binary ones when two classes are present; macro F1 weighs the
        classes equally, so its boosters weigh each class's rows by their inverse frequency (`balanced`)."""
        objective, stop_on = self.gbdt_metrics[metric]
        if n_classes is not None and n_classes <= 2:
            objective, stop_on = "binary", self.binary_metrics[stop_on]
        params: dict[str, Any] = {"objective": objective, "metric": stop_on}
        if metric == "macro_f1":
            params["class_weight"] = "balanced"
        return params

    def gbdt_prediction(self, outputs, classes, n_classes):
        # a class missing from the training rows gets probability 0; with two classes left,
        # LightGBM fits a binary objective and returns P(second class) only
        present = outputs[0].reshape(len(outputs[0]), -1)
        if present.shape[1] == 1:
            present = np.column_stack([1 - present[:, 0], present[:, 0]])
        probs = np.zeros((len(present), n_classes))
        probs[:, classes] = present
        return probs
