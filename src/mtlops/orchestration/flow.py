"""The Prefect `retrain` flow: the stages in order, each a Prefect task, run through DVC when the
project is a DVC repo (so dvc.lock records every output and `dvc status` stays clean), else in-process.

Around the stages, in this order: the project's run lock (one run at a time; a killed run's leftovers
are recovered first), the tracking-store check (a read-only store fails the run before any stage), the
cut-off, and the stash that a failed or killed stage is restored from (`mtlops.orchestration.recovery`).
Each stage's output reaches the task's log line by line as it comes. Only failures that may be
transient are retried; a `UserError` (bad data, config, registry state) fails at once.

The flow publishes the run's outcome (per-task table, Δm, the gate and its reasons, time per stage,
Prefect's overhead) as a Markdown artifact, `reports/flow_run.json` and, when a stage logged to MLflow,
on the pipeline's MLflow run (`retrain <date> <flow run name>`, made by the first stage that logs: a run
in which every stage is up to date leaves none).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from mtlops.errors import UserError, first_line
from mtlops.experiment import NO_PROMOTE
from mtlops.orchestration.cutoff import apply_cutoff
from mtlops.orchestration.dvc import StageFailed, check_dvc_params, is_dvc_project, repro
from mtlops.stages import STAGE_NAMES, run_stage

# Retries where a retry can help (I/O, the registry), for failures that are not the user's to fix.
RETRIES = {"ingest": 2, "register": 2, "promote": 2}


class ValidationGateFailed(StageFailed):
    """The snapshot broke its contract: nothing downstream runs, nothing is registered."""


def transient(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect's retry condition: retry anything but a UserError (retrying cannot change bad input)."""
    return not isinstance(getattr(state, "data", None), UserError)


def execute_stage(stage: str, params_file: str, through_dvc: bool, **options: Any) -> dict[str, Any]:
    """One stage, timed: through `dvc repro --single-item` (outputs stashed first) or in-process (with the
    stage's `options`)."""
    from mtlops.checks import load_checked
    from mtlops.orchestration import recovery
    from mtlops.paths import Paths

    start = time.perf_counter()
    paths = Paths.for_params(params_file)
    outputs = recovery.stage_outputs(paths.root, stage) if through_dvc else recovery.in_process_outputs(paths, stage)
    recovery.begin_stage(paths, stage, outputs)
    try:
        if through_dvc:
            summary = repro(stage, paths.root, echo=_stage_log())
        else:
            summary = run_stage(stage, load_checked(params_file), paths, **options)
            summary["runner"] = "in-process"
    except Exception as err:
        if stage == "validate":
            raise ValidationGateFailed(_validation_message(paths, err)) from err
        raise
    recovery.end_stage(paths)
    summary["seconds"] = round(time.perf_counter() - start, 3)
    return summary


def _stage_log():
    """Where a stage's output lines go: the Prefect task's log (and with it the terminal)."""
    from prefect.exceptions import MissingContextError
    from prefect.logging import get_run_logger

    try:
        return get_run_logger().info
    except MissingContextError:
        return print


def _validation_message(paths, err: Exception) -> str:
    """One line (what failed, and the report's path: the stage says both), then where the Data Docs are."""
    detail = first_line(err).removeprefix("stage 'validate': ").replace("validation failed: ", "", 1)
    lines = [f"validation failed: {detail}"]
    if paths.validation_summary.exists():
        if "report: " not in detail:
            lines.append(f"report: {paths.validation_summary}")
        lines.append(f"page: {paths.validation_report} (offline; links the GX Data Docs)")
    return "\n".join(lines)


class _NoTracebackForUserErrors(logging.Filter):
    """Prefect logs a failed task's or flow's traceback; for a UserError (bad data, config, registry state)
    the one-line message says it all, so the log keeps the line and drops the traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], UserError):
            record.exc_info, record.exc_text = None, None
        return True


def _quiet_user_errors() -> None:
    for name in ("prefect.task_runs", "prefect.flow_runs"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _NoTracebackForUserErrors) for f in logger.filters):
            logger.addFilter(_NoTracebackForUserErrors())


def prepare_run(cfg, paths, stale: dict[str, Any] | None) -> None:
    """Under the run lock, before any stage: clean up after a killed run (`stale`: its lock record), then
    check that the tracking store takes writes."""
    from mtlops.orchestration import recovery
    from mtlops.orchestration.store_check import check_tracking_store

    if stale:
        for line in recovery.recover(cfg, paths, stale):
            print(f"recovered from an interrupted run: {line}")
    check_tracking_store(cfg, paths)


def build_retrain_flow():
    """Build the Prefect flow lazily: importing Prefect costs a second, the CLI must not pay it."""
    from prefect import flow, task

    _quiet_user_errors()
    stage_tasks = {
        name: task(execute_stage, name=name, retries=RETRIES.get(name, 0), retry_delay_seconds=5,
                   retry_condition_fn=transient, persist_result=False)
        for name in STAGE_NAMES
    }  # fmt: skip

    @flow(name="retrain", log_prints=True, persist_result=False)
    def retrain(params_file: str = "params.yaml", cutoff: str | None = None, through_dvc: bool | None = None,
                promote: bool = True) -> dict:
        """Ingest → validate → prepare → baselines → search → grouping → train → evaluate → register → promote.

        `promote=False` (an experiment) judges and records but never moves `champion`; that promote runs
        in-process, so dvc.lock does not take the held decision for the stage's result and the next
        ordinary run judges the same version again."""
        from mtlops.checks import load_checked
        from mtlops.orchestration import recovery
        from mtlops.orchestration.lock import run_lock
        from mtlops.paths import Paths

        flow_start = time.perf_counter()
        params_file = str(Path(params_file).resolve())
        paths = Paths.for_params(params_file)
        with run_lock(paths.root) as stale:
            cfg = load_checked(params_file)
            prepare_run(cfg, paths, stale)
            if cutoff:
                apply_cutoff(params_file, cutoff)
            dvc = is_dvc_project(paths.root) if through_dvc is None else through_dvc
            if dvc:
                check_dvc_params(paths.root, params_file)
            stages: dict[str, dict] = {}
            recovery.begin_run(paths)
            started = time.time()
            try:
                with mlflow_run(params_file, paths) as pipeline:  # the stages' MLflow runs nest under this one
                    for name in STAGE_NAMES:
                        if name == "promote" and not promote:
                            stages[name] = stage_tasks[name](name, params_file, False, hold=NO_PROMOTE)
                        else:
                            stages[name] = stage_tasks[name](name, params_file, dvc)
                    run_id = pipeline.find(cfg, paths)  # None: no stage logged (all up to date), no run made
            except BaseException as err:
                failed = next((n for n in STAGE_NAMES if n not in stages), None)
                for line in recovery.fail_run(paths, failed):
                    print(f"after the failure in {failed!r}: {line}")
                status = "FAILED" if isinstance(err, Exception) else "KILLED"
                recovery.end_orphaned_mlflow_runs(cfg, paths, started, status)
                notify_failure(cfg, paths, failed, err, started)
                if isinstance(err, ValidationGateFailed):
                    _publish_failure(str(err))
                raise
            finally:
                recovery.end_run(paths)
            result = summarise(paths, stages, wall=time.perf_counter() - flow_start)
            result["mlflow_run"] = run_id
            result["prefect_flow_run"] = _flow_run_id()
            markdown = _publish(result, paths)
            if run_id:
                result["mlflow_experiment"] = record_outcome(cfg, paths, run_id, markdown)
            return result

    return retrain


def mlflow_run(params_file: str, paths):
    """The flow run's MLflow run, named after it: `retrain <date> <flow run name>`."""
    from datetime import date

    from prefect.runtime import flow_run

    from mtlops.checks import load_checked
    from mtlops.tracking import pipeline_run

    name = f"retrain {date.today().isoformat()} {flow_run.name or ''}".strip()
    return pipeline_run(load_checked(params_file), paths, name, tags={"prefect.flow_run_id": str(flow_run.id)})


def _flow_run_id() -> str | None:
    from prefect.runtime import flow_run

    return str(flow_run.id) if flow_run.id else None


def record_outcome(cfg, paths, run_id: str, markdown: str) -> str | None:
    """The pipeline's MLflow run tells the run's outcome on its own page: the summary (per-task table, Δm,
    the gate and its reasons, time per stage) as its description and as `summary/retrain.md`, the headline
    metrics (logged here when registration did not log them, e.g. it reused a version), and which version
    it made; returns the run's experiment id. Best effort: the model is registered and judged already, so
    a failure here is one line."""
    from mlflow.entities import Metric

    from mlflow import MlflowClient
    from mtlops.registry.register import run_metrics
    from mtlops.tracking import tracking_uri

    try:
        client = MlflowClient(tracking_uri(paths))
        run = client.get_run(run_id)
        tags = {"mlflow.note.content": markdown if len(markdown) < 7900 else markdown[:7900] + "\n\n… (cut)"}
        for key, path in (("mtlops.registered", paths.registration), ("mtlops.gate", paths.promotion)):
            if path.exists():
                facts = json.loads(path.read_text())
                tags[key] = f"{facts.get('model_name')} v{facts.get('version')}" + (
                    f": {facts['decision']}" if facts.get("decision") else "")
        for key, value in tags.items():
            client.set_tag(run_id, key, value)
        if paths.metrics.exists() and not run.data.metrics:
            now = int(time.time() * 1000)
            figures = run_metrics(json.loads(paths.metrics.read_text()))
            client.log_batch(run_id, metrics=[Metric(k, v, now, 0) for k, v in figures.items()])
        client.log_text(run_id, markdown, "summary/retrain.md")
        if paths.summary.exists() and not any(a.path == "evaluation" for a in client.list_artifacts(run_id)):
            client.log_artifact(run_id, str(paths.summary), "evaluation")
        return run.info.experiment_id
    except Exception as err:  # a record, after the fact: say so, never undo the run
        print(f"could not write the run's summary to MLflow run {run_id}: {first_line(err)}")
        return None


def summarise(paths, stages: dict[str, dict], wall: float) -> dict[str, Any]:
    """The run's outcome from the stages' own reports, plus Prefect's overhead."""
    from mtlops.io import write_json

    stage_seconds = sum(s.get("seconds", 0.0) for s in stages.values())
    metrics = json.loads(paths.metrics.read_text()) if paths.metrics.exists() else {}
    promotion = json.loads(paths.promotion.read_text()) if paths.promotion.exists() else {}
    result = {
        "stages": {k: {"seconds": v.get("seconds"), "skipped": v.get("skipped", False)} for k, v in stages.items()},
        "flow_seconds": round(wall, 3),
        "stage_seconds": round(stage_seconds, 3),
        "overhead_seconds": round(wall - stage_seconds, 3),
        "overhead_fraction": round((wall - stage_seconds) / wall, 4) if wall > 0 else 0.0,
        "delta_m": metrics.get("delta_m", {}),
        "promotion": {k: promotion.get(k) for k in ("decision", "promoted", "version", "champion", "reasons")},
    }
    write_json(paths.reports_dir / "flow_run.json", result)
    return result


def _publish(result: dict[str, Any], paths) -> str:
    """The summary as the flow run's Markdown artifact; returns it."""
    from prefect.artifacts import create_markdown_artifact

    metrics = json.loads(paths.metrics.read_text()) if paths.metrics.exists() else None
    markdown = summary_markdown(result, metrics)
    create_markdown_artifact(key="retrain-summary", markdown=markdown,
                             description="per-task table, Δm and the gate's decision with its reasons")
    return markdown


def summary_markdown(result: dict[str, Any], metrics: dict[str, Any] | None) -> str:
    """The run summary artifact: per-task table (MTL / single-task / LightGBM, intervals, flags), Δm,
    the gate's decision and every reason, time per stage; numbers rounded."""
    from mtlops.evaluation.report import HEADER, comparison_rows, fmt, markdown_table

    promo = result.get("promotion") or {}
    lines = ["# retrain", ""]
    if metrics:
        lines += [markdown_table(HEADER, comparison_rows(metrics)), ""]
    dm = result.get("delta_m") or {}
    lines += [f"Δm vs single-task: {_pct(dm.get('vs_stl'), fmt)}  ·  vs LightGBM: {_pct(dm.get('vs_gbdt'), fmt)}", "",
              f"**gate: {promo.get('decision')}** "
              f"(version {promo.get('version')}, champion {promo.get('champion')})", ""]
    lines += [f"- {r}" for r in promo.get("reasons") or []]
    lines += ["", "| stage | seconds | skipped |", "|---|---|---|"]
    lines += [f"| {k} | {_seconds(v.get('seconds'))} | {v.get('skipped')} |" for k, v in result["stages"].items()]
    lines += ["", f"Prefect overhead: {result['overhead_seconds']:.1f} s ({100 * result['overhead_fraction']:.1f}%)"]
    if result["stages"] and all(v.get("skipped") for v in result["stages"].values()):
        lines += ["", "Nothing changed: every stage was up to date (dvc.lock), so no MLflow run was made."]
    return "\n".join(lines)


def _pct(value: float | None, fmt) -> str:
    return "—" if value is None else f"{fmt(value, 3)} %"


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def _publish_failure(message: str) -> None:
    from prefect.artifacts import create_markdown_artifact

    create_markdown_artifact(
        key="retrain-validation-failed",
        markdown="# validation failed — nothing was registered\n\n```\n" + message + "\n```\n",
        description="the snapshot broke its contract",
    )


def notify_failure(cfg, paths, failed: str | None, err: BaseException, started: float) -> dict[str, str]:
    """One message for a failed run (params' `notify`), unless the failure is a refusal that the promote
    stage has already reported (its decision, written during this run, says `refused`)."""
    from mtlops.notify import FAILED, Message, send

    told = failed == "promote" and paths.promotion.exists() and paths.promotion.stat().st_mtime >= started
    if told and json.loads(paths.promotion.read_text()).get("decision") == "refused":
        return {}
    subject = f"{cfg.project.name}: retrain failed in stage {failed!r}"
    lines = str(err).splitlines()[:30] or [type(err).__name__]
    return send(cfg, Message(FAILED, subject, lines, {"stage": failed, "error": type(err).__name__}))
