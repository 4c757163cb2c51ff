"""One run at a time per project: a second run fails at once naming the first; a killed holder's lock
is recognised as stale and taken over. Real processes hold the lock."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from mtlops.orchestration.lock import RunLocked, lock_path, run_lock

HOLDER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from mtlops.orchestration.lock import run_lock
    with run_lock(Path(sys.argv[1])):
        print("held", flush=True)
        time.sleep(300)
""")


def _holder(root):
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(root), "--params", "p.yaml"],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_run_fails_at_once_naming_the_holder(tmp_path):
    holder = _holder(tmp_path)
    try:
        started = time.monotonic()
        with (pytest.raises(RunLocked, match=rf"another run is in progress: pid {holder.pid} .*started"),
              run_lock(tmp_path)):
            pass
        assert time.monotonic() - started < 1
    finally:
        holder.kill()
        holder.wait()


def test_a_killed_holders_lock_is_stale_and_taken_over_once(tmp_path):
    holder = _holder(tmp_path)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    with run_lock(tmp_path) as stale:
        assert stale["pid"] == holder.pid and stale["started"] <= time.time()
        with run_lock(tmp_path) as nested:  # re-entrant; the stale record is handed out once
            assert nested is None
    with run_lock(tmp_path) as after_clean_release:
        assert after_clean_release is None
    assert lock_path(tmp_path).read_text() == ""
