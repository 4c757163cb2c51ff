"""`mtlops schedule` (= `make serve`): a real local Prefect server (Prefect will not schedule on its
ephemeral API) and the `retrain` deployment on params' `schedule` (cron and timezone).

Both run as children in this command's process group (`mtlops.processes`): the server,
and a runner process that serves the deployment and starts each scheduled run. Ctrl-C or SIGTERM stops
the runner first (while the server can still take its last calls), then the server; nothing outlives
the command, SIGKILL included. A source with an `arrival` hook is scheduled with `cutoff=auto`: each
run lets the source decide what "new data up to now" is. The deployment also listens for the monitor's
events (`mtlops.orchestration.events`): new data or a degraded champion start a run at once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mtlops.errors import UserError

if TYPE_CHECKING:
    from mtlops.schema import Config

DEPLOYMENT = "scheduled"


def serve_schedule(params_file: str | Path = "params.yaml", cron: str | None = None, interval_s: float | None = None,
                   start_server: bool = True, host: str = "127.0.0.1", port: int = 4200) -> int:
    """Serve the deployment until interrupted (or until the runner exits); returns the runner's exit code.
    Callers own the children (`processes.owned_children`), so a signal stops them all."""
    from mtlops.checks import load_checked
    from mtlops.orchestration.dvc import subprocess_env
    from mtlops.orchestration.prefect_api import configured_api_url, forget_server, running_server
    from mtlops.orchestration.prefect_api import start_server as start_prefect
    from mtlops.paths import Paths
    from mtlops.processes import child_group

    params_file = str(Path(params_file).resolve())
    root = Paths.for_params(params_file).root
    deployment_schedule(load_checked(params_file), cron, interval_s)  # a bad cron or timezone fails here
    with child_group("schedule") as group:
        ours = None
        if start_server and (shared := running_server(root)):  # `mtlops ui` serves this project's database
            os.environ["PREFECT_API_URL"] = shared["api_url"]
            print(f"Prefect UI: {shared['ui_url']} (the project's running server)  ·  Ctrl-C stops the runner",
                  flush=True)
        elif start_server:
            os.environ["PREFECT_API_URL"] = ours = start_prefect(group, host, port, full=True, root=root)
            print(f"Prefect UI: http://{host}:{port}  ·  Ctrl-C stops the runner and the server", flush=True)
        elif not configured_api_url():
            raise UserError("--no-server needs a Prefect API: set PREFECT_API_URL (or a Prefect profile)")
        spec = {"params_file": params_file, "cron": cron, "interval_s": interval_s}
        runner = group.popen([sys.executable, "-m", __name__, json.dumps(spec)], env=subprocess_env())
        try:
            return runner.wait()
        finally:
            _stop_first(runner, group.grace_s)
            if ours:
                forget_server(root, ours)


def _stop_first(proc: subprocess.Popen, grace_s: float) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            proc.kill()


def deployment_schedule(cfg: Config, cron: str | None = None, interval_s: float | None = None) -> Any:
    """The deployment's schedule: `interval_s` seconds, else `cron`, else params' `schedule.cron`; always in
    params' `schedule.timezone`."""
    from prefect.client.schemas.schedules import CronSchedule, IntervalSchedule
    from prefect.schedules import Cron, Interval

    timezone = cfg.schedule.timezone
    try:  # the server's own schedule models judge the cron and the timezone now, not at the first tick
        if interval_s:
            IntervalSchedule(interval=timedelta(seconds=interval_s), timezone=timezone)
            return Interval(timedelta(seconds=interval_s), timezone=timezone)
        CronSchedule(cron=cron or cfg.schedule.cron, timezone=timezone)
        return Cron(cron or cfg.schedule.cron, timezone=timezone)
    except ValueError as err:
        detail = " ".join(str(err).split())[:200]
        raise UserError(f"schedule (cron {cron or cfg.schedule.cron!r}, timezone {timezone!r}): {detail}") from None


def deployment_parameters(cfg: Config, params_file: str | Path) -> dict[str, str]:
    """Each scheduled run's flow parameters: the params file, and `cutoff=auto` when the source's
    `arrival` hook gives keys for it (flights maps each run's date into 2013: a month more data per run)."""
    from mtlops.data.sources import source_of

    parameters = {"params_file": str(Path(params_file).resolve())}
    if source_of(cfg).arrival(cfg, "auto", date.today()) is not None:
        parameters["cutoff"] = "auto"
    return parameters


def serve_deployment(params_file: str, cron: str | None = None, interval_s: float | None = None) -> None:
    """The runner (a child of `serve_schedule`): serve `retrain/scheduled`, one run at a time."""
    from mtlops.checks import load_checked
    from mtlops.orchestration.events import retrain_trigger
    from mtlops.orchestration.flow import build_retrain_flow

    cfg = load_checked(params_file)
    build_retrain_flow().serve(
        name=DEPLOYMENT,
        schedules=[deployment_schedule(cfg, cron, interval_s)],
        triggers=[retrain_trigger(cfg.project.model_name)],  # new data or a degraded champion: retrain now
        parameters=deployment_parameters(cfg, params_file),
        description="mtlops scheduled retraining",
        limit=1,
    )


if __name__ == "__main__":
    serve_deployment(**json.loads(sys.argv[1]))
