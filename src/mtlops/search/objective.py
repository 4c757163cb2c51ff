"""One trial: train a candidate for a few epochs and score it by validation Δm vs the single-task models,
less a penalty for each task it leaves below its single-task model (`search.transfer_penalty`).

The score is reported after every epoch so the pruner can stop a hopeless candidate early; a
candidate whose loss or predictions go NaN/inf is pruned too: a bad learning rate is a poor
candidate, not a broken search. The trial enqueued as `configured` (trial 0) trains params.yaml's
own model, so the search never returns something worse on validation than the config. Each complete
trial records its parameter count and seconds per epoch: the search prefers the cheaper of two
candidates within `search.noise_band`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from mtlops.catalog import check_methods
from mtlops.config import with_overrides
from mtlops.metrics.selection import penalised_score, shortfalls
from mtlops.search.space import suggest_overlay
from mtlops.training.early_stopping import kept_scores, val_scores

if TYPE_CHECKING:
    import optuna

    from mtlops.paths import Paths
    from mtlops.schema import Config


def task_shortfalls(cfg: Config, metrics: dict[str, float], baseline: dict[str, float]) -> dict[str, float]:
    """Per task with a baseline (config order), how far (percent, relative) it falls below its single-task
    model on validation, rounded to 6 places as the trial records it; 0 when not."""
    tasks = [t for t in cfg.tasks if t.name in metrics and t.name in baseline]
    higher = {t.name: t.higher_is_better for t in tasks}
    return shortfalls({t.name: metrics[t.name] for t in tasks}, baseline, higher, digits=6)


def penalised(cfg: Config, dm: float, metrics: dict[str, float], baseline: dict[str, float]) -> float:
    """The trial's score: Δm minus `search.transfer_penalty` × each task's shortfall below its single-task model
    (`mtlops.metrics.selection`, the rule the grouping scores by too)."""
    return penalised_score(dm, task_shortfalls(cfg, metrics, baseline), cfg.search.transfer_penalty)


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
        train = {**overlay.get("train", {}), "epochs": self.cfg.search.epochs}
        cfg = with_overrides(self.cfg, {**overlay, "train": train})
        check_methods(cfg, "<overrides>")
        return cfg

    def __call__(self, trial: optuna.Trial) -> float:
        import optuna

        from mtlops.training import NonFiniteLoss
        from mtlops.training.from_config import train_from_config

        overlay = suggest_overlay(trial, self.cfg.search.space, self.cfg.task_names, self.cfg.search.fixed)
        if trial.user_attrs.get("configured"):
            overlay = {}  # trial 0: params.yaml's own model (its values were recorded as the trial's params)
        trial.set_user_attr("overlay", overlay)
        trial.set_user_attr("epochs", 0)
        trial_cfg = self.trial_config(overlay)
        seconds: list[float] = []

        def report(epoch: int, row: dict, model: Any) -> None:
            step = trial.user_attrs["epochs"] + 1  # epochs run so far, whatever the trainer counts from
            trial.set_user_attr("epochs", step)
            seconds.append(row.get("seconds", 0.0))
            if "val_delta_m" in row:  # the trainer's stopping rule scored this epoch against the same baseline
                dm, metrics = row["val_delta_m"], row["val_metrics"]
            else:
                dm, metrics = val_scores(trial_cfg.tasks, model, self.val, self.baseline)
            trial.set_user_attr("val_metrics", metrics)
            score = penalised(trial_cfg, dm, metrics, self.baseline)
            if not np.isfinite(score):  # Δm, or a task's metric against its baseline (a diverged task)
                trial.set_user_attr("pruned_reason", f"non-finite validation score at epoch {step}")
                raise optuna.TrialPruned(f"non-finite validation score at epoch {step}")
            trial.report(score, step)
            if trial.should_prune():
                trial.set_user_attr("pruned_reason", f"pruner at epoch {step}")
                raise optuna.TrialPruned(f"pruned at epoch {step} with validation Δm {dm:.3f}")

        try:
            result = train_from_config(
                trial_cfg, self.paths, max_train_rows=self.cfg.search.max_train_rows, callbacks=[report],
                reference=self.baseline,
            )
        except NonFiniteLoss as err:
            trial.set_user_attr("pruned_reason", f"non-finite loss: {err}")
            raise optuna.TrialPruned(f"non-finite loss: {err}") from err
        dm, metrics = kept_scores(trial_cfg.tasks, result, self.val, self.baseline)
        if not np.isfinite(penalised(trial_cfg, dm, metrics, self.baseline)):
            trial.set_user_attr("pruned_reason", "non-finite validation score")
            raise optuna.TrialPruned("non-finite validation score")
        trial.set_user_attr("val_metrics", metrics)
        trial.set_user_attr("val_delta_m", dm)
        trial.set_user_attr("tasks_below_single_task", task_shortfalls(trial_cfg, metrics, self.baseline))
        trial.set_user_attr("best_epoch", result.best_epoch)
        trial.set_user_attr("n_params", int(result.model.n_params))
        trial.set_user_attr("seconds_per_epoch", round(float(np.mean(seconds)), 3) if seconds else None)
        return penalised(trial_cfg, dm, metrics, self.baseline)
