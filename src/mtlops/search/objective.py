"""One trial: train a candidate for a few epochs and score it by validation Δm vs the single-task models.

The score is reported after every epoch so the pruner can stop a hopeless candidate early; a
candidate whose loss or predictions go NaN/inf is pruned too: a bad learning rate is a poor
candidate, not a broken search.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from mtlops.config import with_overrides
from mtlops.search.space import suggest_overlay

if TYPE_CHECKING:
    import optuna

    from mtlops.paths import Paths
    from mtlops.schema import Config


def val_scores(
    cfg: Config, model: Any, val: dict[str, np.ndarray], baseline: dict[str, float]
) -> tuple[float, dict[str, float]]:
    """(Δm vs `baseline`, per-task primary metric) of `model` on the validation arrays.

    Δm is NaN when the predictions are not finite (the caller prunes such a trial).
    """
    from mtlops.evaluation.delta_m import delta_m
    from mtlops.evaluation.metrics import primary
    from mtlops.training import predict

    preds = predict(model, val)
    metrics: dict[str, float] = {}
    for task in cfg.tasks:
        p = np.asarray(preds[task.name])
        mask = val[f"mask_{task.name}"]
        if not np.all(np.isfinite(p[mask])):
            return float("nan"), {}
        metrics[task.name] = float(primary(task, val[f"y_{task.name}"], p, mask))
    higher = {t.name: t.higher_is_better for t in cfg.tasks}
    return delta_m(metrics, baseline, higher), metrics


class Objective:
    """Callable for Optuna: the trial's sampled overlay → a trained candidate → its validation Δm."""

    def __init__(self, cfg: Config, paths: Paths, baseline: dict[str, float]) -> None:
        from mtlops.data.prepare import load_split

        self.cfg = cfg
        self.paths = paths
        self.baseline = baseline
        self.val = load_split(paths, "val")

    def trial_config(self, overlay: dict[str, Any]) -> Config:
        """The base config with the trial's choices and the search's epoch budget."""
        train = {**overlay["train"], "epochs": self.cfg.search.epochs}
        return with_overrides(self.cfg, {**overlay, "train": train})

    def __call__(self, trial: optuna.Trial) -> float:
        import optuna

        from mtlops.training import NonFiniteLoss
        from mtlops.training.from_config import train_from_config

        overlay = suggest_overlay(trial, self.cfg.search.space, self.cfg.task_names, self.cfg.search.fixed)
        trial.set_user_attr("overlay", overlay)
        trial.set_user_attr("epochs", 0)
        trial_cfg = self.trial_config(overlay)

        def report(epoch: int, row: dict, model: Any) -> None:
            step = trial.user_attrs["epochs"] + 1  # epochs run so far, whatever the trainer counts from
            trial.set_user_attr("epochs", step)
            dm, metrics = val_scores(trial_cfg, model, self.val, self.baseline)
            trial.set_user_attr("val_metrics", metrics)
            if not np.isfinite(dm):
                trial.set_user_attr("pruned_reason", f"non-finite validation Δm at epoch {step}")
                raise optuna.TrialPruned(f"non-finite validation Δm at epoch {step}")
            trial.report(dm, step)
            if trial.should_prune():
                trial.set_user_attr("pruned_reason", f"pruner at epoch {step}")
                raise optuna.TrialPruned(f"pruned at epoch {step} with validation Δm {dm:.3f}")

        try:
            result = train_from_config(
                trial_cfg, self.paths, max_train_rows=self.cfg.search.max_train_rows, callbacks=[report]
            )
        except NonFiniteLoss as err:
            trial.set_user_attr("pruned_reason", f"non-finite loss: {err}")
            raise optuna.TrialPruned(f"non-finite loss: {err}") from err
        dm, metrics = val_scores(trial_cfg, result.model, self.val, self.baseline)
        if not np.isfinite(dm):
            trial.set_user_attr("pruned_reason", "non-finite validation Δm")
            raise optuna.TrialPruned("non-finite validation Δm")
        trial.set_user_attr("val_metrics", metrics)
        trial.set_user_attr("best_epoch", result.best_epoch)
        return dm
