"""The Prefect API a command talks to: the user's (PREFECT_API_URL, a profile, a test harness), or a
local server that the command starts as its own child and stops with itself.

Prefect's own "ephemeral" server is a subprocess Prefect starts and stops only from an atexit hook, so a
SIGTERM or SIGKILL left it running; ours lives in the command's process group
(`mtlops.processes`), so nothing outlives the command.
"""

from __future__ import annotations

import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

from mtlops.errors import UserError
from mtlops.orchestration.dvc import subprocess_env
from mtlops.processes import ChildGroup, claim_port, free_port


def configured_api_url() -> str | None:
    """The API URL Prefect would use as configured (env, profile, an active test harness), or None."""
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value() or None


def start_server(group: ChildGroup, host: str = "127.0.0.1", port: int | None = None, full: bool = False,
                 timeout_s: float = 120) -> str:
    """Start a Prefect server in `group`; returns its API URL once /health answers.

    `full`: `prefect server start` (UI and the loop services, the scheduler among them) on `port`,
    reclaimed from a server a killed `mtlops schedule` left; otherwise a bare API on a free port, as
    Prefect's ephemeral server (no UI, no services), for one flow run.
    """
    env = subprocess_env()
    if full:
        port = port or 4200
        claim_port(host, port, group.role)
        argv = [sys.executable, "-m", "prefect", "server", "start", "--host", host, "--port", str(port)]
    else:
        import prefect

        port = port or free_port(host)
        env |= {"PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"}
        argv = [sys.executable, "-m", "uvicorn", "--app-dir", str(prefect.__module_path__.parent), "--factory",
                "prefect.server.api.server:create_app", "--host", host, "--port", str(port),
                "--log-level", "error", "--lifespan", "on"]  # fmt: skip
    proc = group.popen(argv, env=env)
    url = f"http://{host}:{port}/api"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise UserError(f"the Prefect server on port {port} exited with code {proc.returncode} at start")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
                if resp.status == 200:
                    return url
        except OSError:
            time.sleep(0.2)
    raise UserError(f"the Prefect server did not answer at {url}/health within {timeout_s:.0f} s")


@contextmanager
def prefect_api(group: ChildGroup) -> Iterator[str]:
    """The configured API, or a bare local one started in `group` for this block."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    url = configured_api_url()
    if url:
        yield url
        return
    url = start_server(group)
    with temporary_settings({PREFECT_API_URL: url}):
        try:
            yield url
        finally:
            drain()


def drain(timeout_s: float = 5) -> None:
    """Send Prefect's queued logs and events now, while the server we started still takes them (else
    its workers retry against a stopped server at exit, for a minute and more)."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (APILogWorker, EventsWorker):
        try:
            worker.drain_all(timeout=timeout_s)
        except RuntimeError:  # never started
            pass
