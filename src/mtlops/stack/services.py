"""Start, stop and inspect the team stack: PostgreSQL, MLflow (basic-auth) and Prefect (auth string).

Everything lives under one directory (default `.stack/`, git-ignored): the database cluster, the
proxied MLflow artifacts, logs, `state.json` (ports, process ids and their start times) and
`credentials.env` (0600). A pid in state.json counts as the stack's server only while it is still that
process (same start time, leading its own process group, working in the stack's directory): a pid the
system gave to another program since is never signalled.
Passwords never appear on a command line or in a log: servers get them through their environment
or a 0600 config file.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from mtlops.errors import UserError
from mtlops.stack import postgres

DATABASES = ["mlflow", "mlflow_auth", "prefect", "optuna"]
WORK_POOL = "mtlops"  # the pool prefect.yaml deploys to
ADMIN = "admin"


class StackError(UserError):
    """The stack could not be started or is not running."""


@dataclass(frozen=True)
class StackDir:
    root: Path

    @property
    def postgres(self) -> Path:
        return self.root / "postgres"

    @property
    def state(self) -> Path:
        return self.root / "state.json"

    @property
    def credentials(self) -> Path:
        return self.root / "credentials.env"

    def log(self, name: str) -> Path:
        return self.root / "logs" / f"{name}.log"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    path.chmod(0o600)


def _secrets(d: StackDir) -> dict[str, str]:
    """The stack's passwords: generated once, kept with the cluster they belong to."""
    path = d.root / "secrets.json"
    if path.exists():
        return json.loads(path.read_text())
    made = {k: secrets.token_urlsafe(24) for k in ("postgres", "mlflow", "prefect", "flask")}
    _write_private(path, json.dumps(made))
    return made


def _db_url(driver: str, password: str, port: int, db: str) -> str:
    return f"{driver}://{postgres.SUPERUSER}:{password}@127.0.0.1:{port}/{db}"


def environment(d: StackDir) -> dict[str, str]:
    """What a client needs to use the stack (read from the running stack's state)."""
    if not d.state.exists():
        raise StackError(f"no stack under {d.root}: run `mtlops stack up` first")
    state = json.loads(d.state.read_text())
    pw = _secrets(d)
    return {
        "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{state['mlflow_port']}",
        "MLFLOW_TRACKING_USERNAME": ADMIN,
        "MLFLOW_TRACKING_PASSWORD": pw["mlflow"],
        "PREFECT_API_URL": f"http://127.0.0.1:{state['prefect_port']}/api",
        "PREFECT_API_AUTH_STRING": f"{ADMIN}:{pw['prefect']}",
        "MTLOPS_SEARCH_STORAGE": _db_url("postgresql+psycopg", pw["postgres"], state["postgres_port"], "optuna"),
    }


def _spawn(d: StackDir, name: str, argv: list[str], env: dict[str, str]) -> dict[str, int | float | None]:
    """Start a server in its own session; {"<name>_pid", "<name>_started"} for state.json."""
    log = d.log(name)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(argv, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True, cwd=d.root)
    return {f"{name}_pid": proc.pid, f"{name}_started": _started(proc.pid)}


def _started(pid: int) -> float | None:
    import psutil

    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def _ours(d: StackDir, state: dict, name: str) -> bool:
    """Whether state.json's `<name>_pid` is still the server this stack started: alive, the same start time,
    leading its own process group, in the stack's directory (a recycled pid is another program's)."""
    import psutil

    pid = state.get(f"{name}_pid")
    if pid is None or not _alive(pid):
        return False
    try:
        proc = psutil.Process(pid)
        same_start = state.get(f"{name}_started") is None or abs(proc.create_time() - state[f"{name}_started"]) < 0.01
        return same_start and os.getpgid(pid) == pid and Path(proc.cwd()).resolve() == d.root.resolve()
    except (psutil.Error, OSError):
        return False


def _wait_http(url: str, pid: int, log: Path, timeout: float = 180) -> None:
    import urllib.error
    import urllib.request

    end = time.time() + timeout
    while time.time() < end:
        if not _alive(pid):
            raise StackError(f"{url} exited while starting; see {log}")
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except urllib.error.HTTPError:
            return  # it answers (e.g. 401): it is up
        except (urllib.error.URLError, OSError):
            time.sleep(0.5)
    raise StackError(f"{url} did not answer within {timeout:.0f}s; see {log}")


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie child of this process is dead too
        return os.waitpid(pid, os.WNOHANG) == (0, 0)
    except ChildProcessError:
        return True


def up(d: StackDir) -> dict[str, str]:
    """Start whatever part of the stack is not running; return the client environment."""
    d.root.mkdir(parents=True, exist_ok=True)
    pw = _secrets(d)
    state = json.loads(d.state.read_text()) if d.state.exists() else {}
    if not (d.postgres / "data" / "PG_VERSION").exists():
        postgres.init(d.postgres, pw["postgres"])
    if not postgres.running(d.postgres):
        state["postgres_port"] = _free_port()
        postgres.start(d.postgres, state["postgres_port"])
    port = state["postgres_port"]
    postgres.create_databases(_db_url("postgresql", pw["postgres"], port, "postgres"), DATABASES)
    bin_dir = Path(sys.executable).parent
    if not _ours(d, state, "mlflow"):
        state["mlflow_port"] = _free_port()
        auth_ini = d.root / "mlflow_auth.ini"
        _write_private(auth_ini, "[mlflow]\ndefault_permission = READ\n"
                       f"database_uri = {_db_url('postgresql+psycopg', pw['postgres'], port, 'mlflow_auth')}\n"
                       f"admin_username = {ADMIN}\nadmin_password = {pw['mlflow']}\n"
                       "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n")
        state |= _spawn(d, "mlflow", [
            str(bin_dir / "mlflow"), "server", "--app-name", "basic-auth", "--host", "127.0.0.1",
            "--port", str(state["mlflow_port"]), "--workers", "1",
            "--artifacts-destination", str(d.root / "artifacts"),
        ], {"MLFLOW_BACKEND_STORE_URI": _db_url("postgresql+psycopg", pw["postgres"], port, "mlflow"),
            "MLFLOW_AUTH_CONFIG_PATH": str(auth_ini), "MLFLOW_FLASK_SERVER_SECRET_KEY": pw["flask"]})
    if not _ours(d, state, "prefect"):
        state["prefect_port"] = _free_port()
        state |= _spawn(d, "prefect", [
            str(bin_dir / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(state["prefect_port"]),
        ], {"PREFECT_API_DATABASE_CONNECTION_URL": _db_url("postgresql+asyncpg", pw["postgres"], port, "prefect"),
            "PREFECT_SERVER_API_AUTH_STRING": f"{ADMIN}:{pw['prefect']}",
            "PREFECT_HOME": str(d.root / "prefect"), "PREFECT_UI_ENABLED": "false",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false"})
    _write_private(d.state, json.dumps(state, indent=1))
    _wait_http(f"http://127.0.0.1:{state['mlflow_port']}/health", state["mlflow_pid"], d.log("mlflow"))
    _wait_http(f"http://127.0.0.1:{state['prefect_port']}/api/health", state["prefect_pid"], d.log("prefect"))
    env = environment(d)
    _write_private(d.credentials, "".join(f"export {k}={shlex.quote(v)}\n" for k, v in env.items()))
    _create_work_pool(env)
    return env


def _create_work_pool(env: dict[str, str]) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists
    from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

    with (temporary_settings({PREFECT_API_URL: env["PREFECT_API_URL"],
                              PREFECT_API_AUTH_STRING: env["PREFECT_API_AUTH_STRING"]}),
          get_client(sync_client=True) as client):
        try:
            client.create_work_pool(WorkPoolCreate(name=WORK_POOL, type="process"))
        except ObjectAlreadyExists:
            pass


def down(d: StackDir) -> list[str]:
    """Stop the servers (SIGTERM, then SIGKILL after 20 s) and PostgreSQL; data stays for the next `up`.
    Returns a line per recorded pid that belongs to another process now (left alone)."""
    state = json.loads(d.state.read_text()) if d.state.exists() else {}
    notes = []
    for name in ("prefect", "mlflow"):
        ours = _ours(d, state, name)
        pid, _ = state.pop(f"{name}_pid", None), state.pop(f"{name}_started", None)
        if pid is not None and not ours and _alive(pid):
            notes.append(f"{name}: pid {pid} in {d.state} is another process now; not stopped")
        if ours:
            os.killpg(pid, signal.SIGTERM)
            end = time.time() + 20
            while _alive(pid) and time.time() < end:
                time.sleep(0.2)
            if _alive(pid):
                os.killpg(pid, signal.SIGKILL)
    if d.postgres.exists():
        postgres.stop(d.postgres)
    if d.state.exists():
        _write_private(d.state, json.dumps(state, indent=1))
    d.credentials.unlink(missing_ok=True)
    return notes


def status(d: StackDir) -> dict[str, str]:
    state = json.loads(d.state.read_text()) if d.state.exists() else {}
    pg_up = d.postgres.exists() and postgres.running(d.postgres)
    return {
        "postgres": f"up on 127.0.0.1:{state.get('postgres_port')}" if pg_up else "down",
        "mlflow": f"up on 127.0.0.1:{state['mlflow_port']}" if _ours(d, state, "mlflow") else "down",
        "prefect": f"up on 127.0.0.1:{state['prefect_port']}" if _ours(d, state, "prefect") else "down",
    }
