"""Real processes for the orchestration and fault tests: start mtlops as a user would, signal it, and
find every process it left behind."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

BIN = Path(sys.executable).parent
MTLOPS = str(BIN / "mtlops")


def clean_env(tmp: Path, **extra: str) -> dict[str, str]:
    """A user's environment: our venv first on PATH, Prefect's home in `tmp`, no API or tracking URI set."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PREFECT_", "MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "PYTEST_"))}
    env |= {"PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}", "PREFECT_HOME": str(tmp / "prefect-home"),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1", "PYTHONUNBUFFERED": "1"}
    return env | extra


def start(argv: list[str], log: Path, env: dict[str, str], cwd: Path | None = None) -> subprocess.Popen:
    """In a session of its own, as a shell starts a job: the test can signal its whole group like a terminal."""
    return subprocess.Popen(argv, stdout=log.open("w"), stderr=subprocess.STDOUT, env=env, cwd=cwd,
                            start_new_session=True)


def family(pid: int) -> list[psutil.Process]:
    """The process, every descendant, and every member of the process groups they lead or sit in."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []
    groups = set()
    for proc in procs:
        try:
            groups.add(os.getpgid(proc.pid))
        except ProcessLookupError:
            pass
    for proc in psutil.process_iter():
        try:
            if os.getpgid(proc.pid) in groups and proc not in procs:
                procs.append(proc)
        except (ProcessLookupError, psutil.Error):
            pass
    return procs


def survivors(procs: list[psutil.Process], within_s: float) -> list[str]:
    """Those of `procs` still running (zombies excluded) after up to `within_s` seconds."""
    deadline = time.monotonic() + within_s
    while True:
        alive = [p for p in procs if _running(p)]
        if not alive or time.monotonic() > deadline:
            return [f"{p.pid} {' '.join(_cmd(p))[:100]}" for p in alive]
        time.sleep(0.1)


def _running(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _cmd(proc: psutil.Process) -> list[str]:
    try:
        return proc.cmdline()
    except psutil.Error:
        return ["?"]


def wait_for(what: str, predicate: Callable[[], Any], timeout_s: float, log: Path | None = None,
             every_s: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every_s)
    tail = log.read_text()[-3000:] if log and log.exists() else ""
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}\n{tail}")


def stop(proc: subprocess.Popen) -> None:
    """Test teardown: whatever is left of the process's family goes."""
    for p in family(proc.pid):
        try:
            p.kill()
        except psutil.Error:
            pass
    proc.wait(10)
