"""A search worker: asks the shared study for batches of trials until the budget or the deadline is reached.

A worker draws each batch's params itself and runs the batch on this machine's processes, so the
trials depend on `search.batch`, not on how many processes ran them. Several workers (on many hosts,
with PostgreSQL) may also share one study: they take trials under a lock (a file lock, or an advisory
lock in the database) that counts finished and running trials, so together they run exactly the
budget: none lost, none twice.
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
    batch: int = 1,
    workers: int = 1,
) -> list[int]:
    """Run trials of the config's study, `batch` at a time, until `budget` trials count or `deadline` passes.

    A batch's trials are asked and their params drawn here, one after another, before any of them
    trains; they run on `workers` processes (`mtlops.parallel.JobPool`) and are told here in trial
    order once all have ended. So TPE proposes each from the trials told before its batch, and the
    median pruner judges each against those: what a trial does depends on `batch`, never on `workers`
    or timing. Returns the numbers of the trials run. A trial that fails other than by pruning
    stops the search: its batch is marked FAIL (a rerun runs it again) and the error raised.
    """
    import uuid

    from mtlops.parallel import JobPool
    from mtlops.search.space import draw_overlay

    study = open_study(cfg, paths, storage)
    logger = TrialLogger(cfg, paths, parent_run_id, study.study_name) if parent_run_id else None
    limit = math.inf if budget is None else budget
    job = {"cfg": cfg, "paths": paths, "storage": storage, "baseline": baseline, "search": uuid.uuid4().hex}
    ran: list[int] = []
    try:
        with JobPool(min(workers, batch)) as pool:
            while time.time() < deadline:
                with budget_lock(storage or "", study.study_name, lock_path(paths, study.study_name)):
                    fail_stale_trials(study, unowned_grace(cfg))
                    finished, running = _finished_and_running(study)
                    trials = [_ask(study) for _ in range(int(min(batch, limit - finished - running)))]
                    for trial in trials:
                        trial.set_user_attr("worker", worker_id())
                        draw_overlay(cfg, trial)  # the params, drawn here in trial order: the workers only read them
                if not trials:
                    if finished >= limit:
                        break
                    time.sleep(WAIT_S)  # the rest runs elsewhere: stay, in case its worker dies
                    continue
                ran += [t.number for t in trials]
                _run_batch(study, trials, pool, job, logger, None if math.isinf(limit) else int(limit))
    finally:
        _RUNNER.clear()  # with one worker the trials ran here: let go of their data
    return ran


def _run_batch(study: optuna.Study, trials: list[optuna.Trial], pool: Any, job: dict[str, Any],
               logger: TrialLogger | None, budget: int | None) -> None:
    """Train the asked trials on the pool, then tell them in trial order (all FAIL if one raised)."""
    from optuna.trial import TrialState

    runs = [logger.start(t) if logger else None for t in trials]
    try:
        with heartbeat(study, trials):
            outcomes = pool.map(trial_entry, [{**job, "trial_id": t._trial_id} for t in trials],
                                name=lambda j: f"search trial (id {j['trial_id']})")
    except BaseException:
        for trial, run in zip(trials, runs):
            frozen = study.tell(trial, state=TrialState.FAIL)
            if logger and run is not None:
                logger.end(run, frozen)
        raise
    for trial, run, value in zip(trials, runs, outcomes):
        frozen = study.tell(trial, state=TrialState.PRUNED) if value is None else study.tell(trial, value)
        if logger and run is not None:
            logger.end(run, frozen)
        _announce(frozen, study, budget)


# this process's study and objective for the search it runs trials of (a worker's, kept between batches)
_RUNNER: dict[str, Any] = {}


def trial_entry(job: dict[str, Any]) -> float | None:
    """Run one asked trial (in a worker process or here) without telling it: its value, or None if pruned.

    Its reports and user attributes go to the storage as it trains; the asking process beats and tells.
    """
    import optuna

    from mtlops.search.objective import Objective

    if _RUNNER.get("search") != job["search"]:  # a new search: load its data once per process
        _RUNNER.clear()
        _RUNNER.update(search=job["search"], study=open_study(job["cfg"], job["paths"], job["storage"]),
                       objective=Objective(job["cfg"], job["paths"], job["baseline"]))
    study = _RUNNER["study"]
    trial = optuna.trial.Trial(study, job["trial_id"])
    trial.set_user_attr("ran_in", worker_id())
    try:
        return float(_RUNNER["objective"](trial))
    except optuna.TrialPruned:
        return None


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
