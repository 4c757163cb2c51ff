"""Serving a registered model over HTTP: MLflow's scoring server, under uvicorn, from this environment.

The server (`mtlops.registry.http_app.create_app`) is MLflow's own (`mlflow models serve` runs the same
app), offline and with no environment to build; it loads `models:/<name>@<alias>` through
MLFLOW_TRACKING_URI, which `serve_env` sets to the project's store. Endpoints: GET /ping, POST
/invocations (`{"dataframe_split": …}` or `{"dataframe_records": …}`); a request the model cannot
score gets HTTP 400 whose message is one line naming the column. The alias is resolved to its version
once, at start: `mtlops serve` prints which name, version and alias it serves, the server loads that
version, and every response names it (`X-Mtlops-Model-Version`, `mtlops.registry.http_app`).
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


def serve_command(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, workers: int = 1) -> list[str]:
    """argv for uvicorn, run by this interpreter, on the scoring app (`serve_env` names the model)."""
    return [
        sys.executable, "-m", "uvicorn", "--factory", "mtlops.registry.http_app:create_app",
        "--host", host, "--port", str(port), "--workers", str(workers),
    ]  # fmt: skip


def serve_env(paths: Paths, model_name: str, alias: str = CHAMPION, version: str | None = None) -> dict[str, str]:
    """This process's environment, with MLFLOW_TRACKING_URI at the project's store, the model to serve
    (`version` when resolved, else the alias), and this interpreter's bin folder first on PATH (nothing
    then depends on an activated virtualenv)."""
    from mtlops.registry.http_app import ALIAS_ENV, MODEL_ENV
    from mtlops.tracking import tracking_uri

    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    uri = f"models:/{model_name}/{version}" if version else model_uri(model_name, alias)
    return {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri(paths), MODEL_ENV: uri, ALIAS_ENV: alias, "PATH": path}


def resolve(paths: Paths, model_name: str, alias: str = CHAMPION) -> str:
    """The version `alias` names now (a clear error now, not a crashed server)."""
    from mtlops.registry.store import ModelRef, connect, get_version

    return str(get_version(connect(paths), ModelRef(model_name, alias=alias)).version)


def start(
    paths: Paths, model_name: str, alias: str = CHAMPION, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, **popen
) -> subprocess.Popen:
    """Start the server in the background (the caller stops it) on the version `alias` names now."""
    version = resolve(paths, model_name, alias)
    return subprocess.Popen(serve_command(host, port), env=serve_env(paths, model_name, alias, version), **popen)


def serve(
    paths: Paths, model_name: str, alias: str = CHAMPION, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT
) -> int:
    """Serve in the foreground until interrupted; returns the server's exit status.

    Prints the name, version and alias it serves first. The server is a child in the command's process
    group (`mtlops.processes`): it stops with `mtlops serve`, SIGKILL included. A port still held by a
    server a killed `mtlops serve` left is reclaimed; held by anything else, refused by name."""
    from mtlops.processes import child_group, claim_port

    version = resolve(paths, model_name, alias)
    claim_port(host, port, "serve")
    print(f"serving {model_name} version {version} (alias {alias}) at http://{host}:{port}/invocations; "
          f"each response names it in X-Mtlops-Model-Version", flush=True)
    with child_group("serve") as group:
        return group.popen(serve_command(host, port), env=serve_env(paths, model_name, alias, version)).wait()
