"""Child processes mtlops owns: nothing that `run`, `serve` or `schedule` starts outlives it.

Each command starts its children (the Prefect API server, `dvc repro`, the stage it runs, the model
server) in one process group led by a keeper (`mtlops.keeper`), outside the terminal's
foreground group:

- on a normal end, Ctrl-C (SIGINT) or SIGTERM the command unwinds and the group gets SIGTERM, then
  SIGKILL after `grace_s`; a command that has not ended `grace_s` + 2 s after the signal (a library
  swallowed it), or a second signal, kills the group and exits at once;
- SIGKILL of mtlops itself, which no handler sees, closes the keeper's stdin, and the keeper empties
  the group;
- children carry MTLOPS_OWNER_PID and MTLOPS_ROLE in their environment, so a later start recognises a
  server left by an instance of ours (`claim_port`) and reclaims its port; anything else is named and refused.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from mtlops.errors import UserError

OWNER_PID = "MTLOPS_OWNER_PID"
ROLE = "MTLOPS_ROLE"
GRACE_S = 5.0

_current: ChildGroup | None = None


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM reached a command that owns children; `exit_code` is 128 + the signal."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.exit_code = 128 + signum


class ChildGroup:
    """A process group for one command's children, led by a keeper that empties it when we go."""

    def __init__(self, role: str, grace_s: float = GRACE_S) -> None:
        self.role, self.grace_s = role, grace_s
        self.children: list[subprocess.Popen] = []
        self._keeper: subprocess.Popen | None = None

    def __enter__(self) -> ChildGroup:
        self._keeper = subprocess.Popen(
            [sys.executable, "-m", "mtlops.keeper", str(self.grace_s)],
            stdin=subprocess.PIPE, process_group=0, env=self.env(),
        )  # fmt: skip
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def pgid(self) -> int:
        assert self._keeper is not None, "the group is not started"
        return self._keeper.pid

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        return {**(os.environ if base is None else base), OWNER_PID: str(os.getpid()), ROLE: self.role}

    def popen(self, argv: list[str], env: dict[str, str] | None = None, **kwargs: Any) -> subprocess.Popen:
        """Start a child in the group (the Popen keywords pass through)."""
        proc = subprocess.Popen(argv, process_group=self.pgid, env=self.env(env), **kwargs)
        self.children.append(proc)
        return proc

    def kill(self) -> None:
        self._signal(signal.SIGKILL)

    def stop(self) -> None:
        """Empty the group: the keeper SIGTERMs it, waits up to grace_s, SIGKILLs what is left."""
        keeper, self._keeper = self._keeper, None
        if keeper is None:
            return
        assert keeper.stdin is not None, "the keeper is started with stdin=PIPE"
        keeper.stdin.close()
        try:
            keeper.wait(self.grace_s + 5)
        except subprocess.TimeoutExpired:
            os.killpg(keeper.pid, signal.SIGKILL)
            keeper.wait()
        for proc in self.children:  # reap: they are gone now
            try:
                proc.wait(timeout=1)
            except subprocess.TimeoutExpired:
                pass

    def _signal(self, signum: int) -> None:
        if self._keeper is not None:
            try:
                os.killpg(self._keeper.pid, signum)
            except ProcessLookupError:
                pass


@contextmanager
def child_group(role: str) -> Iterator[ChildGroup]:
    """The command's group when one is open (`owned_children`), else a group of its own for this block."""
    if _current is not None:
        yield _current
        return
    with ChildGroup(role) as group:
        yield group


@contextmanager
def owned_children(role: str, grace_s: float = GRACE_S) -> Iterator[ChildGroup]:
    """For a command (`run`, `serve`, `schedule`): its children's group, stopped on exit and on SIGINT/SIGTERM."""
    global _current
    with ChildGroup(role, grace_s) as group:
        previous, _current = _current, group
        try:
            with _stop_on_signals(group):
                yield group
        finally:
            _current = previous


@contextmanager
def _stop_on_signals(group: ChildGroup) -> Iterator[None]:
    """SIGINT/SIGTERM: raise Interrupted in the main thread, so the command unwinds in order (Prefect
    records the crash while its server still answers; the group is stopped last); force the exit, children
    killed, if the command is still there grace_s + 2 s later, or at a second signal."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    timers: list[threading.Timer] = []

    def force_exit(signum: int) -> None:
        group.kill()
        os._exit(128 + signum)

    def handler(signum: int, frame: Any) -> None:
        if timers:  # the second signal
            force_exit(signum)
        timer = threading.Timer(group.grace_s + 2, force_exit, args=(signum,))
        timer.daemon = True
        timer.start()
        timers.append(timer)
        raise Interrupted(signum)

    previous = {signum: signal.signal(signum, handler) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
        for timer in timers:
            timer.cancel()


def stop_tree(proc: subprocess.Popen, grace_s: float = GRACE_S) -> None:
    """SIGTERM a child and its descendants (not the rest of its group), SIGKILL what is left after grace_s."""
    import psutil

    try:
        tree = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        tree = []
    for member in tree:
        try:
            member.terminate()
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(tree, timeout=grace_s)
    for member in alive:
        try:
            member.kill()
        except psutil.NoSuchProcess:
            pass
    proc.wait()


# ------------------------------------------------------------------------------------------------- ports
def port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS says is free now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def claim_port(host: str, port: int, role: str, wait_s: float = 10.0) -> None:
    """Make `port` ours: free → nothing to do; held by a server a dead instance of ours left (same role,
    its owner gone) → stop that server's group and wait for the port; held by anything else → refuse."""
    if port_free(host, port):
        return
    holder = _listener(port)
    if holder is None:
        raise UserError(f"port {port} on {host} is in use (by a process this user cannot see); "
                        "stop it or choose another --port")
    env, owner = _environ(holder), None
    if env.get(ROLE) == role:
        owner = int(env.get(OWNER_PID, "0") or 0)
        if not _alive(owner):
            _stop_group_of(holder)
            deadline = time.monotonic() + wait_s
            while not port_free(host, port) and time.monotonic() < deadline:
                time.sleep(0.1)
            if port_free(host, port):
                print(f"reclaimed port {port} from a `{role}` server left by a stopped mtlops (pid {holder})",
                      file=sys.stderr)
                return
    who = f"a running `mtlops {role}` (pid {owner})" if owner else f"pid {holder} ({_cmdline(holder)})"
    raise UserError(f"port {port} on {host} is in use by {who}; stop it or choose another --port")


def _listener(port: int) -> int | None:
    import psutil

    try:
        conns = psutil.net_connections(kind="tcp")
    except psutil.AccessDenied:
        return None
    for conn in conns:
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port and conn.pid:
            return conn.pid
    return None


def _environ(pid: int) -> dict[str, str]:
    import psutil

    try:
        return psutil.Process(pid).environ()
    except (psutil.Error, OSError):
        return {}


def _cmdline(pid: int) -> str:
    import psutil

    try:
        return " ".join(psutil.Process(pid).cmdline())[:120]
    except psutil.Error:
        return "?"


def _alive(pid: int) -> bool:
    import psutil

    if pid <= 0:
        return False
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _stop_group_of(pid: int) -> None:
    """SIGTERM the group a left-over child of ours leads (its keeper is gone), SIGKILL after a second."""
    try:
        pgid = os.getpgid(pid)
        if pgid == os.getpgid(0):  # never our own group
            os.kill(pid, signal.SIGKILL)
            return
        os.killpg(pgid, signal.SIGTERM)
        deadline = time.monotonic() + 1.0
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass
