"""One run at a time per project: `<root>/.mtlops/run.lock`.

The holder keeps an exclusive `flock` on the file for the run's life and writes who it is (pid, start
time, command, host) into it. The kernel drops a flock when its process dies, whatever killed it, so:

- a second run finds the lock held and fails at once, naming the holder;
- a run that finds the lock free but the file still naming a holder knows that holder died without
  releasing it (killed): a stale lock. `acquire` returns that record so the caller can recover
  (`mtlops.orchestration.recovery`) before it starts.

Re-entrant within one process (`mtlops simulate` runs the flow month after month under one lock).
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mtlops.errors import UserError

_held: dict[Path, list[Any]] = {}  # lock path -> [fd, depth, stale record not yet handed out], for re-entry


class RunLocked(UserError):
    """Another run holds this project's lock."""


def lock_path(root: Path) -> Path:
    return Path(root) / ".mtlops" / "run.lock"


def read_holder(path: Path) -> dict[str, Any] | None:
    try:
        text = path.read_text().strip()
        return json.loads(text) if text else None
    except (OSError, ValueError):
        return None


def describe(holder: dict[str, Any] | None) -> str:
    if not holder:
        return "another process"
    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(holder.get("started", 0)))
    return f"pid {holder.get('pid')} on {holder.get('host')} (`{holder.get('command')}`, started {started})"


@contextmanager
def run_lock(root: Path) -> Iterator[dict[str, Any] | None]:
    """Hold the project's run lock for the block; yields the stale holder's record (a killed run's) to the
    first block that enters, outer or nested, and None after that."""
    path = lock_path(root).resolve()
    if path in _held:
        held = _held[path]
        held[1] += 1
        stale, held[2] = held[2], None
        try:
            yield stale
        finally:
            held[1] -= 1
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise RunLocked(f"{root}: another run is in progress: {describe(read_holder(path))}; "
                        "wait for it to finish or stop it") from None
    stale = read_holder(path)
    me = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time(),
          "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv else "?"}
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(me).encode(), 0)
    os.fsync(fd)
    _held[path] = [fd, 1, None]
    try:
        yield stale
    finally:
        del _held[path]
        os.ftruncate(fd, 0)  # released cleanly: an empty file is not a stale lock
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
