"""The champion served by `mlflow models serve --env-manager local`, over HTTP on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pandas as pd
import pytest

from mtlops.registry.pyfunc import conform
from mtlops.registry.serve import serve_command, start

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


def test_serve_command_is_offline_and_local():
    cmd = serve_command("m", port=5123)
    assert cmd[cmd.index("-m", 3) + 1] == "models:/m@champion"
    assert cmd[cmd.index("--env-manager") + 1] == "local"
    assert cmd[cmd.index("-h") + 1] == "127.0.0.1" and cmd[cmd.index("-p") + 1] == "5123"


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

        missing = json.loads(rows.drop(columns=["x2"]).to_json(orient="split", index=False))
        status, body = _post(f"{base}/invocations", {"dataframe_split": missing})
        assert 400 <= status < 500 and "x2" in body, (status, body[:500])
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
