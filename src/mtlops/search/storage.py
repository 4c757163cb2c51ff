"""Where a study lives: its name (derived from the problem) and its Optuna storage.

The default is a journal file under `data/search/`, safe for several processes on one machine;
a storage URL (PostgreSQL, or sqlite for a single worker) replaces it: `--storage`, then
`search.storage`, then the `MTLOPS_SEARCH_STORAGE` environment variable (`mtlops stack env` sets it).
A URL with a password goes in the environment: `--storage` refuses one (the process list is public).
Studies are always opened with `load_if_exists`, so rerunning after a kill resumes the same study.

On a server database (PostgreSQL) the workers may run on many hosts: each trial sends a heartbeat
(every `search.heartbeat_s` seconds); a trial silent for `search.grace_s` (null: 3 heartbeats) is
marked FAIL and queued once more with the same params, and the budget is counted under a lock held in
the database itself.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import threading
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mtlops.code_identity import runs_code_hash
from mtlops.errors import UserError
from mtlops.search.space import resolved

if TYPE_CHECKING:
    import optuna

    from mtlops.paths import Paths
    from mtlops.schema import Config

# the parts of `train` a trial does not set: they change what a trial's score means
_TRAIN_FIXED = ("optimizer", "patience", "amp", "grad_clip", "deterministic", "stop_on", "schedule", "warmup_epochs",
                "ema_half_life")  # fmt: skip

# where a trial's score comes from: the objective, with the training and scoring it runs, and the config defaults
OBJECTIVE = ("mtlops.search.objective", "mtlops.schema", "mtlops.config")


class SearchStorageError(UserError):
    """The search storage cannot be used as asked (e.g. sqlite with parallel workers)."""


def problem_hash(cfg: Config, paths: Paths) -> str:
    """A short hash of what defines the objective: data, features, tasks, split, baselines, space, code.

    The data snapshot's content hash joins in when ingest recorded one, so new data (a moved
    date cut-off, a replaced user file) starts a new study while a rerun resumes the old one; so does
    the code a trial's score depends on (`OBJECTIVE`, `mtlops.code_identity`), so a changed objective or
    training loop starts a new study instead of spending the old one's budget.
    """
    dump = cfg.model_dump(mode="json")
    problem: dict[str, Any] = {k: dump[k] for k in ("data", "features", "tasks", "split", "baselines")}
    problem["encoder"] = dump["model"]["encoder"]
    problem["train"] = {k: dump["train"][k] for k in _TRAIN_FIXED}
    problem["search"] = {k: dump["search"][k] for k in ("epochs", "max_train_rows", "transfer_penalty")}
    problem["configured"] = {"model": {k: dump["model"][k] for k in ("architecture", "weighting")},
                             "train": {k: dump["train"][k] for k in ("lr", "weight_decay", "batch_size")}}  # trial 0
    problem["search"]["space"] = resolved(cfg.search.space).model_dump(mode="json")  # a new method: a new study
    if cfg.search.fixed:  # a key the search does not draw holds its configured value in every trial
        problem["fixed"] = {key: _value(dump, key) for key in sorted(cfg.search.fixed)}
    problem["seed"] = cfg.project.seed
    problem["code"] = runs_code_hash(OBJECTIVE)
    if paths.raw_meta.exists():
        problem["snapshot"] = json.loads(paths.raw_meta.read_text()).get("sha256")
    return hashlib.sha256(json.dumps(problem, sort_keys=True).encode()).hexdigest()[:12]


def _value(dump: dict[str, Any], dotted: str) -> Any:
    for part in dotted.split("."):
        dump = dump[part]
    return dump


def study_name(cfg: Config, paths: Paths) -> str:
    return cfg.search.study_name or f"{cfg.project.name}-{problem_hash(cfg, paths)}"


def storage_url(cfg: Config, paths: Paths, name: str, storage: str | None = None) -> str:
    """The URL as given (argument, then config), else the journal file path for this study."""
    url = storage or cfg.search.storage or os.environ.get("MTLOPS_SEARCH_STORAGE")
    return url or str(paths.search_dir / f"{name}.journal")


def redact(url: str) -> str:
    """A storage URL without its password, fit for reports and MLflow."""
    return re.sub(r"(//[^:/@]+):[^@/]*@", r"\1:***@", url)


def refuse_password_in_argv(url: str | None) -> None:
    """A command-line storage URL must not hold a password: every user of the machine reads a process's
    arguments (`ps`). The environment (MTLOPS_SEARCH_STORAGE, PGPASSWORD) is the process owner's alone."""
    if url and redact(url) != url:
        raise SearchStorageError(
            f"--storage {redact(url)}: a password on the command line is visible to every user of this machine "
            "(ps); set MTLOPS_SEARCH_STORAGE to the URL instead (`mtlops stack env` does), or leave the password "
            "out of the URL and put it in PGPASSWORD or ~/.pgpass"
        )


def check_workers(url: str, workers: int | None) -> None:
    """Refuse more than one process on a sqlite storage (None: the search resolves it to one there)."""
    if workers is not None and workers > 1 and url.startswith("sqlite"):
        raise SearchStorageError(
            f"search.storage: {redact(url)} is sqlite, which is unsafe for {workers} parallel workers; "
            "use the default journal file (storage: null) or a PostgreSQL URL, or set search.workers: 1"
        )


def make_storage(url: str, heartbeat_s: int = 10, grace_s: int | None = None) -> optuna.storages.BaseStorage:
    """A journal file storage for a path, an RDB storage for a database URL (a server's with a heartbeat)."""
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

    if "://" not in url:
        Path(url).parent.mkdir(parents=True, exist_ok=True)
        # the open(O_EXCL) lock works on filesystems where symlinks do not (e.g. some mounts)
        return optuna.storages.JournalStorage(JournalFileBackend(url, lock_obj=JournalFileOpenLock(url)))
    if url.startswith("sqlite"):  # one worker only (check_workers): no heartbeat needed
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        return optuna.storages.RDBStorage(url)
    # hosts starting at once on a fresh database would race to create Optuna's tables
    schema_lock = budget_lock(url, "optuna-schema", Path()) if url.startswith("postgresql") else nullcontext()
    with schema_lock, warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # heartbeat: stable since 2.9
        return optuna.storages.RDBStorage(
            url,
            engine_kwargs={"pool_pre_ping": True},
            heartbeat_interval=heartbeat_s,
            grace_period=grace_s or 3 * heartbeat_s,
            heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY),
        )


# how often a trial whose worker vanished is run again with the same params
MAX_RETRY = 1


def _heartbeat_interval(study: optuna.Study) -> int | None:
    # Optuna keeps a study's storage private; its heartbeat is only started by `optimize`, not ask/tell
    getter = getattr(study._storage, "get_heartbeat_interval", None)
    return getter() if getter else None


@contextmanager
def heartbeat(study: optuna.Study, trials: Sequence[optuna.Trial]) -> Iterator[None]:
    """Beat for `trials` while the block runs (when the storage has a heartbeat), so others know they live.

    The search beats for a whole batch from the process that asked it: a trial still waiting for a free
    worker lives too, and all of them go silent (and are run again elsewhere) if that process dies."""
    interval = _heartbeat_interval(study)
    if not interval:
        yield
        return
    stop = threading.Event()

    def beat() -> None:
        while True:
            for trial in trials:
                study._storage.record_heartbeat(trial._trial_id)  # type: ignore[attr-defined]
            if stop.wait(interval):
                return

    thread = threading.Thread(target=beat, name=f"heartbeat-{trials[0].number}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


@contextmanager
def budget_lock(url: str, study: str, lock_file: Path) -> Iterator[None]:
    """Held while a worker counts the trials and takes the next one, so the budget stays exact.

    On PostgreSQL it is an advisory lock in the database: shared by workers on every host, and
    released by the server when a killed worker's connection drops. Elsewhere a file lock (one host).
    """
    if not url.startswith("postgresql"):
        from filelock import FileLock

        with FileLock(str(lock_file)):
            yield
        return
    import sqlalchemy

    key = int.from_bytes(hashlib.sha256(f"mtlops-budget:{study}".encode()).digest()[:8], "big", signed=True)
    engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text("SELECT pg_advisory_lock(:key)"), {"key": key})
            try:
                yield
            finally:
                conn.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:key)"), {"key": key})
    finally:
        engine.dispose()


def worker_id() -> str:
    """Who runs a trial: stale RUNNING trials of dead processes on this host can then be failed."""
    return f"{socket.gethostname()}:{os.getpid()}"


# how long a RUNNING trial that names no worker may stay so: its worker died between taking it and naming itself
UNOWNED_GRACE_S = 60.0


def owner_alive(owner: str | None, started: datetime | None = None, grace_s: float = UNOWNED_GRACE_S) -> bool:
    """False when the owner is a process on this host that no longer exists, or when the trial names no owner
    and started more than `grace_s` ago (a worker names itself as it takes a trial, under the budget lock:
    one that never did died in between, and nobody would ever finish the trial)."""
    if not owner or ":" not in owner:
        return started is None or (datetime.now() - started).total_seconds() < grace_s
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname():
        return True  # another machine's worker: it may well be running
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError):
        return True
    return True


def unowned_grace(cfg: Config) -> float:
    """How long a trial may name no owner: the search's grace (`search.grace_s`, null: 3 heartbeats)."""
    return float(cfg.search.grace_s or 3 * cfg.search.heartbeat_s)


def fail_stale_trials(study: optuna.Study, grace_s: float = UNOWNED_GRACE_S) -> list[int]:
    """Mark RUNNING trials whose process died (a killed search) as FAIL; return their numbers.

    With a heartbeat (server databases) Optuna decides, on any host, and queues each once more;
    without one (the journal) the owner attribute tells, for processes on this host. Either way a trial
    that names no owner `grace_s` after it started is failed (`owner_alive`): its worker died before its
    first heartbeat, and a search waiting for it would wait forever.
    """
    import optuna
    from optuna.trial import TrialState

    stale: list[int] = []
    if _heartbeat_interval(study):
        running = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)
        still = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
        stale = sorted(running - still)
    heartbeat = bool(_heartbeat_interval(study))
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        owner = t.user_attrs.get("worker")
        if (heartbeat and owner) or owner_alive(owner, t.datetime_start, grace_s):
            continue  # with a heartbeat, a named owner is Optuna's to judge
        study.tell(t.number, state=TrialState.FAIL)
        stale.append(t.number)
    return sorted(stale)


def open_study(cfg: Config, paths: Paths, storage: str | None = None) -> optuna.Study:
    """Create or load this config's study (maximising validation Δm) with its sampler and pruner."""
    import optuna

    name = study_name(cfg, paths)
    url = storage_url(cfg, paths, name, storage)
    storage_obj = make_storage(url, cfg.search.heartbeat_s, cfg.search.grace_s)
    # The sampler's seed moves on with the study's history, so a resumed study does not replay the
    # random start-up trials of the first session (nor does a second host sharing the study).
    existing = _n_trials(storage_obj, name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # `group`
        sampler = optuna.samplers.TPESampler(
            seed=cfg.project.seed + existing,
            n_startup_trials=_startup_trials(cfg),
            multivariate=True,
            group=True,  # the space is conditional: model each architecture's/weighting's params apart
            constant_liar=True,  # a batch's trials (and other hosts') avoid sampling near each other's running ones
        )
    return optuna.create_study(
        storage=storage_obj,
        study_name=name,
        direction="maximize",
        sampler=sampler,
        pruner=make_pruner(cfg),
        load_if_exists=True,
    )


def _n_trials(storage: optuna.storages.BaseStorage, name: str) -> int:
    try:
        study_id = storage.get_study_id_from_name(name)
    except KeyError:
        return 0
    return storage.get_n_trials(study_id)


def _startup_trials(cfg: Config) -> int:
    """Random trials before TPE models the space: a third of the budget, between 3 and 10."""
    budget = cfg.search.n_trials or 30
    return max(3, min(10, budget // 3))


def make_pruner(cfg: Config) -> optuna.pruners.BasePruner:
    """Prune from the first epoch on, once a few trials have completed (reports are per epoch)."""
    import optuna

    kind = cfg.search.pruner
    if kind == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1)
    if kind == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=cfg.search.epochs, reduction_factor=3)
    return optuna.pruners.NopPruner()
