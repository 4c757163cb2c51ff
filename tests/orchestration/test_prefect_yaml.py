"""`prefect.yaml` the way Prefect users expect it: `prefect deploy --all` on a process work pool, `prefect
worker start` runs the deployment, and the schedule survives a restart of the Prefect server."""

from __future__ import annotations

import shutil
import signal
import subprocess
import urllib.error
import urllib.request

import pytest
import yaml

from mtlops.config import deep_merge
from mtlops.processes import free_port
from tests.helpers import synthetic_params
from tests.orchestration import prefect_http
from tests.orchestration.helpers import REPO, dvc_project, registered_versions
from tests.orchestration.procs import BIN, clean_env, start, stop, wait_for
from tests.orchestration.test_scheduler import FAST, QUICK_PREFECT


def test_prefect_yaml_schedules_what_params_yaml_says():
    deployment = yaml.safe_load((REPO / "prefect.yaml").read_text())["deployments"][0]
    schedule = yaml.safe_load((REPO / "params.yaml").read_text())["schedule"]
    assert deployment["schedules"] == [{"cron": schedule["cron"], "timezone": schedule["timezone"]}]
    assert deployment["entrypoint"] == "flows/retrain.py:retrain" and (REPO / "flows" / "retrain.py").exists()
    assert deployment["work_pool"]["name"] == "mtlops" and deployment["concurrency_limit"] == 1


@pytest.mark.e2e
@pytest.mark.faults_slow
@pytest.mark.xdist_group("scheduler")
def test_deploy_all_a_process_worker_runs_it_and_the_schedule_survives_a_server_restart(tmp_path):
    root = dvc_project(tmp_path / "proj", deep_merge(synthetic_params(), FAST))
    shutil.copy(REPO / "prefect.yaml", root / "prefect.yaml")
    shutil.copytree(REPO / "flows", root / "flows", ignore=shutil.ignore_patterns("__pycache__"))
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = clean_env(tmp_path, PREFECT_API_URL=api, **QUICK_PREFECT)
    prefect = str(BIN / "prefect")

    def server(log_name: str) -> subprocess.Popen:
        proc = start([prefect, "server", "start", "--host", "127.0.0.1", "--port", str(port)], tmp_path / log_name,
                     env)
        wait_for("the Prefect server", lambda: prefect_http.healthy(api), 240, tmp_path / log_name)
        return proc

    def cli(*args: str) -> str:
        done = subprocess.run([prefect, "--no-prompt", *args], cwd=root, env=env, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    first = server("server1.log")
    worker = None
    try:
        cli("work-pool", "create", "mtlops", "--type", "process")
        cli("deploy", "--all")
        deployment = prefect_http.deployment(api, "monthly")
        assert deployment["schedules"][0]["schedule"]["cron"] == "0 3 1 * *"
        assert deployment["schedules"][0]["schedule"]["timezone"] == "UTC"

        worker = start([prefect, "worker", "start", "-p", "mtlops"], tmp_path / "worker.log", env, cwd=root)
        # the synthetic source takes no cut-off: this run goes without one
        cli("deployment", "run", "retrain/monthly", "--params", '{"cutoff": null}')
        wait_for("the worker's run to complete", lambda: [r for r in prefect_http.flow_runs(api, deployment["id"])
                                                          if r["state_type"] == "COMPLETED"],
                 600, tmp_path / "worker.log", every_s=2)
        assert [int(v.version) for v in registered_versions(root, "tiny-mtl")] == [1]

        # the schedule survives a restart: its upcoming runs, deleted while the server is up, come back after it
        upcoming = wait_for("the scheduler's runs", lambda: [r for r in prefect_http.flow_runs(api, deployment["id"])
                                                            if "auto-scheduled" in r["tags"]], 60)
        for run in upcoming:  # a busy server (its sqlite locked by the scheduler) answers 503: ask again
            wait_for("the run's deletion", lambda run=run: _delete(f"{api}/flow_runs/{run['id']}"), 60, every_s=1)
        first.send_signal(signal.SIGINT)
        first.wait(60)
        second = server("server2.log")
        try:
            again = prefect_http.deployment(api, "monthly")
            assert again["id"] == deployment["id"] and again["schedules"][0]["active"]
            wait_for("runs scheduled after the restart",
                     lambda: [r for r in prefect_http.flow_runs(api, deployment["id"])
                              if "auto-scheduled" in r["tags"]], 60)
        finally:
            stop(second)
    finally:
        if worker is not None:
            stop(worker)
        stop(first)


def _delete(url: str) -> bool:
    """DELETE `url`: True when done, False on a 503 (the caller retries); any other error raises."""
    try:
        urllib.request.urlopen(urllib.request.Request(url, method="DELETE"))
    except urllib.error.HTTPError as err:
        if err.code != 503:
            raise
        return False
    return True
