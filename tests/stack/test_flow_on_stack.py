"""The retrain flow on the team stack, run the way a team runs it: the repo's `prefect.yaml` deployed with
`prefect deploy --all` to the stack's Prefect server, a `prefect worker start --pool mtlops` process worker
running it, MLflow and the search's Optuna study (2 worker processes) on the stack's servers, the final
training in 2 data-parallel processes, credentials from the environment as `mtlops stack env` prints them."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from mtlops.config import deep_merge
from mtlops.stack.services import WORK_POOL
from tests.helpers import synthetic_params
from tests.orchestration.helpers import REPO, dvc_project
from tests.orchestration.procs import BIN, clean_env, start, stop, wait_for

# the stack's start, a deployment, then the whole flow through DVC: 6-9 minutes measured on 2 busy shared cores,
# so `make test-faults` (CI runs it too)
pytestmark = [pytest.mark.xdist_group("stack"), pytest.mark.e2e, pytest.mark.faults_slow]

N_TRIALS = 4
# 2 search workers on the stack's PostgreSQL, the final training in 2 data-parallel (gloo) processes
TINY = {"search": {"workers": 2, "n_trials": N_TRIALS, "timeout_s": None, "epochs": 1, "pruner": "none"},
        "train": {"epochs": 2, "processes": 2}, "evaluation": {"bootstrap": 10},
        "promotion": {"delta_m_floor": -1000.0}}
# the worker asks for due runs every second (Prefect's default: 10 s)
QUICK_WORKER = {"PREFECT_WORKER_QUERY_SECONDS": "1"}


def test_a_process_worker_runs_the_retrain_flow_on_the_stack(stack, tmp_path):
    _, stack_env = stack
    root = dvc_project(tmp_path / "proj", deep_merge(synthetic_params(), TINY))
    shutil.copy(REPO / "prefect.yaml", root / "prefect.yaml")
    shutil.copytree(REPO / "flows", root / "flows", ignore=shutil.ignore_patterns("__pycache__"))
    env = clean_env(tmp_path, **stack_env, **QUICK_WORKER)
    prefect = str(BIN / "prefect")

    def cli(*args: str) -> str:
        done = subprocess.run([prefect, "--no-prompt", *args], cwd=root, env=env, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    cli("deploy", "--all")
    log = tmp_path / "worker.log"
    worker = start([prefect, "worker", "start", "--pool", WORK_POOL], log, env, cwd=root)
    try:
        cli("deployment", "run", "retrain/monthly", "--params", '{"cutoff": null}')
        runs = wait_for("the worker's run to end", lambda: _ended_runs(stack_env), 600, log, every_s=2)
    finally:
        stop(worker)
    assert [r.state.type.value for r in runs] == ["COMPLETED"], log.read_text()[-3000:]

    assert not (root / "mlflow" / "mlflow.db").exists()  # nothing went to the embedded store
    versions = _versions(stack_env, "tiny-mtl")
    assert len(versions) == 1 and versions[0].run_id  # registered on the stack's server, from the flow's run

    search = json.loads((root / "reports" / "search.json").read_text())
    assert search["storage"].startswith("postgresql+psycopg://mtlops:***@")  # on the stack, password redacted
    assert search["n_complete"] + search["n_pruned"] == N_TRIALS  # 2 workers, the budget exact
    from mtlops.search.storage import make_storage

    storage = make_storage(stack_env["MTLOPS_SEARCH_STORAGE"])
    trials = storage.get_all_trials(storage.get_study_id_from_name(search["study"]))
    assert len(trials) == N_TRIALS


def _ended_runs(env: dict[str, str]) -> list:
    """The stack's flow runs once none is left pending or running (the deployment's schedule aside)."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

    with (temporary_settings({PREFECT_API_URL: env["PREFECT_API_URL"],
                              PREFECT_API_AUTH_STRING: env["PREFECT_API_AUTH_STRING"]}),
          get_client(sync_client=True) as client):
        runs = [r for r in client.read_flow_runs() if r.state.type.value != "SCHEDULED"]
    return runs if runs and all(r.state.is_final() for r in runs) else []


def _versions(env: dict[str, str], name: str) -> list:
    """The registered versions on the stack's MLflow, asked as a client of the server would."""
    import os

    from mlflow import MlflowClient

    keys = ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")
    saved = {k: os.environ.get(k) for k in keys}
    os.environ.update({k: env[k] for k in keys})
    try:
        # the registry named as well: a bare MlflowClient(uri) asks the process-wide registry URI, which an
        # earlier test in this worker (any in-process stage) points at its own sqlite store
        uri = env["MLFLOW_TRACKING_URI"]
        return MlflowClient(tracking_uri=uri, registry_uri=uri).search_model_versions(f"name='{name}'")
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
