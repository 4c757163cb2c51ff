"""The search across hosts: independent worker processes, each with its own project copy and
environment, sharing only the PostgreSQL storage URL of the stack."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState

from mtlops.config import with_overrides
from mtlops.search.run import search
from mtlops.search.storage import open_study
from tests.search.test_search import copy_project, prepared  # noqa: F401  (the module fixture)

pytestmark = [pytest.mark.xdist_group("stack"), pytest.mark.e2e]

REPO = Path(__file__).parents[2]
SCRIPT = (
    "import sys, torch; torch.set_num_threads(1); sys.path.insert(0, sys.argv[1]);"
    "from mtlops.config import Config; from mtlops.paths import Paths; from mtlops.search.run import search;"
    "search(Config.model_validate_json(open(sys.argv[2]).read()), Paths.at(sys.argv[3]))"
)


def host(cfg, paths, url: str) -> subprocess.Popen:
    """A worker as a second machine would start it: its own process, folder, MLflow store and env."""
    cfg_file = paths.root / "cfg.json"
    cfg_file.write_text(cfg.model_dump_json())
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MTLOPS_"))}
    environ.update(MTLOPS_SEARCH_STORAGE=url)
    return subprocess.Popen([sys.executable, "-c", SCRIPT, str(REPO), str(cfg_file), str(paths.root)],
                            env=environ, start_new_session=True)


def test_two_hosts_run_exactly_the_budget(stack, prepared, tmp_path):  # noqa: F811
    _, env = stack
    url, n = env["MTLOPS_SEARCH_STORAGE"], 6
    hosts = [copy_project(prepared, tmp_path / name, {"pruner": "none", "epochs": 1, "n_trials": n,
                                                      "study_name": "two-hosts", "workers": 1}) for name in ("a", "b")]
    procs = [host(cfg, paths, url) for cfg, paths in hosts]
    assert [p.wait(timeout=300) for p in procs] == [0, 0]

    trials = open_study(hosts[0][0], hosts[0][1], url).trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * n  # not one more, not one less
    assert sorted(t.number for t in trials) == list(range(n))
    assert len({t.user_attrs["worker"] for t in trials}) == 2  # both hosts took trials


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_a_killed_hosts_trial_fails_by_heartbeat_and_runs_again(stack, prepared, tmp_path):  # noqa: F811
    _, env = stack
    url, n = env["MTLOPS_SEARCH_STORAGE"], 3
    beat = {"pruner": "none", "study_name": "killed", "heartbeat_s": 1, "grace_s": 3, "workers": 1}
    cfg_a, paths_a = copy_project(prepared, tmp_path / "a", {**beat, "n_trials": n})
    slow = with_overrides(cfg_a, {"search": {"epochs": 60}, "train": {"patience": 100}})  # time to kill it mid-trial
    proc = host(slow, paths_a, url)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            trials = open_study(cfg_a, paths_a, url).trials
            if any(t.state == TrialState.RUNNING and t.intermediate_values for t in trials):  # mid-training
                break
            time.sleep(0.2)
        assert proc.poll() is None, "the worker ended before it could be killed"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    killed = next(t.number for t in open_study(cfg_a, paths_a, url).trials if t.state == TrialState.RUNNING)

    cfg_b, paths_b = copy_project(prepared, tmp_path / "b", {**beat, "epochs": 1})
    search(cfg_b, paths_b, storage=url, n_trials=n)

    trials = open_study(cfg_b, paths_b, url).trials
    assert trials[killed].state == TrialState.FAIL
    retried = [t for t in trials if RetryHeartbeatStaleTrialCallback.retried_trial_number(t) == killed]
    assert len(retried) == 1 and retried[0].state == TrialState.COMPLETE
    assert retried[0].params == trials[killed].params
    assert [t.state for t in trials].count(TrialState.COMPLETE) == n
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]


def test_trial_zero_is_enqueued_under_the_database_lock(stack, prepared, tmp_path):  # noqa: F811
    """Two hosts starting a new study at once must enqueue the configured trial once: it is enqueued under
    the budget lock held in PostgreSQL (before #25 a file lock on each host's own disk). While this test
    holds that lock a starting host waits for it, with the study still empty."""
    import sqlalchemy

    from mtlops.search.storage import budget_lock

    _, env = stack
    url = env["MTLOPS_SEARCH_STORAGE"]
    cfg, paths = copy_project(prepared, tmp_path / "a", {"pruner": "none", "epochs": 1, "n_trials": 1,
                                                        "study_name": "trial-zero", "workers": 1})
    engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)

    def waiting() -> int:
        with engine.connect() as conn:
            query = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            return conn.execute(sqlalchemy.text(query)).scalar_one()

    with budget_lock(url, "trial-zero", tmp_path / "unused.lock"):
        proc = host(cfg, paths, url)
        deadline = time.time() + 180
        while time.time() < deadline and proc.poll() is None and not waiting():
            assert not open_study(cfg, paths, url).trials, "trial 0 was enqueued outside the database lock"
            time.sleep(0.2)
        assert waiting(), "the host never waited for the database lock"
        assert not open_study(cfg, paths, url).trials
    assert proc.wait(timeout=300) == 0
    engine.dispose()
    trials = open_study(cfg, paths, url).trials
    assert [t.user_attrs.get("configured") for t in trials] == [True] and trials[0].state == TrialState.COMPLETE
