"""Early stopping on validation Δm: the judged metrics (each task's primary metric) on the validation split,
as one number.

Early stopping (`StopOnDeltaM`, added by `mtlops.training.from_config`), the search and the grouping
rank epochs and candidates by it, because it is what evaluation and the gate judge: the mean
validation loss peaks at another epoch (on flights it picked epoch 1 in 3 of 4 seeds while AUCs were
still rising, issue #13).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mtlops.metrics.delta_m import delta_m
from mtlops.metrics.per_task import primary
from mtlops.training.predict import predict


def val_scores(
    tasks: Sequence[Any], model: Any, val: dict[str, np.ndarray], reference: dict[str, float],
    auxiliary: bool = False,
) -> tuple[float, dict[str, float]]:
    """(Δm vs `reference`, per-task primary metric) of `model` on the validation arrays (`auxiliary`: its
    auxiliary heads' predictions too).

    Δm is NaN when a task's predictions are not finite on its labelled rows.
    """
    preds = predict(model, val, auxiliary=auxiliary)
    metrics: dict[str, float] = {}
    for task in tasks:
        if task.name not in preds:
            continue
        p = np.asarray(preds[task.name])
        mask = val[f"mask_{task.name}"]
        if not np.all(np.isfinite(p[mask])):
            return float("nan"), {}
        metrics[task.name] = float(primary(task, val[f"y_{task.name}"], p, mask))
    return delta_m(metrics, reference, {t.name: t.higher_is_better for t in tasks}), metrics


def kept_scores(
    tasks: Sequence[Any], result: Any, val: dict[str, np.ndarray], reference: dict[str, float]
) -> tuple[float, dict[str, float]]:
    """(Δm, per-task metric) of the weights `fit` kept: its best epoch's row when the stopping rule already
    scored that epoch (against the reference `fit` was given), else `val_scores` now."""
    best: dict[str, Any] = next((r for r in result.history if r["epoch"] == result.best_epoch), {})
    if "val_delta_m" in best:
        return best["val_delta_m"], best["val_metrics"]
    return val_scores(tasks, result.model, val, reference)


class StopOnDeltaM:
    """A `fit` callback: the epoch's validation objective becomes −Δm of the judged metrics.

    The reference is `reference` (the single-task models' validation metrics, when the caller has
    them) or else the first epoch's own metrics; either orders epochs alike (only each task's scale
    differs). The row keeps `val_metrics` and `val_delta_m` (the target tasks alone: what the search and
    the grouping score) for the history and for other callbacks. An auxiliary task (`role: auxiliary`)
    with an `early_stopping_weight` w steers the objective too: its relative change against its own first
    epoch counts w times, each target once (Δm = the weighted mean).
    """

    def __init__(self, tasks: Sequence[Any], val: dict[str, np.ndarray], reference: dict[str, float] | None = None):
        labelled = [t for t in tasks if int(np.asarray(val[f"mask_{t.name}"]).sum()) > 0]
        self.tasks = [t for t in labelled if getattr(t, "role", "target") == "target"]
        self.steering = [t for t in labelled
                         if getattr(t, "role", "target") == "auxiliary" and getattr(t, "early_stopping_weight", 0) > 0]
        self.val = val
        self.reference = dict(reference) if reference else None
        self.aux_reference: dict[str, float] | None = None

    def __call__(self, epoch: int, row: dict[str, Any], model: Any) -> None:
        if not self.tasks:
            return  # no validation labels: the trainer's own objective (training loss) stands
        if self.reference is None:
            _, first = val_scores(self.tasks, model, self.val, {})
            self.reference = first if all(np.isfinite(v) for v in first.values()) and first else None
        dm, metrics = val_scores(self.tasks, model, self.val, self.reference or {})
        row["val_metrics"], row["val_delta_m"], row["val_reference"] = metrics, dm, self.reference
        objective = dm
        if self.steering and np.isfinite(dm):
            objective = self._steered(model, dm, len(metrics), row)
        row["val_objective"] = -objective if np.isfinite(objective) else float("inf")

    def _steered(self, model: Any, dm: float, n_targets: int, row: dict[str, Any]) -> float:
        """The weighted mean of the targets' Δm (weight 1 each) and each steering auxiliary's change."""
        _, aux = val_scores(self.steering, model, self.val, {}, auxiliary=True)
        if self.aux_reference is None:
            self.aux_reference = aux
        total, weight = dm * n_targets, float(n_targets)
        for task in self.steering:
            change = delta_m({task.name: aux.get(task.name)}, self.aux_reference, {task.name: task.higher_is_better})
            if np.isfinite(change):
                total += task.early_stopping_weight * change
                weight += task.early_stopping_weight
        row["val_auxiliary_metrics"] = aux
        return total / weight
