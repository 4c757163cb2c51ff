"""One trial: train a candidate for a few epochs and score it by validation Δm vs the single-task models,
less a penalty for each task it leaves below its single-task model (`search.transfer_penalty`).

The score is reported after every epoch so the pruner can stop a hopeless candidate early; a
candidate whose loss or predictions go NaN/inf is pruned too: a bad learning rate is a poor
candidate, not a broken search. The trial enqueued as `configured` (trial 0) trains params.yaml's
own model, so the search never returns something worse on validation than the config. Each complete
trial records its parameter count and seconds per epoch: the search prefers the cheaper of two
candidates within `search.noise_band`.

The cost guard: a candidate whose network has more than `search.max_cost_ratio` × the parameters of the
single-task networks together is pruned before it trains (parameters, not seconds: the rule must not
depend on the machine's load). Every trial records its cost against theirs (`cost_ratio`: parameters,
and seconds per epoch scaled from its subsample to the whole training split).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from mtlops.catalog import check_methods
from mtlops.config import with_overrides
from mtlops.metrics.selection import penalised_score, shortfalls
from mtlops.search.space import draw_overlay
from mtlops.training.early_stopping import kept_scores, val_scores

if TYPE_CHECKING:
    import optuna

    from mtlops.paths import Paths
    from mtlops.schema import Config


def task_shortfalls(cfg: Config, metrics: dict[str, float], baseline: dict[str, float]) -> dict[str, float]:
    """Per task with a baseline (config order), how far (percent, relative) it falls below its single-task
    model on validation, rounded to 6 places as the trial records it; 0 when not."""
    tasks = [t for t in cfg.target_tasks if t.name in metrics and t.name in baseline]
    higher = {t.name: t.higher_is_better for t in tasks}
    return shortfalls({t.name: metrics[t.name] for t in tasks}, baseline, higher, digits=6)


def penalised(cfg: Config, dm: float, metrics: dict[str, float], baseline: dict[str, float]) -> float:
    """The trial's score: Δm minus `search.transfer_penalty` × each task's shortfall below its single-task model
    (`mtlops.metrics.selection`, the rule the grouping scores by too)."""
    return penalised_score(dm, task_shortfalls(cfg, metrics, baseline), cfg.search.transfer_penalty)


class Objective:
    """Callable for Optuna: the trial's sampled overlay → a trained candidate → its validation Δm."""

    def __init__(self, cfg: Config, paths: Paths, baseline: dict[str, float]) -> None:
        from mtlops.baselines.reference import stl_cost
        from mtlops.data.prepare import load_meta, load_split

        self.cfg = cfg
        self.paths = paths
        self.baseline = baseline
        self.val = load_split(paths, "val")
        self.meta = load_meta(paths)
        self.stl_cost = stl_cost(paths, cfg.target_names)  # the cost guard's reference (None: no guard)

    def n_params(self, cfg: Config) -> int:
        """The parameters of the network `cfg` trains (built, not trained: milliseconds)."""
        from mtlops.models import build_model
        from mtlops.training.from_config import model_spec

        return int(build_model(model_spec(cfg, self.meta)).n_params)

    def cost_ratio(self, n_params: int, seconds_per_epoch: float | None) -> dict[str, float | None] | None:
        """The trial's cost ÷ the single-task networks' together: parameters, and seconds per epoch on the
        whole training split (the trial's scaled by the rows it trained on)."""
        if self.stl_cost is None:
            return None
        rows = self.meta["rows"]["train"]
        trial_rows = min(rows, self.cfg.search.max_train_rows or rows)
        per_epoch = None if seconds_per_epoch is None else seconds_per_epoch * rows / max(trial_rows, 1)
        return {
            "n_params": round(n_params / self.stl_cost["n_params"], 4),
            "seconds_per_epoch": None if per_epoch is None
            else round(per_epoch / self.stl_cost["seconds_per_epoch"], 4),
        }

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

        overlay = draw_overlay(self.cfg, trial)
        if trial.user_attrs.get("configured"):
            overlay = {}  # trial 0: params.yaml's own model (its values were recorded as the trial's params)
        trial.set_user_attr("overlay", overlay)
        trial.set_user_attr("epochs", 0)
        trial_cfg = self.trial_config(overlay)
        n_params = self.n_params(trial_cfg)
        trial.set_user_attr("n_params", n_params)
        ratio = self.cfg.search.max_cost_ratio
        if ratio is not None and self.stl_cost is not None and n_params > ratio * self.stl_cost["n_params"]:
            trial.set_user_attr("cost_ratio", self.cost_ratio(n_params, None))
            why = (f"cost guard: {n_params:,} parameters > search.max_cost_ratio {ratio:g} × "
                   f"{self.stl_cost['n_params']:,.0f} of the single-task networks")
            trial.set_user_attr("pruned_reason", why)
            raise optuna.TrialPruned(why)

        def report(epoch: int, row: dict, model: Any) -> None:
            step = trial.user_attrs["epochs"] + 1  # epochs run so far, whatever the trainer counts from
            trial.set_user_attr("epochs", step)
            if "val_delta_m" in row:  # the trainer's stopping rule scored this epoch against the same baseline
                dm, metrics = row["val_delta_m"], row["val_metrics"]
            else:
                dm, metrics = val_scores(trial_cfg.target_tasks, model, self.val, self.baseline)
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
        dm, metrics = kept_scores(trial_cfg.target_tasks, result, self.val, self.baseline)
        if not np.isfinite(penalised(trial_cfg, dm, metrics, self.baseline)):
            trial.set_user_attr("pruned_reason", "non-finite validation score")
            raise optuna.TrialPruned("non-finite validation score")
        trial.set_user_attr("val_metrics", metrics)
        trial.set_user_attr("val_delta_m", dm)
        trial.set_user_attr("tasks_below_single_task", task_shortfalls(trial_cfg, metrics, self.baseline))
        trial.set_user_attr("best_epoch", result.best_epoch)
        seconds = [r["seconds"] for r in result.history if r.get("seconds")]  # set once the callbacks have run
        per_epoch = round(float(np.mean(seconds)), 3) if seconds else None
        trial.set_user_attr("seconds_per_epoch", per_epoch)
        trial.set_user_attr("cost_ratio", self.cost_ratio(n_params, per_epoch))
        return penalised(trial_cfg, dm, metrics, self.baseline)
