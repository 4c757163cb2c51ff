"""The keeper: leader of a command's child process group, and the one who empties it.

`python -m mtlops.keeper GRACE_S` is started by `ChildGroup` with a pipe on its stdin.
When that pipe closes — the owner finished, or died, SIGKILL included, since the kernel closes a dead
process's pipes — the keeper sends SIGTERM to every other member of its group, waits up to GRACE_S
seconds for them to go, then SIGKILLs the group (itself last). It ignores SIGINT/SIGTERM so that it
outlives the members it stops. Standard library only: it starts in a few tens of milliseconds.
"""

from __future__ import annotations

import os
import signal
import sys
import time


def members(pgid: int) -> list[int] | None:
    """Live (not zombie) processes of group `pgid` other than this one, from /proc; None where there is no /proc."""
    found: list[int] = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return None
    for entry in entries:
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        state, group = fields[0], int(fields[2])
        if group == pgid and state not in (b"Z", b"X"):
            found.append(int(entry))
    return found


def empty_group(pgid: int, grace_s: float) -> None:
    """SIGTERM to the group, up to `grace_s` for its members to end, then SIGKILL to the group."""
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace_s
    while (left := members(pgid)) != [] and time.monotonic() < deadline:
        time.sleep(0.05)  # without /proc (left is None): the whole grace period
    if left != []:
        os.killpg(pgid, signal.SIGKILL)  # whatever is left, this keeper included


def main() -> None:
    grace_s = float(sys.argv[1]) if len(sys.argv) > 1 else 5.0
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)
    while sys.stdin.buffer.read(4096):  # until EOF: the owner closed the pipe or died
        pass
    empty_group(os.getpgid(0), grace_s)


if __name__ == "__main__":
    main()
