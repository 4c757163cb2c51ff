"""`mtlops monitor` and the `monitor` flow: check the champion (`mtlops.monitoring`), then act on the verdict.

After the check: the events that start retraining (`mtlops.orchestration.events`: new data announced
once, a degraded champion every time) when a Prefect API is there, and one message through params'
`notify` for a degraded (or, when asked, drifted) champion. The flow runs the same function on its own
deployment and schedule (prefect.yaml `monitor`, params' `monitor.cron`) and publishes the verdict as a
Markdown artifact; the command prints it and exits 0 / 3 / 4 (ok / drifted / degraded).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mtlops.orchestration.events import ANNOUNCED, ARRIVED, arrival_key, retrain_events


def check_champion(params_file: str | Path = "params.yaml", rows: str | Path | None = None, cutoff: str | None = None,
                   version: int | str | None = None, emit: bool | None = None) -> dict[str, Any]:
    """Monitor, then emit and notify; `emit=None`: emit when a Prefect API is configured."""
    from mtlops.checks import load_checked
    from mtlops.monitoring.monitor import monitor
    from mtlops.paths import Paths

    cfg = load_checked(params_file)
    paths = Paths.for_params(params_file)
    result = monitor(cfg, paths, rows=rows, cutoff=cutoff, version=version)
    result["events"] = announce(cfg, paths, result, emit)
    result["notified"] = notify_verdict(cfg, paths, result)
    return result


def announce(cfg, paths, result: dict[str, Any], emit: bool | None) -> list[dict[str, Any]]:
    """Emit the retrain events the result calls for; [] without a Prefect API (or with `emit=False`)."""
    from mtlops.orchestration import events
    from mtlops.orchestration.prefect_api import configured_api_url, drain
    from mtlops.registry.store import connect

    if emit is None:
        emit = configured_api_url() is not None
    if not emit:
        return []
    client = connect(paths)
    name = result["model_name"]
    announced = client.get_registered_model(name).tags.get(ANNOUNCED)
    payload = {"cutoff": (result["window"].get("cutoff") or ""), "version": result["version"],
               "verdict": result["verdict"], "reasons": result["reasons"][:20],
               "report": result["report"], "mlflow_run_id": result.get("mlflow_run_id")}
    sent = []
    for event in retrain_events(result, announced):
        sent.append({"event": event, "id": events.emit(event, name, payload)})
        if event == ARRIVED:
            client.set_registered_model_tag(name, ANNOUNCED, str(arrival_key(result)))
    if sent:
        drain()  # the events worker sends in the background: out before this process may end
    return sent


def notify_verdict(cfg, paths, result: dict[str, Any]) -> dict[str, str]:
    """One message for a degraded (or, when `notify.events` asks, a drifted) champion."""
    from mtlops.notify import Message, send

    if result["verdict"] == "ok":
        return {}
    lines = [r for r in result["reasons"] if r.startswith(("degraded:", "drift:"))]
    lines += [f"report: {result['report']} (MLflow run {result.get('mlflow_run_id')})"]
    subject = (f"{result['model_name']} v{result['version']} (champion): {result['verdict']} on "
               f"{result['window']['origin']}")
    facts = {k: result.get(k) for k in ("model_name", "version", "verdict", "exit_code", "mlflow_run_id", "window")}
    return send(cfg, Message(result["verdict"], subject, lines, facts))


def build_monitor_flow():
    """The `monitor` flow, built lazily (importing Prefect costs a second)."""
    from prefect import flow

    @flow(name="monitor", log_prints=True, persist_result=False)
    def monitor_flow(params_file: str = "params.yaml", rows: str | None = None, cutoff: str | None = None) -> dict:
        """The champion on the rows that arrived since its cut-off: drift, realised metrics, verdict, events."""
        from prefect.artifacts import create_markdown_artifact

        result = check_champion(str(Path(params_file).resolve()), rows=rows, cutoff=cutoff or None, emit=True)
        create_markdown_artifact(key="monitor-verdict", markdown=verdict_markdown(result),
                                 description="the champion between retrains: verdict and reasons")
        print_verdict(result)
        return result

    return monitor_flow


def verdict_markdown(result: dict[str, Any]) -> str:
    lines = [f"# monitor: {result['verdict']}", "",
             f"{result['model_name']} v{result['version']} on {result['window']['origin']} "
             f"({result['window']['arriving_rows']} rows)", ""]
    lines += [f"- {r}" for r in result["reasons"]]
    lines += ["", f"events: {', '.join(e['event'] for e in result.get('events') or []) or 'none'}"]
    return "\n".join(lines)


def print_verdict(result: dict[str, Any]) -> None:
    print(f"monitor {result['model_name']} v{result['version']}: {result['verdict']} (exit {result['exit_code']}) — "
          f"{result['window']['arriving_rows']} arriving rows: {result['window']['origin']}")
    for line in [*result["reasons"], *result.get("notes", [])]:
        print(f"  - {line}")
    for event in result.get("events") or []:
        print(f"  event: {event['event']} ({event['id']})")
    for channel, outcome in (result.get("notified") or {}).items():
        print(f"  notified {channel}: {outcome}")
    print(f"report: {result['report']}")
