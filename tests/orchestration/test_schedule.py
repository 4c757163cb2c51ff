"""The scheduled deployment: `cutoff=auto` exactly when the source can take a cut-off, params' timezone,
and `make serve` ends with everything it started at the terminal's Ctrl-C."""

from __future__ import annotations

import os
import signal
import time

import pytest
import yaml

from mtlops.config import deep_merge, load_config
from mtlops.orchestration.schedule import deployment_parameters
from mtlops.processes import free_port
from tests.helpers import synthetic_params
from tests.orchestration import prefect_http
from tests.orchestration.helpers import REPO
from tests.orchestration.procs import clean_env, family, start, stop, survivors, wait_for


def test_flights_runs_are_scheduled_with_an_auto_cutoff():
    params = REPO / "params.yaml"
    assert deployment_parameters(load_config(params), params) == {"params_file": str(params), "cutoff": "auto"}


def test_a_source_without_an_arrival_hook_is_scheduled_without_a_cutoff(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(synthetic_params(), sort_keys=False))
    assert deployment_parameters(load_config(params), params) == {"params_file": str(params)}


def test_the_schedule_runs_in_params_timezone_and_a_bad_one_is_named(tmp_path):
    from mtlops.errors import UserError
    from mtlops.orchestration.schedule import deployment_schedule

    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(deep_merge(synthetic_params(), {"schedule": {"timezone": "Asia/Tokyo"}})))
    cfg = load_config(params)
    cron = deployment_schedule(cfg)
    assert (cron.cron, cron.timezone) == ("0 3 1 * *", "Asia/Tokyo")
    assert deployment_schedule(cfg, interval_s=60).timezone == "Asia/Tokyo"
    mars = cfg.schedule.model_copy(update={"timezone": "Mars/Base"})
    broken = load_config(params).model_copy(update={"schedule": mars})
    with pytest.raises(UserError, match=r"timezone 'Mars/Base'"):
        deployment_schedule(broken)


@pytest.mark.e2e
@pytest.mark.xdist_group("scheduler")
def test_ctrl_c_ends_make_serve_and_everything_it_started_within_seconds(tmp_path):
    """The terminal's Ctrl-C: SIGINT to the foreground process group (make and mtlops)."""
    root = tmp_path / "proj"
    root.mkdir()
    (root / "params.yaml").write_text(yaml.safe_dump(synthetic_params(), sort_keys=False))
    port, log = free_port(), tmp_path / "serve.log"
    api = f"http://127.0.0.1:{port}/api"
    make = start(["make", "-C", str(REPO), "-o", ".venv/.installed", "serve",
                  f"SERVE_ARGS=--params {root / 'params.yaml'} --port {port}"], log, clean_env(tmp_path))
    try:
        wait_for("the deployment", lambda: prefect_http.deployment(api, "scheduled"), 240, log)
        procs = family(make.pid)
        interrupted = time.monotonic()
        os.killpg(make.pid, signal.SIGINT)
        make.wait(30)
        assert survivors(procs, within_s=5) == [], log.read_text()[-2000:]
        seconds = time.monotonic() - interrupted
        assert seconds < 10, f"make serve took {seconds:.1f} s to stop"
        assert "stopped by SIGINT" in log.read_text()
        print(f"Ctrl-C ended make serve in {seconds:.1f} s")
    finally:
        stop(make)
