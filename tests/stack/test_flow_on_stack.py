"""The retrain flow on the team stack: `mtlops run` with MLflow, Prefect and the search's Optuna study
all on the stack's servers (credentials from the environment, as `mtlops stack env` prints them)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import synthetic_params
from tests.orchestration.helpers import dvc_project

# about 3 minutes on 2 shared cores (the stack's start, then the whole flow through DVC): `make test-faults`
pytestmark = [pytest.mark.xdist_group("stack"), pytest.mark.e2e, pytest.mark.faults_slow]


def test_the_retrain_flow_runs_on_the_stack(stack, tmp_path):
    _, env = stack
    root = dvc_project(tmp_path / "proj", synthetic_params())
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "PREFECT_", "MTLOPS_"))}
    mtlops = str(Path(sys.executable).parent / "mtlops")
    done = subprocess.run([mtlops, "run", "-p", str(root / "params.yaml")], env={**clean, **env},
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    assert not (root / "mlflow" / "mlflow.db").exists()  # nothing went to the embedded store
    from mlflow import MlflowClient

    os.environ.update({k: env[k] for k in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")})
    try:
        # the registry named as well: a bare MlflowClient(uri) asks the process-wide registry URI, which an
        # earlier test in this worker (any in-process stage) points at its own sqlite store
        uri = env["MLFLOW_TRACKING_URI"]
        versions = MlflowClient(tracking_uri=uri, registry_uri=uri).search_model_versions("name='tiny-mtl'")
    finally:
        for key in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
            os.environ.pop(key)
    assert len(versions) == 1
    storage = json.loads((root / "reports" / "search.json").read_text())["storage"]
    assert storage.startswith("postgresql+psycopg://mtlops:***@")  # the study on the stack, password redacted

    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: env["PREFECT_API_URL"],
                             PREFECT_API_AUTH_STRING: env["PREFECT_API_AUTH_STRING"]}):
        with get_client(sync_client=True) as client:
            runs = client.read_flow_runs()
    assert [r.state.type.value for r in runs] == ["COMPLETED"]
