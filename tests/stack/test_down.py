"""`mtlops stack down` signals only the servers the stack started: a pid in state.json that the system has
given to another program since is left alone (before #25 its whole process group was killed)."""

from __future__ import annotations

import json
import subprocess
import time

from mtlops.stack.services import StackDir, _spawn, down, status


def _sleeper(cwd) -> subprocess.Popen:
    return subprocess.Popen(["sleep", "120"], cwd=cwd, start_new_session=True)


def test_down_stops_its_own_server_and_leaves_a_recycled_pid_alone(tmp_path):
    d = StackDir(tmp_path / "stack")
    d.root.mkdir()
    stranger = _sleeper(tmp_path)  # another program, leading its own group like a server would
    try:
        ours = _spawn(d, "mlflow", ["sleep", "120"], {})
        state = {"prefect_pid": stranger.pid, "prefect_started": time.time() - 3600, "prefect_port": 1, **ours,
                 "mlflow_port": 2}
        d.state.write_text(json.dumps(state))
        assert status(d)["mlflow"] == "up on 127.0.0.1:2" and status(d)["prefect"] == "down"

        notes = down(d)
        assert stranger.poll() is None, "a process that is not the stack's was killed"
        assert notes == [f"prefect: pid {stranger.pid} in {d.state} is another process now; not stopped"]
        deadline = time.time() + 30
        while time.time() < deadline and status(d)["mlflow"] != "down":
            time.sleep(0.1)
        assert status(d)["mlflow"] == "down"
        assert "mlflow_pid" not in json.loads(d.state.read_text())
    finally:
        stranger.kill()
        stranger.wait()


def test_an_old_state_without_start_times_still_needs_the_stack_folder(tmp_path):
    d = StackDir(tmp_path / "stack")
    d.root.mkdir()
    elsewhere = _sleeper(tmp_path)  # not in the stack's folder
    try:
        d.state.write_text(json.dumps({"mlflow_pid": elsewhere.pid, "mlflow_port": 2}))
        assert down(d) and elsewhere.poll() is None
    finally:
        elsewhere.kill()
        elsewhere.wait()
