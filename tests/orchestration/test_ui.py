"""The Prefect record outlives the run: a flow run recorded through the run's own short-lived server is
browsable afterwards in `mtlops ui`, which serves the project's Prefect database (`.mtlops/prefect`)
beside the MLflow UI, and the link the run printed names that run."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import textwrap
import urllib.request

import pytest

from mtlops.processes import free_port, port_free
from tests.orchestration.procs import MTLOPS, clean_env, family, start, stop, survivors, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("ui")]

A_RUN = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    from prefect import flow
    from mtlops.orchestration.prefect_api import prefect_api
    from mtlops.processes import child_group

    @flow(name="hello")
    def hello():
        return 1

    with child_group("run") as group, prefect_api(group, Path(sys.argv[1])):
        state = hello(return_state=True)
    print(json.dumps({"flow_run": str(state.state_details.flow_run_id)}), flush=True)
""")


def _get(url: str, page: bool = False) -> tuple[int, str]:
    """GET `url`; `page`: as a browser navigating to it (the UI answers a page's path with its app)."""
    request = urllib.request.Request(url, headers={"Accept": "text/html"} if page else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, resp.read().decode(errors="replace")
    except OSError:
        return 0, ""


def test_a_finished_runs_link_opens_it_in_mtlops_ui(tmp_path):
    from mtlops.orchestration.prefect_api import UI_PORT, project_home

    root = tmp_path / "proj"
    (root / "mlflow").mkdir(parents=True)
    (root / "params.yaml").write_text("project: {name: p}\n")
    env = clean_env(tmp_path)
    env.pop("PREFECT_HOME")  # a user who set nothing: the project's own Prefect home

    ran = subprocess.run([sys.executable, "-c", A_RUN, str(root)], env=env, capture_output=True, text=True,
                         timeout=300, check=False)
    assert ran.returncode == 0, ran.stderr[-3000:]
    flow_run = json.loads(ran.stdout.strip().splitlines()[-1])["flow_run"]
    link = re.search(r"View at (\S+)", ran.stdout + ran.stderr)
    assert link and link.group(1) == f"http://127.0.0.1:{UI_PORT}/runs/flow-run/{flow_run}"  # `mtlops ui`'s port
    assert (project_home(root) / "prefect.db").is_file()  # the project's database, not ~/.prefect

    mlflow_port, prefect_port = free_port(), free_port()
    log = tmp_path / "ui.log"
    ui = start([MTLOPS, "ui", "--params", str(root / "params.yaml"), "--port", str(mlflow_port),
                "--prefect-port", str(prefect_port)], log, env, cwd=root)
    try:
        wait_for("both UIs", lambda: "Ctrl-C stops the UIs" in log.read_text(), 240, log)
        ui_root = f"http://127.0.0.1:{prefect_port}"
        status, body = _get(f"{ui_root}/api/flow_runs/{flow_run}")
        assert status == 200 and json.loads(body)["state_type"] == "COMPLETED"  # the run, after its server went
        status, body = _get(f"{ui_root}/runs/flow-run/{flow_run}", page=True)  # the link's page, on the UI's port
        assert status == 200 and "<html" in body.lower()
        status, body = _get(f"{ui_root}/ui-settings")
        assert status == 200 and json.loads(body)["api_url"] == f"{ui_root}/api"  # the UI calls its own port
        assert _get(f"http://127.0.0.1:{mlflow_port}/health")[0] == 200
        assert f"127.0.0.1:{mlflow_port}/#/models?workflowType=machine_learning" in log.read_text()

        procs = family(ui.pid)
        ui.send_signal(signal.SIGINT)
        assert ui.wait(30) == 128 + signal.SIGINT
        assert survivors(procs, within_s=10) == []
        assert port_free("127.0.0.1", mlflow_port) and port_free("127.0.0.1", prefect_port)
        assert not (root / ".mtlops" / "prefect-server.json").exists()  # no stale record for the next run
    finally:
        stop(ui)
