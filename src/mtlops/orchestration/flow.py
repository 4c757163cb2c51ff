"""The Prefect `retrain` flow: the stages in order, each a Prefect task, run through DVC when the
project is a DVC repo (so dvc.lock records every output and `dvc status` stays clean), else in-process.

The flow publishes the run's outcome (Δm, the gate, time per stage, Prefect's overhead) as a Markdown
artifact and `reports/flow_run.json`; a snapshot that fails validation stops it with its own artifact.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from mtlops.orchestration.cutoff import apply_cutoff
from mtlops.orchestration.dvc import StageFailed, check_dvc_params, is_dvc_project, repro
from mtlops.stages import STAGE_NAMES, run_stage

# Retries where a retry can help (I/O, the registry) and none where it cannot (validation, training).
RETRIES = {"ingest": 2, "register": 2, "promote": 2}


class ValidationGateFailed(StageFailed):
    """The snapshot broke its contract: nothing downstream runs, nothing is registered."""


def execute_stage(stage: str, params_file: str, through_dvc: bool) -> dict[str, Any]:
    """One stage, timed: through `dvc repro --single-item` or in-process."""
    from mtlops.config import load_config
    from mtlops.paths import Paths

    start = time.perf_counter()
    paths = Paths.for_params(params_file)
    try:
        if through_dvc:
            summary = repro(stage, paths.root)
        else:
            summary = run_stage(stage, load_config(params_file), paths)
            summary["runner"] = "in-process"
    except Exception as err:
        if stage == "validate":
            raise ValidationGateFailed(_validation_message(paths, err)) from err
        raise
    summary["seconds"] = round(time.perf_counter() - start, 3)
    return summary


def _validation_message(paths, err: Exception) -> str:
    lines = [f"validation failed: {err}".splitlines()[0].removesuffix(":")]
    if paths.validation_summary.exists():
        summary = json.loads(paths.validation_summary.read_text())
        for failure in summary.get("failed", [])[:20]:
            lines.append(f"  - {failure.get('column') or '<table>'}: {failure.get('expectation')} "
                         f"(observed {failure.get('observed')})")
        lines.append(f"report: {paths.validation_summary}")
        lines.append(f"page: {paths.validation_report} (offline; links the GX Data Docs)")
    return "\n".join(lines)


def build_retrain_flow():
    """Build the Prefect flow lazily: importing Prefect costs a second, the CLI must not pay it."""
    from prefect import flow, task

    stage_tasks = {
        name: task(execute_stage, name=name, retries=RETRIES.get(name, 0), retry_delay_seconds=5, persist_result=False)
        for name in STAGE_NAMES
    }

    @flow(name="retrain", log_prints=True, persist_result=False)
    def retrain(params_file: str = "params.yaml", cutoff: str | None = None, through_dvc: bool | None = None) -> dict:
        """Ingest → validate → prepare → baselines → search → train → evaluate → register → promote."""
        from mtlops.paths import Paths

        flow_start = time.perf_counter()
        params_file = str(Path(params_file).resolve())
        paths = Paths.for_params(params_file)
        if cutoff:
            apply_cutoff(params_file, cutoff)
        dvc = is_dvc_project(paths.root) if through_dvc is None else through_dvc
        if dvc:
            check_dvc_params(paths.root, params_file)
        stages: dict[str, dict] = {}
        try:
            with mlflow_run(params_file, paths):  # the stages' MLflow runs nest under this one
                for name in STAGE_NAMES:
                    stages[name] = stage_tasks[name](name, params_file, dvc)
        except ValidationGateFailed as err:
            _publish_failure(paths, str(err))
            raise
        result = summarise(paths, stages, wall=time.perf_counter() - flow_start)
        _publish(result)
        return result

    return retrain


def mlflow_run(params_file: str, paths):
    """The flow run's MLflow run, named after it: `retrain <date> <flow run name>`."""
    from datetime import date

    from prefect.runtime import flow_run

    from mtlops.config import load_config
    from mtlops.tracking import pipeline_run

    name = f"retrain {date.today().isoformat()} {flow_run.name or ''}".strip()
    return pipeline_run(load_config(params_file), paths, name, tags={"prefect.flow_run_id": str(flow_run.id)})


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


def _publish(result: dict[str, Any]) -> None:
    from prefect.artifacts import create_markdown_artifact

    create_markdown_artifact(key="retrain-summary", markdown=_markdown(result), description="per-task table and gate")


def _markdown(result: dict[str, Any]) -> str:
    promo = result.get("promotion") or {}
    lines = ["# retrain", "", f"Δm vs single-task: {result['delta_m'].get('vs_stl')}  ·  "
             f"vs LightGBM: {result['delta_m'].get('vs_gbdt')}", "",
             f"**gate: {promo.get('decision')}** (version {promo.get('version')}, champion {promo.get('champion')})", ""]
    lines += [f"- {r}" for r in promo.get("reasons") or []]
    lines += ["", "| stage | seconds | skipped |", "|---|---|---|"]
    lines += [f"| {k} | {v['seconds']} | {v['skipped']} |" for k, v in result["stages"].items()]
    lines += ["", f"Prefect overhead: {result['overhead_seconds']} s ({100 * result['overhead_fraction']:.1f}%)"]
    return "\n".join(lines)


def _publish_failure(paths, message: str) -> None:
    from prefect.artifacts import create_markdown_artifact

    create_markdown_artifact(
        key="retrain-validation-failed",
        markdown="# validation failed — nothing was registered\n\n```\n" + message + "\n```\n",
        description="the snapshot broke its contract",
    )
