"""What a task type is: its loss names, metrics, label encoding and output columns, in one class.

Everything the pipeline does that depends on the kind of label asks the task's type
(`mtlops.task_types.task_type(name)`); no other module switches on a type's name. The defaults here
are those of one numeric value per row; a type overrides what differs.

Arguments are duck-typed, so this package sits below the config: `task` is a params.yaml task
(`mtlops.schema.TaskConfig`: name, column, columns, classes, bounds, pos_weight); `spec` a model's
`mtlops.models.TaskSpec` (name, type, dim, n_classes, loss, pos_weight); `entry` a meta.json task
entry with its `name` added (what the packaged model carries). Predictions are those of
`mtlops.training.predict`: [N] for one value per row, [N, k] for a `vector` type.

No torch here: the schema validates tasks against these types, and reading a config must not load
torch. Each type's head (its network layer and loss functions) is in `mtlops.models.heads`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

NAN = float("nan")
MetricFn = Callable[[np.ndarray, np.ndarray], float]
# (labels, predictions, counts [B, N] int64: how often each of B resamples drew each row) -> the metric per resample
ResampledFn = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


class Metric(NamedTuple):
    """A metric of a task type: which way is better, and `fn(labels, predictions) -> float` (NaN if undefined).

    `resampled`, where given, is the same metric on many bootstrap resamples at once, each row weighted by how
    often a resample drew it: the values `fn` gives on the resampled rows (up to rounding), without a call per
    resample. The bootstrap uses it (`mtlops.metrics.bootstrap.metric_samples`); sklearn's own checks cost more
    than the metric on a test split's rows, and the gate scores every task of four models 500 times.
    """

    higher_is_better: bool
    fn: MetricFn
    resampled: ResampledFn | None = None


def resampled_mean(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """A per-row score's mean on each resample (`counts` [B, N] as in `ResampledFn`); NaN on a resample of no rows.

    An element-wise product and numpy's own sum, not a matrix product: BLAS may split a sum by its thread count."""
    total = counts.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, (counts * values).sum(axis=1) / total, NAN)


class TaskType:
    """One kind of label. Subclasses set the class attributes and override what differs from one value per row."""

    name: str
    metrics: dict[str, Metric]  # every metric it may be judged on; the first is the default
    losses: tuple[str, ...]  # the losses its head (`mtlops.models.heads`) knows; the first is the default
    vector: bool = False  # predictions are [N, k] (else [N])
    multi_column: bool = False  # labels come from a list of columns (`column` is a list)
    classification: bool = False  # class ids: LightGBM, tree bins fit classifiers; uncertainty: softmax form
    takes_pos_weight: bool = False  # a positive-class weight (`pos_weight`) applies

    # ------------------------------------------------------------------------------------------ config
    def metric_for(self, metric: str | None) -> str:
        """The task's metric: the default when none is given; ValueError when it does not fit this type."""
        if metric is None:
            return next(iter(self.metrics))
        if metric not in self.metrics:
            raise ValueError(f"metric {metric!r} does not fit task type {self.name!r}; allowed: {sorted(self.metrics)}")
        return metric

    def loss_for(self, loss: str | None) -> str:
        """The task's loss: the default when none is given; ValueError when it does not fit this type."""
        if loss is None:
            return self.losses[0]
        if loss not in self.losses:
            raise ValueError(f"loss {loss!r} does not fit task type {self.name!r}; allowed: {list(self.losses)}")
        return loss

    def config_problem(self, task: Any) -> str | None:
        """What is wrong with a params.yaml task of this type, or None."""
        if isinstance(task.column, list) != self.multi_column:
            wanted = "a list of columns" if self.multi_column else "one column"
            return f"column must be {wanted} for task type {self.name!r}"
        return self._pos_weight_problem(task)

    def _pos_weight_problem(self, task: Any) -> str | None:
        if task.pos_weight is not None and not self.takes_pos_weight:
            return f"pos_weight does not fit task type {self.name!r}"
        return None

    def meta(self, task: Any) -> dict[str, Any]:
        """The shape entries of meta.json["tasks"][name]: values per row (`dim`) and `n_classes`."""
        return {"dim": len(task.columns), "n_classes": None}

    # ------------------------------------------------------------------------------------------- model
    def spec_problem(self, spec: Any) -> str | None:
        """What is wrong with a model's task spec of this type, or None."""
        return self._pos_weight_problem(spec)

    def out_features(self, spec: Any) -> int:
        """Width of the head's raw output."""
        return spec.dim

    # -------------------------------------------------------------------------------------------- data
    def label_values(self, df: pd.DataFrame, task: Any) -> tuple[np.ndarray, np.ndarray]:
        """The label columns as float64 [N, k] (NaN where missing) and the rows labelled in every one."""
        from mtlops.columns import numeric_values

        values = np.column_stack([numeric_values(df[c], c, f" (task {task.name!r})") for c in task.columns])
        return values, np.isfinite(values).all(axis=1)

    def encode_labels(self, df: pd.DataFrame, task: Any) -> tuple[np.ndarray, np.ndarray]:
        """(y, mask) in the data contract's dtypes: float32 [N] ([N, k] over several columns), 0 where unlabelled.

        A missing or non-finite value means "no label"; values of the wrong kind raise SchemaError
        naming the column.
        """
        values, mask = self.label_values(df, task)
        y = np.where(mask[:, None], values, 0.0).astype(np.float32)
        return (y if self.multi_column else y[:, 0]), mask

    def label_kind(self, task: Any) -> str | None:
        """What the raw label values are: "numeric", "text", or None (any)."""
        return "numeric"

    def label_expectations(self, task: Any) -> list[tuple[str, dict[str, Any]]]:
        """The label's domain as GX expectations: (class name in `great_expectations.expectations`, kwargs)."""
        return []

    # ----------------------------------------------------------------------------------------- metrics
    def metric_names(self, dim: int) -> list[str]:
        """The metrics reported for a task whose predictions have `dim` values per row."""
        return list(self.metrics)

    def metric_fn(self, name: str, calibration_bins: int = 10) -> MetricFn:
        return self.metrics[name].fn

    def resampled_fn(self, name: str) -> ResampledFn | None:
        """`metric_fn(name)` on many resamples at once, or None where the metric has no such form."""
        return self.metrics[name].resampled

    def shape_predictions(self, pred: np.ndarray) -> np.ndarray:
        """[N] for one value per row, [N, k] for a vector type; ValueError on any other shape."""
        if self.vector:
            if pred.ndim != 2:
                raise ValueError(f"expected predictions of shape [N, k], got {pred.shape}")
            return pred
        pred = pred.reshape(len(pred), -1)
        if pred.shape[1] != 1:
            raise ValueError(f"expected one prediction per row, got shape {pred.shape}")
        return pred[:, 0]

    def metric_arrays(self, y: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Labelled rows' labels and predictions cast to what the metric functions take."""
        return y.astype(float).reshape(pred.shape), pred

    def reliability(self, y: np.ndarray, pred: np.ndarray, n_bins: int) -> Any:
        """The reliability diagram's bins (count, mean predicted, fraction positive), or None where none applies."""
        return None

    # -------------------------------------------------------------------------------- packaged model
    def value_columns(self, entry: Mapping[str, Any]) -> list[str]:
        """The output columns that carry the prediction's values, in order: `<task>` or `<task>_<j>`."""
        name = entry["name"]
        return [f"{name}_{j}" for j in range(entry["dim"])] if self.vector else [name]

    def output_columns(self, entry: Mapping[str, Any]) -> list[str]:
        """Every column the packaged model outputs for this task."""
        return self.value_columns(entry)

    def to_output(self, entry: Mapping[str, Any], pred: np.ndarray) -> dict[str, np.ndarray]:
        """Predictions → {output column: float64 values}."""
        values = pred.reshape(len(pred), -1)
        return {col: values[:, j].astype(np.float64) for j, col in enumerate(self.value_columns(entry))}

    def output_rule(
        self, entry: Mapping[str, Any], y: np.ndarray, pred: np.ndarray, mask: np.ndarray
    ) -> dict[str, Any]:
        """What `to_output` learns from the validation split (labels `y`, predictions `pred`, labelled rows
        `mask`), as keys added to the packaged model's task entry; {} when nothing (a binary label's threshold)."""
        return {}

    def from_output(self, entry: Mapping[str, Any], frame: pd.DataFrame) -> np.ndarray | None:
        """The inverse of `to_output` (None when the frame lacks the task's columns)."""
        names = self.value_columns(entry)
        if not set(names) <= set(frame.columns):
            return None
        values = frame[names].to_numpy(dtype=np.float64)
        return values if self.vector else values[:, 0]

    # ------------------------------------------------------------------------------- LightGBM baseline
    # the LightGBM objective and early-stopping metric for each of the type's metrics (a practitioner's choice),
    # and other objectives worth trying for a metric (the baselines stage keeps the better on validation)
    gbdt_metrics: ClassVar[dict[str, tuple[str, str]]] = {}
    gbdt_alternatives: ClassVar[dict[str, tuple[str, ...]]] = {}

    def gbdt_objective(self, metric: str, n_classes: int | None = None) -> dict[str, Any]:
        """LightGBM params that train and early-stop on what the task is judged by: `objective` and `metric`
        (and `class_weight` where the metric weighs classes equally). `n_classes`: the classes present in
        the training rows (LightGBM fits a binary objective on two). `baselines.gbdt_params` wins over these."""
        objective, stop_on = self.gbdt_metrics[metric]
        return {"objective": objective, "metric": stop_on}

    def gbdt_objectives(self, metric: str, n_classes: int | None = None) -> list[dict[str, Any]]:
        """`gbdt_objective`, then each alternative objective early-stopped on the same metric: the candidates
        a practitioner would try, the better on validation kept."""
        first = self.gbdt_objective(metric, n_classes)
        return [first, *({**first, "objective": alt} for alt in self.gbdt_alternatives.get(metric, ()))]

    def gbdt_prediction(
        self, outputs: list[np.ndarray], classes: list[int] | None, n_classes: int | None
    ) -> np.ndarray:
        """The boosters' outputs (one booster per label column) → predictions in the format above."""
        return outputs[0]

    def blend(self, network: np.ndarray, gbdt: np.ndarray, weight: float) -> np.ndarray:
        """`weight` × the network's prediction + (1 − `weight`) × LightGBM's, in the format above (served
        blends, `mtlops.serving`). A convex combination keeps probabilities probabilities (they still sum to
        one) and values on the label's scale, so every type here takes it as it is."""
        return weight * np.asarray(network, dtype=np.float64) + (1.0 - weight) * np.asarray(gbdt, dtype=np.float64)
