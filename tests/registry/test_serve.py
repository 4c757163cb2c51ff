"""The champion served by `mlflow models serve --env-manager local`, over HTTP on 127.0.0.1."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

from mtlops.registry.http_app import reason
from mtlops.registry.pyfunc import conform
from mtlops.registry.serve import serve_command, serve_env, start

STARTUP_S = 240


def free_port() -> int:
    try:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]
    except OSError as err:
        pytest.skip(f"cannot bind a port on 127.0.0.1: {err}")


def _post(url: str, body: dict) -> tuple[int, str]:
    req = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def test_serve_command_runs_the_scoring_app_from_this_environment(tmp_path):
    from mtlops.paths import Paths
    from mtlops.registry.http_app import MODEL_ENV

    cmd = serve_command(port=5123)
    assert cmd[:3] == [sys.executable, "-m", "uvicorn"] and "mtlops.registry.http_app:create_app" in cmd
    assert cmd[cmd.index("--host") + 1] == "127.0.0.1" and cmd[cmd.index("--port") + 1] == "5123"
    assert serve_env(Paths.at(tmp_path), "m")[MODEL_ENV] == "models:/m@champion"
    assert serve_env(Paths.at(tmp_path), "m", version="3")[MODEL_ENV] == "models:/m/3"  # resolved: what it serves


def test_a_scoring_error_keeps_what_is_wrong():
    mlflow_message = (
        "Failed to predict data '   x1  shop\n0  1.0  a'. \nError: Failed to enforce schema of data '...' with "
        "schema '['x1': Any (required)]'. Error: Model is missing inputs ['x2']."
    )
    assert reason(mlflow_message) == "Model is missing inputs ['x2']."
    assert reason("Invalid input. Data is not compatible") == "Invalid input. Data is not compatible"


def _start_server(paths, model_name: str, log_path) -> tuple[subprocess.Popen, str]:
    """Start the server on a free port and wait for /ping (bounded). Another process on this shared
    machine may take the port between our probe and uvicorn's bind: then try a new port (3 tries)."""
    for _ in range(3):
        port = free_port()
        with log_path.open("w") as log:
            proc = start(paths, model_name, port=port, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + STARTUP_S
        while proc.poll() is None:
            try:
                with urllib.request.urlopen(f"{base}/ping", timeout=5) as resp:
                    if resp.status == 200:
                        return proc, base
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                _stop(proc)
                pytest.fail(f"server did not answer /ping within {STARTUP_S}s:\n{log_path.read_text()[-4000:]}")
            time.sleep(1)
        text = log_path.read_text()
        if "address already in use" not in text.lower():
            pytest.fail(f"server exited with status {proc.returncode}:\n{text[:6000]}")
    pytest.fail(f"port taken on every try:\n{log_path.read_text()[-2000:]}")


@pytest.mark.e2e
def test_champion_answers_over_http(served, tmp_path):
    import mlflow

    cfg, paths, _ = served
    proc, base = _start_server(paths, cfg.project.model_name, tmp_path / "server.log")
    try:
        model = mlflow.pyfunc.load_model(f"models:/{cfg.project.model_name}@champion")
        schema = model.metadata.get_input_schema()
        rows = conform(pd.read_parquet(paths.test_raw).head(5)[schema.input_names()], schema)
        expected = model.predict(rows)
        split = json.loads(rows.to_json(orient="split", index=False))
        status, body = _post(f"{base}/invocations", {"dataframe_split": split})
        assert status == 200, body
        got = pd.DataFrame(json.loads(body)["predictions"])
        assert list(got.columns) == list(expected.columns)
        pd.testing.assert_frame_equal(got, expected, check_dtype=False, rtol=1e-6)

        for bad, column in ((rows.drop(columns=["x2"]), "x2"), (rows.assign(x1="oops"), "x1")):
            status, body = _post(f"{base}/invocations", {"dataframe_split": json.loads(bad.to_json(orient="split"))})
            message = json.loads(body)["message"]
            assert 400 <= status < 500 and column in message and "\n" not in message, (status, body[:500])
            assert len(body) < 300 and "Failed to predict data" not in body, body[:500]

        # README's curl, verbatim but for the port, from the project folder (its .venv: this interpreter's)
        readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
        curl = next(line for line in readme.splitlines() if "| curl" in line)
        venv = paths.root / ".venv"
        if not venv.exists():
            venv.symlink_to(Path(sys.executable).parent.parent)
        assert shutil.which("curl"), "the README's example needs curl"
        command = curl.replace("127.0.0.1:5001", base.removeprefix("http://"))
        done = subprocess.run(["bash", "-c", command], cwd=paths.root, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        got = pd.DataFrame(json.loads(done.stdout)["predictions"])
        assert list(got.columns) == list(expected.columns) and len(got) == 5
    finally:
        _stop(proc)


def _stop(proc: subprocess.Popen) -> None:
    """Stop the server and the uvicorn workers it started (its own process group)."""
    for sig, wait in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue


# ------------------------------------------------------------------------ every answer, in-process
BAD_REQUESTS = {  # name: (body bytes, content type, status)
    "empty dataframe_split": (json.dumps({"dataframe_split": {"columns": ["x1"], "data": []}}),
                              "application/json", 400),
    "empty data and columns": (json.dumps({"dataframe_split": {"columns": [], "data": []}}), "application/json", 400),
    "empty dataframe_records": (json.dumps({"dataframe_records": []}), "application/json", 400),
    "not JSON": ("{not json", "application/json", 400),
    "unknown key": (json.dumps({"rows": [[1, 2]]}), "application/json", 400),
    "a list": (json.dumps([1, 2, 3]), "application/json", 400),
    "wrong content type": ("x1,x2\n1,2", "text/html", 415),
}


@pytest.fixture(scope="module")
def client(served):
    """MLflow's scoring app as `mtlops serve` runs it, in this process, on the champion (by alias)."""
    from fastapi.testclient import TestClient

    from mtlops.registry.http_app import create_app
    from mtlops.tracking import point_mlflow_at, tracking_uri

    cfg, paths, registration = served
    # MLflow's process-wide URI, as `mtlops serve` sets it: an earlier test in this worker may have set
    # another project's, which outranks the environment variable
    point_mlflow_at(tracking_uri(paths))
    app = create_app(f"models:/{cfg.project.model_name}@champion")
    return TestClient(app), cfg, paths, registration


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_every_bad_request_gets_a_one_line_json_4xx_without_a_traceback(client, case):
    """An empty `dataframe_split` answered HTTP 400 with a full Python traceback before #25."""
    http, *_ = client
    body, content_type, status = BAD_REQUESTS[case]
    resp = http.post("/invocations", content=body, headers={"Content-Type": content_type})
    assert resp.status_code == status, resp.text
    payload = resp.json()
    assert set(payload) == {"error_code", "message"} and payload["message"], payload
    assert "\n" not in payload["message"] and len(payload["message"]) <= 500
    assert "Traceback" not in resp.text and "stack_trace" not in resp.text


def test_every_answer_names_the_version_that_gave_it(client):
    http, cfg, paths, registration = client
    rows = pd.read_parquet(paths.test_raw).head(3)[cfg.features.all_columns()]
    split = json.loads(rows.to_json(orient="split", index=False))
    for resp in (http.post("/invocations", json={"dataframe_split": split}), http.get("/ping"),
                 http.post("/invocations", json={"dataframe_split": {"columns": [], "data": []}}), http.get("/nope")):
        assert resp.headers["X-Mtlops-Model"] == cfg.project.model_name
        assert resp.headers["X-Mtlops-Model-Version"] == str(registration["version"])
        assert resp.headers["X-Mtlops-Model-Alias"] == "champion"
    assert http.get("/nope").json()["error_code"] == "NOT_FOUND"
    empty = http.post("/invocations", json={"dataframe_split": {"columns": list(rows.columns), "data": []}})
    assert empty.status_code == 400 and "no rows to score" in empty.json()["message"], empty.text


def test_mtlops_serve_says_what_it_serves_before_it_starts(served, tmp_path):
    """The start-up line names the model, the version the alias resolves to, and the alias."""
    cfg, paths, registration = served
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    mtlops = Path(sys.executable).with_name("mtlops")
    cmd = [str(mtlops)] if mtlops.exists() else [sys.executable, "-m", "mtlops.cli"]
    proc = subprocess.Popen([*cmd, "serve", "--params", str(paths.root / "params.yaml"), "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            start_new_session=True)
    try:
        first = proc.stdout.readline()
    finally:
        _stop(proc)
    assert first.startswith(f"serving {cfg.project.model_name} version {registration['version']} (alias champion) "
                            f"at http://127.0.0.1:{port}/invocations"), first
