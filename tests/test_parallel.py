"""The worker pool (`mtlops.parallel`): results in the jobs' order, the count honoured and capped by the cores,
one thread per worker, a job's error as its own, a dead worker named, no pool inside a pool."""

from __future__ import annotations

import os
import time

import pytest

from mtlops import parallel
from mtlops.parallel import (
    JobPool,
    TooManyWorkers,
    WorkerDied,
    available_cores,
    cgroup_quota,
    resolve_workers,
    run_jobs,
)


@pytest.fixture
def pool_allowed(monkeypatch):
    """The suite runs stages' jobs in order (its xdist workers hold the cores); these tests use real pools."""
    monkeypatch.delenv(parallel.IN_WORKER, raising=False)


def where(job: int) -> tuple[int, int, int, int, str | None]:
    """The job, its square, the process and torch thread count it ran with, and OMP_NUM_THREADS there."""
    import torch

    time.sleep(0.3)  # long enough that one worker cannot take every job before the other has started
    return job, job * job, os.getpid(), torch.get_num_threads(), os.environ.get("OMP_NUM_THREADS")


def fails(job: int) -> int:
    if job == 2:
        raise ValueError(f"job {job}: bad input in column 'x'")
    time.sleep(0.2)
    return job


def dies(job: int) -> int:
    if job == 1:
        os._exit(3)
    return job


def nested(job: int) -> list[int]:
    return run_jobs(_pid, [job, job], 2)


def _pid(_job: int) -> int:
    return os.getpid()


def test_two_workers_return_what_one_does_in_order_in_two_one_thread_processes(pool_allowed):
    jobs = list(range(6))
    sequential = run_jobs(where, jobs, 1)
    assert {r[2] for r in sequential} == {os.getpid()}
    parallel_ = run_jobs(where, jobs, 2)
    assert [r[:2] for r in parallel_] == [r[:2] for r in sequential] == [(j, j * j) for j in jobs]
    pids = {r[2] for r in parallel_}
    assert len(pids) == 2 and os.getpid() not in pids  # the count is honoured: two processes, not this one
    assert {r[3] for r in parallel_} == {1} and {r[4] for r in parallel_} == {"1"}
    assert parallel.IN_WORKER not in os.environ  # the workers' environment did not leak into this process


def test_a_job_pool_keeps_its_processes_for_the_next_round(pool_allowed):
    with JobPool(2) as pool:
        first = pool.map(where, [0, 1, 2, 3])
        second = pool.map(where, [4, 5, 6, 7])
    assert [r[:2] for r in first + second] == [(j, j * j) for j in range(8)]
    pids = {r[2] for r in first}
    assert len(pids) == 2 and {r[2] for r in second} == pids  # the same two processes served both rounds
    assert [r[2] for r in JobPool(1).map(where, [0, 1])] == [os.getpid()] * 2  # one worker: here, in order


def test_a_job_error_comes_back_as_itself(pool_allowed):
    with pytest.raises(ValueError, match="job 2: bad input in column 'x'"):
        run_jobs(fails, [0, 1, 2, 3], 2)


def test_a_dead_worker_is_named(pool_allowed):
    with pytest.raises(WorkerDied, match=r"worker process died before finishing: (job \d, )*job 1\b"):
        run_jobs(dies, [0, 1, 2], 2, name=lambda j: f"job {j}")


def test_a_worker_runs_its_own_jobs_in_order(pool_allowed):
    inner = run_jobs(nested, [0, 1], 2)
    assert all(len(set(pids)) == 1 for pids in inner)  # no pool inside a pool: one process per outer job


def test_workers_default_to_the_cores_and_are_capped_by_them(monkeypatch):
    cores = available_cores()
    assert resolve_workers(None) == cores and resolve_workers(cores) == cores
    with pytest.raises(TooManyWorkers, match=rf"resources\.workers: {cores + 1} workers.*at most {cores}"):
        resolve_workers(cores + 1)
    with pytest.raises(TooManyWorkers, match=r"search\.workers"):
        resolve_workers(cores + 1, "search.workers")
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0}, raising=False)  # pinned to one CPU
    assert available_cores() == 1
    with pytest.raises(TooManyWorkers, match="may use 1 core "):
        resolve_workers(2)


def test_a_cgroup_quota_lowers_the_cores(tmp_path):
    assert cgroup_quota(tmp_path) is None
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert cgroup_quota(tmp_path) is None
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert cgroup_quota(tmp_path) == 1.5
    (tmp_path / "cpu.max").unlink()
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("200000\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert cgroup_quota(tmp_path) == 2.0


def test_check_and_run_refuse_more_workers_than_cores_before_any_stage(project):
    from mtlops.checks import preflight
    from mtlops.config import with_overrides

    cfg, _ = project
    cores = available_cores()
    assert preflight(with_overrides(cfg, {"resources": {"workers": cores}, "train": {"device": "cpu"}})) == "cpu"
    with pytest.raises(TooManyWorkers, match=rf"^resources\.workers: {cores + 1} workers"):
        preflight(with_overrides(cfg, {"resources": {"workers": cores + 1}}))
    with pytest.raises(TooManyWorkers, match=rf"^search\.workers: {cores + 1} workers"):
        preflight(with_overrides(cfg, {"search": {"workers": cores + 1}}))
