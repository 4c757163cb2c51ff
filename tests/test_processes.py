"""Child processes mtlops owns: nothing outlives the owner, whatever signal ends it; a port a dead
instance of ours left is reclaimed, anyone else's is refused by name. Real processes, real signals."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from mtlops.errors import UserError
from mtlops.processes import OWNER_PID, ROLE, claim_port, free_port, port_free
from tests.orchestration.procs import family, survivors, wait_for

# An owner with two children in its group, one of which has a child of its own (like dvc -> stage).
OWNER = textwrap.dedent("""
    import json, sys, time
    from mtlops.processes import owned_children
    with owned_children("test", grace_s=2) as group:
        a = group.popen(["sleep", "300"])
        b = group.popen(["sh", "-c", "sleep 300 & wait"])
        try:  # announce inside the try: a signal that arrives right after the line is still caught here
            print(json.dumps({"pgid": group.pgid}), flush=True)
            time.sleep(300)
        except KeyboardInterrupt as stop:
            print("interrupted", getattr(stop, "exit_code", None), flush=True)
            raise SystemExit(getattr(stop, "exit_code", 1))
""")


def _owner():
    proc = subprocess.Popen([sys.executable, "-c", OWNER], stdout=subprocess.PIPE, text=True, start_new_session=True)
    json.loads(proc.stdout.readline())
    wait_for("the grandchild", lambda: len(family(proc.pid)) >= 5, 10)  # owner, keeper, sleep, sh, sleep
    return proc, family(proc.pid)


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT])
def test_no_child_outlives_its_owner_whatever_signal_ends_it(signum):
    proc, procs = _owner()
    started = time.monotonic()
    proc.send_signal(signum)
    code = proc.wait(15)
    assert survivors(procs, within_s=5) == []
    assert time.monotonic() - started < 5
    if signum != signal.SIGKILL:  # caught: the owner exits 128 + signal, after its children
        assert code == 128 + signum and "interrupted" in proc.stdout.read()


def _listener(port: int, env: dict[str, str]) -> subprocess.Popen:
    code = ("import socket, time; s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); "
            f"s.bind(('127.0.0.1', {port})); s.listen(); time.sleep(300)")
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, start_new_session=True)
    wait_for("the listener", lambda: not port_free("127.0.0.1", port), 10)
    return proc


def test_a_port_left_by_a_dead_instance_of_ours_is_reclaimed(tmp_path):
    import os

    port = free_port()
    dead = subprocess.Popen(["true"])
    dead.wait()  # its pid names an owner that is gone
    left = _listener(port, {**os.environ, OWNER_PID: str(dead.pid), ROLE: "serve"})
    claim_port("127.0.0.1", port, "serve")
    assert port_free("127.0.0.1", port)
    assert left.wait(5) is not None


def test_a_port_held_by_anything_else_is_refused_by_name(tmp_path):
    import os

    port = free_port()
    foreign = _listener(port, dict(os.environ))
    try:
        with pytest.raises(UserError, match=rf"port {port} .*pid {foreign.pid}.*--port"):
            claim_port("127.0.0.1", port, "serve")
        alive_owner = _listener(free_port(), {**os.environ, OWNER_PID: str(os.getpid()), ROLE: "serve"})
        busy = next(c.laddr.port for c in __import__("psutil").Process(alive_owner.pid).net_connections())
        with pytest.raises(UserError, match=rf"running `mtlops serve` \(pid {os.getpid()}\)"):
            claim_port("127.0.0.1", busy, "serve")  # a live instance of ours: refused, not stolen
        alive_owner.kill()
    finally:
        foreign.kill()
