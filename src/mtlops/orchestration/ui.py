"""`mtlops ui` (= `make ui`): this project's MLflow UI and Prefect UI side by side on 127.0.0.1, until Ctrl-C.

- MLflow: `mlflow ui` on the project's tracking store (`mlflow/mlflow.db`, artifacts in `mlflow/artifacts`);
  with MLFLOW_TRACKING_URI pointing at a server, that server's own UI is named instead.
- Prefect: a full Prefect server on the project's Prefect database (`.mtlops/prefect/`), the one every
  `mtlops run` of this project records its flow run in, so a run can be browsed after it ended and the
  link it printed opens it. Its UI calls its own port (PREFECT_UI_API_URL). While it runs, `mtlops run`
  and `mtlops schedule` use it rather than start a server of their own on the same database.

Both are children of the command's process group (`mtlops.processes`): Ctrl-C or SIGTERM stops both.
"""

from __future__ import annotations

import os
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from mtlops.errors import UserError

if TYPE_CHECKING:
    from mtlops.paths import Paths
    from mtlops.processes import ChildGroup

HOST, MLFLOW_PORT = "127.0.0.1", 5000
RECORD = "mlflow-ui.json"  # under .mtlops/: the running `mtlops ui`'s MLflow address
TRAINING_VIEW = "?workflowType=machine_learning"  # MLflow 3's UI opens in its GenAI view otherwise


def mlflow_ui_url(root: Path) -> str:
    """Where this project's MLflow UI is: a tracking server's own address, the running `mtlops ui`'s,
    else the address `mtlops ui` serves by default."""
    uri = os.environ.get("MLFLOW_TRACKING_URI", "")
    if uri.startswith(("http://", "https://")):
        return uri.rstrip("/")
    try:
        import json

        return str(json.loads((Path(root) / ".mtlops" / RECORD).read_text())["url"])
    except (OSError, ValueError, KeyError):
        return f"http://{HOST}:{MLFLOW_PORT}"


def _wait_for(url: str, proc, what: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise UserError(f"{what} exited with code {proc.returncode} at start")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:  # loopback only
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise UserError(f"{what} did not answer at {url} within {timeout_s:.0f} s")


def start_mlflow_ui(group: ChildGroup, paths: Paths, host: str = HOST, port: int = MLFLOW_PORT,
                    timeout_s: float = 120) -> str:
    """`mlflow ui` on the project's store in `group`; returns its address once /health answers."""
    from mtlops.io import write_json
    from mtlops.orchestration.dvc import subprocess_env
    from mtlops.processes import claim_port
    from mtlops.tracking import tracking_uri

    uri = tracking_uri(paths)
    if uri.startswith("sqlite:///"):
        paths.mlflow_dir.mkdir(parents=True, exist_ok=True)
    claim_port(host, port, group.role)
    argv = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri, "--workers", "1",
            "--default-artifact-root", (paths.mlflow_dir / "artifacts").as_uri(), "--host", host, "--port", str(port)]
    # one worker, and no job runner (its ~8 consumer processes run GenAI judges, which we never use)
    env = subprocess_env() | {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    proc = group.popen(argv, env=env, cwd=paths.root)
    url = f"http://{host}:{port}"
    _wait_for(f"{url}/health", proc, f"the MLflow UI on port {port}", timeout_s)
    write_json(paths.root / ".mtlops" / RECORD, {"url": url, "pid": proc.pid})
    return url


def serve_ui(paths: Paths, group: ChildGroup, host: str = HOST, mlflow_port: int = MLFLOW_PORT,
             prefect_port: int | None = None, prefect: bool = True,
             ready: Callable[[dict[str, str]], None] | None = None) -> int:
    """Start the MLflow UI and (with `prefect`) the project's Prefect server; print where they are; wait
    until one of them exits (or the command is stopped). `ready(links)` is called once both answer."""
    from mtlops.orchestration.prefect_api import UI_PORT, forget_server, running_server, start_server

    uri = os.environ.get("MLFLOW_TRACKING_URI", "")
    links: dict[str, str] = {}
    if uri.startswith(("http://", "https://")):
        links["MLflow"] = f"{uri.rstrip('/')}/#/models{TRAINING_VIEW} (the tracking server's own UI)"
    else:
        links["MLflow"] = f"{start_mlflow_ui(group, paths, host, mlflow_port)}/#/models{TRAINING_VIEW}"
    started = None
    if prefect:
        shared = running_server(paths.root)
        if shared:
            links["Prefect"] = f"{shared['ui_url']}/runs (the project's running server)"
        else:
            started = start_server(group, host, prefect_port or UI_PORT, full=True, root=paths.root)
            links["Prefect"] = f"{started.removesuffix('/api')}/runs"
    for name, link in links.items():
        print(f"{name + ':':<9} {link}", flush=True)
    print("MLflow's UI opens in the model-training view through these links (its sidebar switch; "
          f"or add {TRAINING_VIEW} to any page's address)  ·  Ctrl-C stops the UIs", flush=True)
    if ready is not None:
        ready(links)
    try:
        while True:
            for child in group.children:
                code = child.poll()
                if code is not None:
                    return code
            time.sleep(0.5)
    finally:
        (paths.root / ".mtlops" / RECORD).unlink(missing_ok=True)
        if started:
            forget_server(paths.root, started)
