"""`mtlops schedule`: a real local Prefect server (Prefect will not schedule on its ephemeral API) and
the `retrain` deployment on params' cron. A source with an `arrival` hook is scheduled with
`cutoff=auto`: each run lets the source decide what "new data up to now" is."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from mtlops.errors import UserError
from mtlops.orchestration.dvc import subprocess_env
from mtlops.orchestration.flow import build_retrain_flow

if TYPE_CHECKING:
    from mtlops.schema import Config


def serve_schedule(params_file: str | Path = "params.yaml", cron: str | None = None, start_server: bool = True,
                   port: int = 4200) -> None:
    """Serve the deployment until interrupted; the server it started stops with it."""
    from mtlops.config import load_config

    cfg = load_config(params_file)
    server = None
    if start_server:
        server = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
                                   "--port", str(port)], env=subprocess_env())
        os.environ["PREFECT_API_URL"] = f"http://127.0.0.1:{port}/api"
        _wait_for(f"http://127.0.0.1:{port}/api/health", timeout=120)
    try:
        build_retrain_flow().serve(name="scheduled", cron=cron or cfg.schedule.cron,
                                   parameters=deployment_parameters(cfg, params_file),
                                   description="mtlops scheduled retraining")
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)


def deployment_parameters(cfg: Config, params_file: str | Path) -> dict[str, str]:
    """Each scheduled run's flow parameters: the params file, and `cutoff=auto` when the source has an
    `arrival` hook (flights maps each run's date into 2013: a month more data per run)."""
    from mtlops.data.sources import arrival_hook

    parameters = {"params_file": str(Path(params_file).resolve())}
    if arrival_hook(cfg) is not None:
        parameters["cutoff"] = "auto"
    return parameters


def _wait_for(url: str, timeout: float) -> None:
    import urllib.request

    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 (loopback only)
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(1)
    raise UserError(f"Prefect server did not answer at {url} within {timeout:.0f} s")
