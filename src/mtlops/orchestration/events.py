"""Prefect events that start retraining: new data landed, or the champion degraded.

The retrain deployment carries a trigger (a `DeploymentEventTrigger`, `retrain_trigger`) that expects
these events for this project's model (resource `mtlops.model.<project.model_name>`) and runs `retrain`
with the event's `cutoff` (empty: none); its cron stays the fallback. `mtlops schedule` serves it with
that trigger, and prefect.yaml's `retrain/monthly` repeats it (a test keeps them equal). The monitor
emits them:

- `mtlops.data.arrived`: rows arrived after the champion's cut-off (a source with an arrival hook: the
  window's cut-off), or the user's data file (`data.file.path`) differs from the champion's snapshot. Announced once per
  arrival: the registered model's `monitor.announced` tag keeps the last one, so a monitor every day does
  not start a retrain every day for the same month;
- `mtlops.monitor.degraded`: a task's realised metric is worse than at promotion (every time: a person
  or a retrain has to answer it).

Nothing is emitted without a Prefect API (PREFECT_API_URL, a profile, a harness): the command says so.
"""

from __future__ import annotations

from typing import Any

ARRIVED, DEGRADED = "mtlops.data.arrived", "mtlops.monitor.degraded"
RETRAIN_EVENTS = (ARRIVED, DEGRADED)
ANNOUNCED = "monitor.announced"  # registered model tag: the last arrival announced


def resource_id(model_name: str) -> str:
    return f"mtlops.model.{model_name}"


def trigger_spec(model_name: str) -> dict[str, Any]:
    """The retrain deployment's trigger, as prefect.yaml writes it: these events about this model start a
    run with the event's cut-off (Prefect renders the template from the event's payload)."""
    return {"type": "event", "enabled": True, "match": {"prefect.resource.id": resource_id(model_name)},
            "expect": list(RETRAIN_EVENTS), "parameters": {"cutoff": "{{ event.payload.cutoff }}"}}


def retrain_trigger(model_name: str, name: str | None = None) -> Any:
    """`trigger_spec` as Prefect's `DeploymentEventTrigger` (what `prefect deploy` makes of the YAML)."""
    from prefect.events import DeploymentTriggerTypes
    from pydantic import TypeAdapter

    spec = trigger_spec(model_name) | ({"name": name} if name else {})
    return TypeAdapter(DeploymentTriggerTypes).validate_python(spec)


def emit(event: str, model_name: str, payload: dict[str, Any]) -> str | None:
    """Emit `event` about `model_name`'s resource; returns the event id (None: no events client)."""
    from prefect.events import emit_event

    sent = emit_event(event=event, resource={"prefect.resource.id": resource_id(model_name),
                                             "prefect.resource.name": model_name}, payload=payload)
    return str(sent.id) if sent is not None else None


def arrival_key(result: dict[str, Any]) -> str | None:
    """What names new data the retrain flow can use: the window's cut-off (a source with an arrival hook), or
    the new sha256 of the user's data file; None when neither (rows given in a separate file do not reach
    the training data)."""
    window = result.get("window") or {}
    if window.get("cutoff"):
        return f"cutoff {window['cutoff']}"
    return f"sha256 {window['source_changed']}" if window.get("source_changed") else None


def retrain_events(result: dict[str, Any], announced: str | None) -> list[str]:
    """The events a monitor result calls for, given the arrival announced last (see above)."""
    events = []
    key = arrival_key(result)
    if key and key != announced and (result.get("window") or {}).get("arriving_rows", 0) > 0:
        events.append(ARRIVED)
    if result.get("verdict") == "degraded":
        events.append(DEGRADED)
    return events
