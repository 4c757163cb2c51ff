"""Serving a registered model over HTTP with MLflow's own scoring server (`mlflow models serve`).

`--env-manager local` serves from this environment (offline, no virtualenv build); the server
resolves `models:/<name>@<alias>` through MLFLOW_TRACKING_URI, which `serve_env` sets to the
project's store. Endpoints: GET /ping, POST /invocations (`{"dataframe_split": …}` or
`{"dataframe_records": …}`); a request the model cannot score gets HTTP 400 naming the column.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from mtlops.registry.store import CHAMPION

if TYPE_CHECKING:
    from mtlops.paths import Paths

DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 5001


def model_uri(model_name: str, alias: str = CHAMPION) -> str:
    return f"models:/{model_name}@{alias}"


def serve_command(
    model_name: str, alias: str = CHAMPION, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, workers: int = 1
) -> list[str]:
    """argv for `mlflow models serve` on the aliased version, run by this interpreter's mlflow."""
    return [
        sys.executable, "-m", "mlflow", "models", "serve",
        "-m", model_uri(model_name, alias),
        "--env-manager", "local",
        "-h", host, "-p", str(port), "-w", str(workers),
    ]  # fmt: skip


def serve_env(paths: Paths) -> dict[str, str]:
    """This process's environment, with MLFLOW_TRACKING_URI at the project's store and this
    interpreter's bin folder first on PATH: MLflow starts the server as `exec uvicorn …`, which
    fails from a virtualenv that is not activated."""
    from mtlops.tracking import tracking_uri

    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    return {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri(paths), "PATH": path}


def start(
    paths: Paths, model_name: str, alias: str = CHAMPION, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, **popen
) -> subprocess.Popen:
    """Start the server in the background (the caller stops it); checks the alias exists first."""
    from mtlops.registry.store import ModelRef, connect, get_version

    get_version(connect(paths), ModelRef(model_name, alias=alias))  # a clear error now, not a crashed server
    return subprocess.Popen(serve_command(model_name, alias, host, port), env=serve_env(paths), **popen)


def serve(
    paths: Paths, model_name: str, alias: str = CHAMPION, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT
) -> int:
    """Serve in the foreground until interrupted; returns the server's exit status.

    The server is a child in the command's process group (`mtlops.orchestration.processes`): it stops
    with `mtlops serve`, SIGKILL included. A port still held by a server a killed `mtlops serve` left
    is reclaimed; held by anything else, refused by name."""
    from mtlops.orchestration.processes import child_group, claim_port
    from mtlops.registry.store import ModelRef, connect, get_version

    get_version(connect(paths), ModelRef(model_name, alias=alias))  # a clear error now, not a crashed server
    claim_port(host, port, "serve")
    with child_group("serve") as group:
        return group.popen(serve_command(model_name, alias, host, port), env=serve_env(paths)).wait()
