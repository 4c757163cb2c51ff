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


@pytest.mark.e2e
def test_champion_answers_over_http(served, tmp_path):
    import mlflow

    cfg, paths, _ = served
    port = free_port()
    log = (tmp_path / "server.log").open("w")
    proc = start(paths, cfg.project.model_name, port=port, stdout=log, stderr=subprocess.STDOUT,
                 start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_S
        while True:
            assert proc.poll() is None, (tmp_path / "server.log").read_text()[-3000:]
            try:
                with urllib.request.urlopen(f"{base}/ping", timeout=5) as resp:
                    if resp.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            assert time.monotonic() < deadline, "server did not answer /ping in time"
            time.sleep(1)

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
        os.killpg(proc.pid, signal.SIGTERM)  # the server and the workers it started
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
