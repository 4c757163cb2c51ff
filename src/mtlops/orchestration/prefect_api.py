"""The Prefect API a command talks to: the user's (PREFECT_API_URL, a profile, a test harness), else the
project's own server when one runs (`mtlops ui`, `mtlops schedule`), else a local server that the command
starts as its own child and stops with itself.

Prefect's own "ephemeral" server is a subprocess Prefect starts and stops only from an atexit hook, so a
SIGTERM or SIGKILL left it running; ours lives in the command's process group
(`mtlops.processes`), so nothing outlives the command.

Every server we start keeps its database in the project, `.mtlops/prefect/` (its PREFECT_HOME), not in
the user's `~/.prefect` that every project on the machine shares: a flow run stays browsable after the
run's own server has gone, in `mtlops ui`, which serves that database. So the link a run prints
("View at …") points at the UI `mtlops ui` serves (http://127.0.0.1:4200 unless one runs elsewhere).
A user's PREFECT_HOME, PREFECT_API_URL or PREFECT_UI_URL wins.
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mtlops.errors import UserError
from mtlops.orchestration.dvc import subprocess_env
from mtlops.processes import ChildGroup, claim_port, free_port


def configured_api_url() -> str | None:
    """The API URL Prefect would use as configured (env, profile, an active test harness), or None."""
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value() or None


HOST, UI_PORT = "127.0.0.1", 4200  # where `mtlops ui` serves Prefect's UI unless told otherwise
RECORD = "prefect-server.json"  # under .mtlops/: the project's running full server, if any


def project_home(root: Path) -> Path:
    """The PREFECT_HOME of this project's Prefect servers (their database): `.mtlops/prefect/`."""
    return Path(root).resolve() / ".mtlops" / "prefect"


def server_env(root: Path | None, host: str | None = None, port: int | None = None) -> dict[str, str]:
    """The environment of a Prefect server for the project at `root`: its database in the project (unless
    the user set PREFECT_HOME) and, for a full server on `port`, a UI that calls that port's API (Prefect's
    UI calls 4200 unless PREFECT_UI_API_URL says otherwise)."""
    env = subprocess_env() | {"PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    if root is not None and "PREFECT_HOME" not in os.environ:
        home = project_home(root)
        home.mkdir(parents=True, exist_ok=True)
        env["PREFECT_HOME"] = str(home)
    if port is not None:
        env |= {"PREFECT_SERVER_API_HOST": host or HOST, "PREFECT_SERVER_API_PORT": str(port),
                "PREFECT_UI_API_URL": f"http://{host or HOST}:{port}/api"}
    return env


def start_server(group: ChildGroup, host: str = "127.0.0.1", port: int | None = None, full: bool = False,
                 timeout_s: float = 120, root: Path | None = None) -> str:
    """Start a Prefect server in `group`; returns its API URL once /health answers.

    `full`: `prefect server start` (UI and the loop services, the scheduler among them) on `port`,
    reclaimed from a server a killed `mtlops schedule` left; otherwise a bare API on a free port, as
    Prefect's ephemeral server (no UI, no services), for one flow run. `root`: the project whose
    database (`.mtlops/prefect/`) the server keeps; a full server is recorded there while it runs, so
    the project's other commands use it instead of starting their own on the same database.
    """
    if full:
        port = port or UI_PORT
        claim_port(host, port, group.role)
        env = server_env(root, host, port)
        argv = [sys.executable, "-m", "prefect", "server", "start", "--host", host, "--port", str(port)]
    else:
        import prefect

        port = port or free_port(host)
        env = server_env(root)
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
            with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:  # loopback only
                if resp.status == 200:
                    if full and root is not None:
                        _write_record(root, proc.pid, url)
                    return url
        except OSError:
            time.sleep(0.2)
    raise UserError(f"the Prefect server did not answer at {url}/health within {timeout_s:.0f} s")


def _write_record(root: Path, pid: int, api_url: str) -> None:
    from mtlops.io import write_json

    write_json(Path(root) / ".mtlops" / RECORD, {"pid": pid, "api_url": api_url, "ui_url": api_url.removesuffix("/api"),
                                                 "owner": os.getpid()})


def forget_server(root: Path, api_url: str) -> None:
    """Drop the project's record of the full server at `api_url` (it is stopping)."""
    record = running_server(root, check=False)
    if record and record.get("api_url") == api_url:
        (Path(root) / ".mtlops" / RECORD).unlink(missing_ok=True)


def running_server(root: Path, check: bool = True) -> dict[str, str] | None:
    """The project's full Prefect server (`mtlops ui` or `mtlops schedule`) when one runs and answers:
    `{"api_url", "ui_url", "pid"}`; None otherwise."""
    path = Path(root) / ".mtlops" / RECORD
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not check:
        return record
    try:
        with urllib.request.urlopen(f"{record['api_url']}/health", timeout=2) as resp:  # loopback only
            return record if resp.status == 200 else None
    except (OSError, KeyError):
        return None


def ui_url(root: Path | None) -> str:
    """Where this project's flow runs can be browsed: the user's PREFECT_UI_URL, the project's running
    server, else the address `mtlops ui` serves by default."""
    if os.environ.get("PREFECT_UI_URL"):
        return os.environ["PREFECT_UI_URL"].rstrip("/")
    record = running_server(root) if root is not None else None
    return record["ui_url"] if record else f"http://{HOST}:{UI_PORT}"


@contextmanager
def prefect_api(group: ChildGroup, root: Path | None = None) -> Iterator[str]:
    """The configured API, else the project's running server, else a bare local one started in `group`
    for this block; the flow run's printed link points at the UI that shows it after the run."""
    from prefect.settings import PREFECT_API_URL, PREFECT_UI_URL, temporary_settings

    url = configured_api_url()
    if url:
        yield url
        return
    record = running_server(root) if root is not None else None
    url = record["api_url"] if record else start_server(group, root=root)
    with temporary_settings({PREFECT_API_URL: url, PREFECT_UI_URL: ui_url(root)}):
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
