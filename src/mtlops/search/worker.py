"""A search worker: asks the shared study for trials until the budget or the deadline is reached.

Several workers (processes, on one host or, with PostgreSQL, on many) may run one study at once.
They take trials under a lock (a file lock, or an advisory lock in the database) that counts
finished and running trials, so together they run exactly the budget: none lost, none twice.
When the rest of the budget is running elsewhere a worker waits instead of leaving, so a trial
whose worker dies (failed by heartbeat and queued again) is still run. Each trial is logged as an
MLflow run nested under the search's run.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mtlops.search.storage import (
    UNOWNED_GRACE_S,
    budget_lock,
    fail_stale_trials,
    heartbeat,
    open_study,
    owner_alive,
    unowned_grace,
    worker_id,
)

if TYPE_CHECKING:
    import optuna

    from mtlops.paths import Paths
    from mtlops.schema import Config


def lock_path(paths: Paths, study: str) -> Path:
    return paths.search_dir / f"{study}.lock"


def counted_trials(study: optuna.Study, grace_s: float = UNOWNED_GRACE_S) -> int:
    """Trials that use up the budget: finished (complete or pruned) and running in a live process."""
    from optuna.trial import TrialState

    finished = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
    running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    return len(finished) + sum(owner_alive(t.user_attrs.get("worker"), t.datetime_start, grace_s) for t in running)


# how long a worker waits before it looks again at trials running elsewhere
WAIT_S = 1.0


def _finished_and_running(study: optuna.Study) -> tuple[int, int]:
    from optuna.trial import TrialState

    finished = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
    return len(finished), len(study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))


def _ask(study: optuna.Study) -> optuna.Trial:
    import warnings

    with warnings.catch_warnings():  # ask/tell with a heartbeat: `heartbeat()` beats as optimize() would
        warnings.filterwarnings("ignore", "Heartbeat of storage is supposed to be used with Study.optimize")
        return study.ask()


def run_worker(
    cfg: Config,
    paths: Paths,
    storage: str | None,
    budget: int | None,
    deadline: float,
    baseline: dict[str, float],
    parent_run_id: str | None = None,
    index: int = 0,
    torch_threads: int | None = None,
) -> list[int]:
    """Run trials of the config's study until `budget` trials count or `deadline` (time.time()) passes.

    Returns the numbers of the trials this worker ran. A trial that fails for a reason other than
    pruning is marked FAIL and its error raised.
    """
    import optuna
    from optuna.trial import TrialState

    if torch_threads:
        import torch

        torch.set_num_threads(torch_threads)
    from mtlops.search.objective import Objective

    study = open_study(cfg, paths, storage, seed_offset=index)
    objective = Objective(cfg, paths, baseline)
    logger = TrialLogger(cfg, paths, parent_run_id, study.study_name) if parent_run_id else None
    limit = math.inf if budget is None else budget
    ran: list[int] = []
    while time.time() < deadline:
        with budget_lock(storage or "", study.study_name, lock_path(paths, study.study_name)):
            fail_stale_trials(study, unowned_grace(cfg))
            finished, running = _finished_and_running(study)
            trial = None if finished + running >= limit else _ask(study)
            if trial is not None:
                trial.set_user_attr("worker", worker_id())
        if trial is None:
            if finished >= limit:
                break
            time.sleep(WAIT_S)  # the rest runs elsewhere: stay, in case its worker dies
            continue
        ran.append(trial.number)
        mlflow_run = logger.start(trial) if logger else None
        try:
            with heartbeat(study, trial):
                value = objective(trial)
        except optuna.TrialPruned:
            frozen = study.tell(trial, state=TrialState.PRUNED)
        except BaseException:
            frozen = study.tell(trial, state=TrialState.FAIL)
            if logger and mlflow_run is not None:
                logger.end(mlflow_run, frozen)
            raise
        else:
            frozen = study.tell(trial, value)
        if logger and mlflow_run is not None:
            logger.end(mlflow_run, frozen)
        _announce(frozen, study, None if math.isinf(limit) else int(limit))
    return ran


def trial_line(trial: optuna.trial.FrozenTrial, done: int, budget: int | None,
               best: optuna.trial.FrozenTrial | None) -> str:
    """`trial 7/24 · complete · val Δm +0.41 % (score +0.30; best +0.52, #3) · 4 epochs · mmoe + famo, lr 0.0012 · #6`

    `done` of `budget` trials are finished (this one included); Δm is validation Δm vs the single-task
    networks (percent, higher is better), the score what the search ranks by (Δm less the transfer
    penalty); `#n` is Optuna's trial number, as in the MLflow run `trial-n`."""
    count = f"trial {done}/{budget}" if budget else f"trial {done}"
    parts = [count, trial.state.name.lower()]
    dm = trial.user_attrs.get("val_delta_m")
    if trial.value is not None:
        figure = f"val Δm {dm:+.2f} %" if isinstance(dm, (int, float)) else "val"
        extra = [] if isinstance(dm, (int, float)) and abs(trial.value - dm) < 5e-3 else [f"score {trial.value:+.2f}"]
        if best is not None and best.value is not None:
            extra.append(f"best {best.value:+.2f}, #{best.number}")
        parts.append(figure + (f" ({'; '.join(extra)})" if extra else ""))
    elif trial.state.name == "PRUNED" and trial.user_attrs.get("pruned_reason"):
        parts.append(str(trial.user_attrs["pruned_reason"]))
    epochs = trial.user_attrs.get("epochs", 0)
    parts.append(f"{epochs} epoch{'s' * (epochs != 1)}")
    parts.append(f"{trial.params.get('architecture')} + {trial.params.get('weighting')}, "
                 f"lr {trial.params.get('lr', 0):.2g}")
    parts.append(f"#{trial.number}")
    return " · ".join(parts)


def _announce(trial: optuna.trial.FrozenTrial, study: optuna.Study, budget: int | None) -> None:
    """One line per finished trial on stderr: how far the budget is, what was tried, how it scored."""
    from rich.console import Console

    done, _ = _finished_and_running(study)
    try:
        best = study.best_trial
    except (ValueError, RuntimeError):  # no trial completed yet
        best = None
    Console(stderr=True, highlight=False, soft_wrap=True).print(trial_line(trial, done, budget, best), markup=False)


# an Optuna trial's end as an MLflow run status: a pruned trial was stopped by the pruner
TRIAL_STATUS = {"COMPLETE": "FINISHED", "PRUNED": "KILLED", "FAIL": "FAILED"}


class TrialLogger:
    """Each trial as an MLflow run nested under the search run (works from any worker process)."""

    def __init__(self, cfg: Config, paths: Paths, parent_run_id: str, study_name: str) -> None:
        from mlflow import MlflowClient
        from mtlops.tracking import tracking_uri

        self.client = MlflowClient(tracking_uri(paths))
        self.parent = parent_run_id
        self.experiment_id = self.client.get_run(parent_run_id).info.experiment_id
        self.study_name = study_name

    def start(self, trial: optuna.Trial) -> str:
        run = self.client.create_run(
            self.experiment_id,
            run_name=f"trial-{trial.number}",
            tags={
                "mlflow.parentRunId": self.parent,
                "optuna.study": self.study_name,
                "optuna.trial": str(trial.number),
            },
        )
        return run.info.run_id

    def end(self, run_id: str, trial: optuna.trial.FrozenTrial) -> None:
        from mlflow.entities import Metric, Param, RunTag

        now = int(time.time() * 1000)
        params = [Param(k, str(v)) for k, v in trial.params.items()]
        metrics = [Metric("val_delta_m", v, now, int(step)) for step, v in sorted(trial.intermediate_values.items())]
        if trial.value is not None:
            metrics.append(Metric("delta_m", trial.value, now, 0))
        metrics += [Metric(f"val_{task}", v, now, 0) for task, v in (trial.user_attrs.get("val_metrics") or {}).items()]
        metrics.append(Metric("epochs", trial.user_attrs.get("epochs", 0), now, 0))
        tags = [RunTag("optuna.state", trial.state.name)]
        if "pruned_reason" in trial.user_attrs:
            tags.append(RunTag("optuna.pruned_reason", str(trial.user_attrs["pruned_reason"])))
        self.client.log_batch(run_id, metrics=metrics, params=params, tags=tags)
        if trial.state.name == "PRUNED":  # stopped early: not a finished candidate, and seen as such in the UI
            self.client.update_run(run_id, name=f"trial-{trial.number} (pruned)")
        self.client.set_terminated(run_id, status=TRIAL_STATUS.get(trial.state.name, "FINISHED"))


def worker_entry(kwargs: dict[str, Any]) -> list[int]:
    """Entry point for a spawned worker process (picklable, top-level)."""
    return run_worker(**kwargs)
