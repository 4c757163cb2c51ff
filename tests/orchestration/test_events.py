"""Event-driven retraining against a real Prefect API (the suite's harness: a real server process with its
trigger and action services): prefect.yaml's trigger, as `prefect deploy` creates it, turns the event the
monitor emits into a flow run of `retrain` with the event's cut-off. Also: which events a monitor result
calls for, and that a new arrival is announced once."""

from __future__ import annotations

import asyncio
import time

import pytest
import yaml

from mtlops.orchestration import events
from tests.orchestration.helpers import REPO

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("prefect")]


def _retrain_deployment() -> dict:
    return next(d for d in yaml.safe_load((REPO / "prefect.yaml").read_text())["deployments"]
                if d["entrypoint"] == "flows/retrain.py:retrain")


def test_prefect_yaml_triggers_listen_to_the_monitors_events_for_params_model():
    deployment = _retrain_deployment()
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    (trigger,) = deployment["triggers"]
    assert trigger == events.trigger_spec(params["project"]["model_name"])  # what `mtlops schedule` serves
    assert events.retrain_trigger("m").expect == set(events.RETRAIN_EVENTS)
    assert deployment["schedules"]  # the cron stays, as the fallback
    monitor = next(d for d in yaml.safe_load((REPO / "prefect.yaml").read_text())["deployments"]
                   if d["entrypoint"] == "flows/monitor.py:monitor")
    assert monitor["schedules"] == [{"cron": params["monitor"]["cron"], "timezone": params["schedule"]["timezone"]}]


def test_retrain_events_announce_an_arrival_once_and_every_degradation():
    result = {"verdict": "ok", "window": {"cutoff": "2013-11-30", "arriving_rows": 100}}
    assert events.retrain_events(result, announced=None) == [events.ARRIVED]
    assert events.retrain_events(result, announced="cutoff 2013-11-30") == []
    degraded = {**result, "verdict": "degraded"}
    assert events.retrain_events(degraded, announced="cutoff 2013-11-30") == [events.DEGRADED]
    rows_file = {"verdict": "drifted", "window": {"cutoff": None, "source_changed": None, "arriving_rows": 5}}
    assert events.retrain_events(rows_file, announced=None) == []  # rows in a side file do not reach training
    changed = {**rows_file, "window": {**rows_file["window"], "source_changed": "ab12"}}
    assert events.retrain_events(changed, announced=None) == [events.ARRIVED]


async def _deploy_with_triggers(spec: dict) -> str:
    """What `prefect deploy` does with prefect.yaml's entry: the deployment, then each trigger as an automation."""
    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect.events import DeploymentTriggerTypes
    from pydantic import TypeAdapter

    @flow(name="retrain")
    def retrain(params_file: str = "params.yaml", cutoff: str | None = None) -> None: ...

    async with get_client() as client:
        flow_id = await client.create_flow(retrain)
        deployment_id = await client.create_deployment(flow_id, spec["name"], entrypoint=spec["entrypoint"],
                                                       parameters=spec["parameters"])
        for i, trigger_spec in enumerate(spec["triggers"], start=1):
            trigger = TypeAdapter(DeploymentTriggerTypes).validate_python(
                {"name": f"{spec['name']}__automation_{i}", **trigger_spec})
            trigger.set_deployment_id(deployment_id)
            await client.create_automation(trigger.as_automation())
    return str(deployment_id)


async def _runs(deployment_id: str) -> list:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    async with get_client() as client:
        only = DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
        return await client.read_flow_runs(deployment_filter=only)


def test_an_emitted_event_starts_a_retrain_run(prefect_harness):
    from mtlops.orchestration.prefect_api import drain

    spec = _retrain_deployment()
    deployment_id = asyncio.run(_deploy_with_triggers(spec))
    model = spec["triggers"][0]["match"]["prefect.resource.id"].removeprefix("mtlops.model.")
    time.sleep(2)  # the trigger service loads new automations on its own clock
    assert asyncio.run(_runs(deployment_id)) == []

    began = time.monotonic()
    assert events.emit(events.ARRIVED, model, {"cutoff": "2013-11-30", "version": "3"}) is not None
    drain()
    runs: list = []
    while not runs and time.monotonic() - began < 60:
        time.sleep(0.25)
        runs = asyncio.run(_runs(deployment_id))
    latency = time.monotonic() - began
    assert len(runs) == 1, "no flow run within 60 s of the event"
    assert runs[0].parameters == {"params_file": "params.yaml", "cutoff": "2013-11-30"}
    print(f"event → flow run: {latency:.2f} s")

    events.emit("mtlops.something.else", model, {"cutoff": "x"})  # an event nobody expects starts nothing
    drain()
    time.sleep(3)
    assert len(asyncio.run(_runs(deployment_id))) == 1
