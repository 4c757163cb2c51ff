"""The search stage: an Optuna study over sharing architecture, task weighting and optimiser.

Writes `data/models/best_params.json` (a config overlay the train stage applies) and
`reports/search.json`; the study itself persists in its storage, so a killed search resumes.
"""

from __future__ import annotations

import math
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mtlops.catalog import check_methods
from mtlops.config import with_overrides
from mtlops.errors import UserError
from mtlops.io import write_json
from mtlops.metrics.selection import cheapest_within_band
from mtlops.parallel import resolve_workers
from mtlops.search.space import check_space, configured_params
from mtlops.search.storage import (
    budget_lock,
    check_workers,
    fail_stale_trials,
    open_study,
    redact,
    storage_url,
    study_name,
    unowned_grace,
)
from mtlops.search.worker import counted_trials, lock_path, run_worker

if TYPE_CHECKING:
    import optuna

    from mtlops.paths import Paths
    from mtlops.schema import Config


class SearchBudgetError(UserError):
    """The search has no budget: it would never stop."""


def search(
    cfg: Config,
    paths: Paths,
    storage: str | None = None,
    workers: int | None = None,
    n_trials: int | None = None,
    timeout_s: float | None = None,
) -> dict[str, Any]:
    """Run (or resume) the study up to its trial budget / time limit; write the best params overlay.

    `storage`, `workers`, `n_trials`, `timeout_s` override the `search` section of the config.
    The budget counts the trials already finished in the study, so a rerun only runs what is left.
    """
    if not cfg.search.enabled:
        write_json(paths.best_params, {})
        summary: dict[str, Any] = {"enabled": False,
                                   "note": "search disabled: the train stage keeps the configured model"}
        write_json(paths.search_summary, summary)
        return summary

    started = time.time()
    budget = n_trials if n_trials is not None else cfg.search.n_trials
    timeout = timeout_s if timeout_s is not None else cfg.search.timeout_s
    if budget is None and timeout is None:
        raise SearchBudgetError("search: n_trials and timeout_s are both null; set at least one budget")
    deadline = started + timeout if timeout else math.inf
    check_space(cfg.search.space, cfg.task_names)
    name = study_name(cfg, paths)
    url = storage_url(cfg, paths, name, storage)
    workers = search_workers(cfg, url, workers)
    check_workers(url, workers)
    baseline = _baseline_val_metrics(cfg, paths)

    study = open_study(cfg, paths, url)
    # the budget lock: in the database itself on PostgreSQL, so two hosts starting at once enqueue trial 0 once
    with budget_lock(url, name, lock_path(paths, name)):
        stale = fail_stale_trials(study, unowned_grace(cfg))
        if not study.get_trials(deepcopy=False):  # a new study: trial 0 is params.yaml's own model
            study.enqueue_trial(configured_params(cfg), user_attrs={"configured": True})
    done_before = counted_trials(study, unowned_grace(cfg))

    import mlflow
    from mtlops.tracking import parent_run, setup_mlflow

    experiment_id = setup_mlflow(cfg, paths)
    tags = {"mtlops.stage": "search", "optuna.study": name}
    parent = parent_run(cfg, paths)  # the flow run's or the DVC experiment's run, when there is one
    if parent:
        tags["mlflow.parentRunId"] = parent
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"search {name}", tags=tags) as run:
        mlflow.log_params(
            {
                "study": name,
                "storage": redact(url),
                "n_trials": budget,
                "timeout_s": timeout,
                "epochs": cfg.search.epochs,
                "max_train_rows": cfg.search.max_train_rows,
                "pruner": cfg.search.pruner,
                "batch": cfg.search.batch,
                "workers": workers,
            }
        )
        kwargs: dict[str, Any] = {
            "cfg": cfg,
            "paths": paths,
            "storage": url,
            "budget": budget,
            "deadline": deadline,
            "baseline": baseline,
            "parent_run_id": run.info.run_id,
            "batch": cfg.search.batch,
            "workers": workers,
        }
        ran = run_worker(**kwargs)
        study = open_study(cfg, paths, url)  # a fresh view of what every worker wrote
        summary = _summarise(cfg, study, url, ran, stale, done_before, started, run.info.run_id)
        summary.update(batch=cfg.search.batch, workers=workers)  # workers: a record; the trials do not depend on it
        done = summary["n_complete"] + summary["n_pruned"]
        summary["stopped_by"] = "budget" if budget is not None and done >= budget else "timeout"
        overlay = _best_overlay(cfg, study)
        if not summary["n_complete"]:
            summary["note"] = "no trial completed: the train stage keeps the configured model"
        elif not overlay:  # trial 0 is the configured model: its overlay is empty
            summary["note"] = "the configured model (trial 0) was chosen: the train stage keeps it"
        _log_outcome(study, summary, overlay)
    write_json(paths.best_params, overlay)
    write_json(paths.search_summary, summary)
    return {k: summary[k] for k in ("study", "best_trial", "best_delta_m", "n_complete", "n_pruned", "trial_epochs")}


def _baseline_val_metrics(cfg: Config, paths: Paths) -> dict[str, float]:
    """The single-task models' validation metrics (the objective's reference); trains them if missing."""
    from mtlops.baselines.reference import BaselinesMissing, stl_val_reference
    from mtlops.baselines.run import run_baselines

    try:
        return stl_val_reference(paths, cfg.target_names)
    except BaselinesMissing:
        run_baselines(cfg, paths)
    return stl_val_reference(paths, cfg.target_names)


def search_workers(cfg: Config, url: str, workers: int | None = None) -> int:
    """Processes that run a batch's trials: `workers`, else `search.workers`, else `resources.workers` (null:
    every core; one on a sqlite storage, which is unsafe for more), at most the cores (refused beyond them,
    naming the key) and used up to `search.batch`."""
    if workers is not None or cfg.search.workers is not None:
        return resolve_workers(workers or cfg.search.workers, "search.workers")
    return 1 if url.startswith("sqlite") else resolve_workers(cfg.resources.workers)


def chosen_trial(cfg: Config, study: optuna.Study) -> optuna.trial.FrozenTrial | None:
    """The trial the search returns: among complete trials (those leaving no task below its single-task
    model first), the one with the fewest parameters within `search.noise_band` of the best score
    (`mtlops.metrics.selection`; ties: the better score, then the earlier trial).

    Differences below the band are seed noise on this budget (±0.24 Δm on flights over seeds, more on a
    trial's subsample), so paying for a bigger model there buys nothing; parameters, not seconds, measure
    the cost so that the choice does not depend on the machine's load.
    """
    from optuna.trial import TrialState

    complete = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if t.value is not None]
    if not complete:
        return None
    protective = [t for t in complete if not any(t.user_attrs.get("tasks_below_single_task", {}).values())]
    pool = protective or complete

    def value(t: optuna.trial.FrozenTrial) -> float:
        assert t.value is not None, "`complete` keeps the trials with a value"
        return t.value

    return cheapest_within_band(
        pool, value, lambda t: (t.user_attrs.get("n_params", 0), -value(t), t.number), cfg.search.noise_band,
    )  # fmt: skip


def _best_overlay(cfg: Config, study: optuna.Study) -> dict[str, Any]:
    """The chosen trial's choices as a config overlay, checked against the schema; {} if none (or trial 0)."""
    trial = chosen_trial(cfg, study)
    if trial is None:
        return {}
    overlay = trial.user_attrs["overlay"]
    check_methods(with_overrides(cfg, overlay), "<overrides>")  # ConfigError naming the key if it does not validate
    return overlay


def _summarise(
    cfg: Config,
    study: optuna.Study,
    url: str,
    ran: list[int],
    stale: list[int],
    done_before: int,
    started: float,
    run_id: str,
) -> dict[str, Any]:
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    count = {s: sum(t.state == s for t in trials) for s in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)}
    best = chosen_trial(cfg, study)
    epochs = {t.number: int(t.user_attrs.get("epochs", 0)) for t in trials}
    return {
        "enabled": True,
        "study": study.study_name,
        "storage": redact(url),
        "best_trial": best.number if best else None,
        "best_score": best.value if best else None,
        "best_delta_m": best.user_attrs.get("val_delta_m", best.value) if best else None,
        "best_is_configured": bool(best and best.user_attrs.get("configured")),
        "top_score": study.best_value if count[TrialState.COMPLETE] else None,
        "best_params": best.params if best else None,
        "n_trials": len(trials),
        "n_complete": count[TrialState.COMPLETE],
        "n_pruned": count[TrialState.PRUNED],
        "n_failed": count[TrialState.FAIL],
        "n_cost_pruned": sum(str(t.user_attrs.get("pruned_reason", "")).startswith("cost guard") for t in trials),
        "resumed_from": done_before,
        "stale_failed": stale,
        "trial_epochs": sum(epochs.values()),
        "trial_epochs_this_run": sum(epochs.get(n, 0) for n in ran),
        "trials_this_run": ran,
        "wall_time_s": round(time.time() - started, 2),
        "mlflow_run_id": run_id,
        "trials": [
            {
                "number": t.number,
                "state": t.state.name,
                "delta_m": t.value,
                "epochs": epochs[t.number],
                "architecture": t.params.get("architecture"),
                "weighting": t.params.get("weighting"),
                "configured": bool(t.user_attrs.get("configured")),
                "val_delta_m": t.user_attrs.get("val_delta_m"),
                "tasks_below_single_task": t.user_attrs.get("tasks_below_single_task"),
                "n_params": t.user_attrs.get("n_params"),
                "seconds_per_epoch": t.user_attrs.get("seconds_per_epoch"),
                "cost_ratio": t.user_attrs.get("cost_ratio"),  # ÷ the single-task networks' together
                "pruned_reason": t.user_attrs.get("pruned_reason"),
            }
            for t in trials
        ],
    }


def _log_outcome(study: optuna.Study, summary: dict[str, Any], overlay: dict[str, Any]) -> None:
    """The search run gets the study's plots, its trial table, the best value and the best overlay."""
    import mlflow

    mlflow.log_metrics(
        {
            k: summary[k]
            for k in ("n_complete", "n_pruned", "n_failed", "trial_epochs", "wall_time_s")
        }
        | ({"best_delta_m": summary["best_delta_m"]} if summary["best_delta_m"] is not None else {})
    )
    if summary["best_params"]:
        mlflow.log_params({f"best.{k}": v for k, v in summary["best_params"].items()})
        mlflow.set_tag("optuna.best_trial", summary["best_trial"])
    mlflow.log_dict(overlay, "best_params.json")
    from mtlops.search.plots import save_study_plots

    with tempfile.TemporaryDirectory() as tmp:
        for path in save_study_plots(study, Path(tmp)):
            mlflow.log_artifact(str(path), artifact_path="plots")
        table = Path(tmp) / "trials.csv"
        study.trials_dataframe().to_csv(table, index=False)
        mlflow.log_artifact(str(table))
