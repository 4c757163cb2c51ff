"""Independent work in worker processes: the same results as one job after another, on every core.

`run_jobs(fn, jobs, workers)` returns `[fn(job) for job in jobs]`, in the jobs' order. With one worker
(or one job) it is exactly that loop, here. Otherwise the jobs run in up to `workers` processes
started with `spawn` (torch is not fork-safe once it has started threads), each with one torch/BLAS
thread: on a shared 2-core machine two threads per process ran 8-15x slower (issue #13), so one
process per core, one thread each, is the way to use both. A job must be a pure function of its
argument — it seeds its own generators, reads its inputs from files, writes only its own outputs —
and then its result is bit-identical either way (each caller's tests compare the two).

A job that raises re-raises here with its own type and message (the worker's traceback as the
cause), so the stage's one-line error is the one a sequential run prints; the other jobs are
stopped. A worker that dies (killed, out of memory) raises `WorkerDied` naming its job. A job run
inside a worker runs its own jobs sequentially: no pool inside a pool. `JobPool` keeps the processes for
several rounds of jobs (the search's batches), so each round does not pay their start-up again.

`resolve_workers` turns the config's `resources.workers` (null: all the cores this process may use,
`available_cores`: CPU affinity and a cgroup quota honoured) into a count, refusing more than the cores.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from mtlops.errors import UserError

J = TypeVar("J")
R = TypeVar("R")

# set in every worker: a job there runs its own jobs one after another
IN_WORKER = "MTLOPS_POOL_WORKER"
# what the native libraries read when they load: one thread per worker, and OpenMP threads that sleep
# rather than spin while they wait (LightGBM's own n_jobs threads beside another worker's training ran
# 10-50x slower spinning on a shared 2-core machine; sleeping changes timing only, never a result)
WORKER_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}


class TooManyWorkers(UserError):
    """More worker processes were asked for than this process has cores."""


class WorkerDied(UserError):
    """A worker process ended without returning its job's result (killed, out of memory)."""


def available_cores() -> int:
    """The cores this process may run on: its CPU affinity, lowered by a cgroup CPU quota (containers)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    quota = cgroup_quota()
    if quota is not None:
        cores = min(cores, max(1, math.floor(quota)))
    return max(1, cores)


def cgroup_quota(root: Path = Path("/sys/fs/cgroup")) -> float | None:
    """CPUs the cgroup allows (cgroup v2 `cpu.max`, v1 `cpu.cfs_quota_us`); None without a quota."""
    with contextlib.suppress(OSError, ValueError):
        quota, period = (root / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    with contextlib.suppress(OSError, ValueError):
        quota_us = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period_us = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        return quota_us / period_us if quota_us > 0 else None
    return None


def resolve_workers(requested: int | None, key: str = "resources.workers") -> int:
    """`requested` processes (None: the available cores); more than the cores is refused, naming `key`."""
    cores = available_cores()
    if requested is None:
        return cores
    if requested < 1:
        raise TooManyWorkers(f"{key}: {requested} workers; use at least 1 (or null for every core)")
    if requested > cores:
        raise TooManyWorkers(
            f"{key}: {requested} workers, but this process may use {cores} core{'s' * (cores != 1)} "
            f"(CPU affinity / cgroup quota); set at most {cores}, or null for all of them"
        )
    return requested


def in_worker() -> bool:
    return os.environ.get(IN_WORKER) == "1"


def run_jobs(fn: Callable[[J], R], jobs: Sequence[J], workers: int, name: Callable[[J], str] = str) -> list[R]:
    """`[fn(job) for job in jobs]`, with up to `workers` jobs at a time in spawned one-thread processes.

    `fn` must be a module-level function and jobs and results picklable; `name(job)` names a job in
    `WorkerDied`'s message.
    """
    jobs = list(jobs)
    with JobPool(min(workers, len(jobs))) as pool:
        return pool.map(fn, jobs, name)


class JobPool:
    """`run_jobs` for several rounds of jobs on the same processes (the search's batches of trials): the
    workers start once, and what a job caches in its process (loaded data, imported torch) serves the next
    round. With one worker, or inside a worker, `map` is the plain loop here. Closing the pool ends them."""

    def __init__(self, workers: int) -> None:
        self._pool: Any = None
        if workers > 1 and not in_worker():
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            self._pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_one_thread)

    def __enter__(self) -> JobPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def map(self, fn: Callable[[J], R], jobs: Sequence[J], name: Callable[[J], str] = str) -> list[R]:
        """`[fn(job) for job in jobs]`, in the jobs' order; the first job's error stops the round (and the pool)."""
        jobs = list(jobs)
        if self._pool is None:
            return [fn(job) for job in jobs]
        from concurrent.futures import FIRST_EXCEPTION, wait
        from concurrent.futures.process import BrokenProcessPool

        try:
            with _worker_environment():  # processes start on submit, and take the environment they start with
                futures = [self._pool.submit(fn, job) for job in jobs]
            wait(futures, return_when=FIRST_EXCEPTION)
            errors: list[tuple[J, BaseException]] = [
                (job, error) for job, f in zip(jobs, futures) if f.done() and (error := f.exception()) is not None
            ]
            own = [error for _, error in errors if not isinstance(error, BrokenProcessPool)]
            if own:
                raise own[0]
            if errors:
                unfinished = ", ".join(name(job) for job, _ in errors)
                raise WorkerDied(f"a worker process died before finishing: {unfinished} (killed? out of memory? a "
                                 "script calling this without `if __name__ == '__main__':`?); resources.workers: 1 "
                                 "runs them in this process") from errors[0][1]
            return [future.result() for future in futures]
        except BaseException:
            _stop(self._pool)
            self._pool = None
            raise

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


def _stop(pool: Any) -> None:
    """After an error (or Ctrl-C): cancel the jobs not started and end the workers, the running jobs unawaited."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for process in processes:
        if process.is_alive():
            process.terminate()
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.join(timeout=10)


@contextlib.contextmanager
def _worker_environment() -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in (*WORKER_ENV, IN_WORKER)}
    os.environ.update({**WORKER_ENV, IN_WORKER: "1"})
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _one_thread() -> None:
    """In each worker before its first job: one torch thread, if importing the parent's main module loaded torch."""
    import sys

    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)
