"""Scheduled retraining as a user runs it, end to end — the test that would have caught the broken scheduler.

`mtlops schedule` (= `make serve`) starts a real Prefect server (its own PREFECT_HOME and port) and
serves `retrain` on a short interval; the server's scheduler must create the scheduled runs, the runner
must execute one through DVC on a tiny project, and that run must register a model version. Then
Ctrl-C (SIGINT) must end the command and every process it started within seconds.
"""

from __future__ import annotations

import signal
import time

import pytest

from mtlops.config import deep_merge
from mtlops.processes import free_port
from tests.helpers import synthetic_params
from tests.orchestration import prefect_http
from tests.orchestration.helpers import dvc_project, registered_versions
from tests.orchestration.procs import MTLOPS, clean_env, family, start, stop, survivors, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("scheduler")]

# the quickest honest pipeline: every stage runs, search off, one epoch
FAST = {"search": {"enabled": False}, "train": {"epochs": 1}, "evaluation": {"bootstrap": 10},
        "promotion": {"delta_m_floor": -1000.0}, "schedule": {"timezone": "Europe/Paris"}}
# the scheduler's loop and the runner's poll every second (Prefect's defaults: 60 s and 10 s)
QUICK_PREFECT = {"PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "1", "PREFECT_RUNNER_POLL_FREQUENCY": "1"}


def test_the_scheduler_creates_runs_and_a_scheduled_run_registers_a_model(tmp_path):
    root = dvc_project(tmp_path / "proj", deep_merge(synthetic_params(), FAST))
    port, log = free_port(), tmp_path / "schedule.log"
    api = f"http://127.0.0.1:{port}/api"
    began = time.monotonic()
    proc = start([MTLOPS, "schedule", "--params", str(root / "params.yaml"), "--port", str(port), "--interval", "15"],
                 log, clean_env(tmp_path, **QUICK_PREFECT), cwd=root)
    try:
        deployment = wait_for("the deployment", lambda: prefect_http.deployment(api, "scheduled"), 240, log)
        schedule = deployment["schedules"][0]
        assert schedule["active"] and schedule["schedule"]["timezone"] == "Europe/Paris"  # params' timezone
        assert deployment["parameters"]["params_file"] == str(root / "params.yaml")

        def scheduled() -> list:
            return [r for r in prefect_http.flow_runs(api, deployment["id"]) if "auto-scheduled" in r["tags"]]

        served = time.monotonic()
        wait_for("runs created by the server's scheduler", scheduled, 60, log)
        created = time.monotonic()
        done = wait_for("a completed scheduled run",
                        lambda: [r for r in scheduled() if r["state_type"] == "COMPLETED"], 600, log, every_s=2)
        assert done and [int(v.version) for v in registered_versions(root, "tiny-mtl")] == [1]

        procs = family(proc.pid)
        interrupted = time.monotonic()
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        assert proc.wait(30) == 128 + signal.SIGINT
        assert survivors(procs, within_s=5) == [], log.read_text()[-3000:]
        stopped = time.monotonic()
        assert stopped - interrupted < 15
        assert not prefect_http.healthy(api)
        print(f"server + deployment {served - began:.0f} s, scheduled runs created {created - served:.0f} s later, "
              f"a scheduled run completed {interrupted - created:.0f} s later, "
              f"Ctrl-C took {stopped - interrupted:.1f} s")
    finally:
        stop(proc)
