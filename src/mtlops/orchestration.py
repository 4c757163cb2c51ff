"""The Prefect `retrain` flow: the stages in order, each a Prefect task, run through DVC when the
project is a DVC repo (so dvc.lock records every output and `dvc status` stays clean), else in-process.

Also: the main job's printout, monthly replay (`simulate`) and the scheduled deployment (`serve_schedule`).
flows/ holds the thin entry points users point Prefect at.
"""

from __future__ import annotations

import calendar
import json
import os
import subprocess
import sys
import time
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from mtlops.errors import UserError
from mtlops.stages import STAGE_NAMES

# Retries where a retry can help (I/O, the registry) and none where it cannot (validation, training).
RETRIES = {"ingest": 2, "register": 2, "promote": 2}


class StageFailed(UserError):
    """A stage exited with an error; the message carries its last lines."""


class ValidationGateFailed(StageFailed):
    """The snapshot broke its contract: nothing downstream runs, nothing is registered."""


# ------------------------------------------------------------------------------------------- stages
def _is_dvc_project(root: Path) -> bool:
    return (root / "dvc.yaml").exists() and (root / ".dvc").is_dir()


def _subprocess_env() -> dict[str, str]:
    """The venv's bin first on PATH, so DVC's `mtlops <stage>` commands find this install."""
    bin_dir = str(Path(sys.executable).parent)
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}


def check_dvc_params(root: Path, params_file: str | Path) -> None:
    """DVC tracks params.yaml's sections per stage and refuses a section the file leaves out."""
    import yaml

    from mtlops.config import read_sections

    stages = yaml.safe_load((root / "dvc.yaml").read_text()).get("stages", {})
    wanted = {str(p).split(".")[0] for stage in stages.values() for p in stage.get("params", []) if isinstance(p, str)}
    present = read_sections(params_file)
    missing = sorted(wanted - present)
    if missing:
        raise UserError(f"{params_file}: sections {missing} are tracked by dvc.yaml but absent; "
                        "write them out (their defaults are in src/mtlops/config.py) or run with --no-dvc")


def _run_stage_dvc(stage: str, root: Path) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "dvc", "repro", "--single-item", stage],
        cwd=root,
        env=_subprocess_env(),
        capture_output=True,
        text=True,
    )
    output = (proc.stdout + proc.stderr).strip()
    if proc.returncode != 0:
        tail = "\n".join(line for line in output.splitlines()[-15:] if line.strip())
        raise StageFailed(f"stage {stage!r} failed (dvc repro exit {proc.returncode}):\n{tail}")
    return {"stage": stage, "skipped": "didn't change" in output, "runner": "dvc"}


def execute_stage(stage: str, params_file: str, through_dvc: bool) -> dict[str, Any]:
    """One stage, timed: through `dvc repro --single-item` or in-process."""
    from mtlops.config import load_config
    from mtlops.paths import Paths

    start = time.perf_counter()
    paths = Paths.for_params(params_file)
    try:
        if through_dvc:
            summary = _run_stage_dvc(stage, paths.root)
        else:
            from mtlops.stages import run_stage

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
        lines.append(f"Data Docs: {paths.data_docs_dir / 'index.html'}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- flow
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
            set_flights_cutoff(params_file, resolve_cutoff(cutoff))
        dvc = _is_dvc_project(paths.root) if through_dvc is None else through_dvc
        if dvc:
            check_dvc_params(paths.root, params_file)
        stages: dict[str, dict] = {}
        try:
            for name in STAGE_NAMES:
                stages[name] = stage_tasks[name](name, params_file, dvc)
        except ValidationGateFailed as err:
            _publish_failure(paths, str(err))
            raise
        result = summarise(paths, stages, wall=time.perf_counter() - flow_start)
        _publish(result)
        return result

    return retrain


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


# ------------------------------------------------------------------------------------------- cutoffs
def resolve_cutoff(cutoff: str, today: date | None = None) -> str:
    """'YYYY-MM-DD' as is; 'YYYY-MM' → that month's last day; 'auto' → last month mapped into 2013."""
    if cutoff == "auto":
        today = today or datetime.now(timezone.utc).date()
        year, month = (today.year, today.month - 1) if today.month > 1 else (today.year - 1, 12)
        return f"2013-{month:02d}-{calendar.monthrange(2013, month)[1]:02d}"
    try:
        if len(cutoff) == 7:
            y, m = (int(p) for p in cutoff.split("-"))
            return f"{y:04d}-{m:02d}-{calendar.monthrange(y, m)[1]:02d}"
        return date.fromisoformat(cutoff).isoformat()
    except ValueError:
        raise UserError(f"cutoff {cutoff!r}: expected YYYY-MM-DD, YYYY-MM or 'auto'") from None


def set_flights_cutoff(params_file: str | Path, end: str) -> None:
    """New data arrives: move data.flights.end in params.yaml (comments kept), so DVC sees the change."""
    from mtlops.config import load_config, set_value

    cfg = load_config(params_file)
    if cfg.data.source != "flights":
        raise UserError(f"{params_file}: data.source: --cutoff applies to the flights source, not {cfg.data.source!r}")
    set_value(params_file, "data.flights.end", end)


# ------------------------------------------------------------------------------------------ drivers
def run_retrain(params_file: str | Path = "params.yaml", cutoff: str | None = None,
                through_dvc: bool | None = None, quiet: bool = False) -> dict[str, Any]:
    """`make run`: the flow once, then the table, the gate and where to look."""
    from mtlops.config import load_config
    from mtlops.paths import Paths

    load_config(params_file)  # fail fast on a bad params file, before Prefect starts
    start = time.perf_counter()
    result = build_retrain_flow()(params_file=str(params_file), cutoff=cutoff, through_dvc=through_dvc)
    result["total_seconds"] = round(time.perf_counter() - start, 3)
    if not quiet:
        print_outcome(Paths.for_params(params_file), result)
    return result


def print_outcome(paths, result: dict[str, Any]) -> None:
    from rich.console import Console

    console = Console()
    if paths.metrics.exists():
        from mtlops.evaluation.report import format_table

        console.print(format_table(json.loads(paths.metrics.read_text())))
    promo = result.get("promotion") or {}
    style = "green" if promo.get("promoted") else "yellow"
    console.print(f"[bold {style}]gate: {promo.get('decision')}[/] — version {promo.get('version')}, "
                  f"champion {promo.get('champion')}")
    for reason in promo.get("reasons") or []:
        console.print(f"  - {reason}")
    console.print(
        f"flow {result['flow_seconds']:.1f} s (stages {result['stage_seconds']:.1f} s, Prefect overhead "
        f"{result['overhead_seconds']:.1f} s = {100 * result['overhead_fraction']:.1f}%); "
        f"total with Prefect start-up {result.get('total_seconds', 0):.1f} s"
    )
    console.print(
        "inspect:\n"
        "  MLflow UI:   make ui                       → http://127.0.0.1:5000\n"
        "  Prefect UI:  .venv/bin/prefect server start → http://127.0.0.1:4200\n"
        f"  Data Docs:   {paths.data_docs_dir / 'index.html'}\n"
        "  metrics:     .venv/bin/dvc metrics show · .venv/bin/dvc plots show"
    )


def months(start: str, end: str) -> list[str]:
    try:
        y, m = (int(p) for p in start.split("-"))
        y_end, m_end = (int(p) for p in end.split("-"))
    except ValueError:
        raise UserError(f"--from/--to: expected YYYY-MM, got {start!r} / {end!r}") from None
    out = []
    while (y, m) <= (y_end, m_end):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    if not out:
        raise UserError(f"--from {start} comes after --to {end}")
    return out


def simulate(params_file: str | Path = "params.yaml", start: str = "2013-06", end: str = "2013-12",
             through_dvc: bool | None = None) -> list[dict[str, Any]]:
    """Replay monthly retraining: each month more data arrives and the test window moves forward."""
    from rich.console import Console
    from rich.table import Table

    from mtlops.config import load_config
    from mtlops.paths import Paths

    cfg = load_config(params_file)
    paths = Paths.for_params(params_file)
    rows = []
    for month in months(start, end):
        result = run_retrain(params_file, cutoff=month, through_dvc=through_dvc, quiet=True)
        metrics = json.loads(paths.metrics.read_text())
        rows.append({"month": month, "mtl": metrics["primary"]["mtl"], "delta_m": metrics["delta_m"],
                     "promotion": result["promotion"]})
    table = Table(title="monthly retraining (challenger on the month's test window)")
    table.add_column("month")
    for t in cfg.task_names:
        table.add_column(f"{t} ({cfg.task(t).metric})", justify="right")
    table.add_column("Δm vs STL", justify="right")
    table.add_column("gate")
    table.add_column("champion", justify="right")
    for row in rows:
        promo = row["promotion"]
        table.add_row(row["month"], *[_fmt(row["mtl"].get(t)) for t in cfg.task_names], _fmt(row["delta_m"].get("vs_stl")),
                      f"{promo.get('decision')} (v{promo.get('version')})", f"v{promo.get('champion')}")
    Console().print(table)
    return rows


def _fmt(x: Any) -> str:
    return "—" if x is None else f"{x:.4f}"


def serve_schedule(params_file: str | Path = "params.yaml", cron: str | None = None, start_server: bool = True,
                   port: int = 4200) -> None:
    """A real local Prefect server (Prefect will not schedule on its ephemeral API) + the deployment."""
    from mtlops.config import load_config

    cfg = load_config(params_file)
    server = None
    if start_server:
        server = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
                                   "--port", str(port)], env=_subprocess_env())
        os.environ["PREFECT_API_URL"] = f"http://127.0.0.1:{port}/api"
        _wait_for(f"http://127.0.0.1:{port}/api/health", timeout=120)
    try:
        parameters = {"params_file": str(Path(params_file).resolve())}
        if cfg.data.source == "flights":
            parameters["cutoff"] = "auto"  # each run maps its date into 2013: a month more data
        build_retrain_flow().serve(name="scheduled", cron=cron or cfg.schedule.cron, parameters=parameters,
                      description="mtlops scheduled retraining")
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)


def _wait_for(url: str, timeout: float) -> None:
    import urllib.request

    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 (loopback only)
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(1)
    raise UserError(f"Prefect server did not answer at {url} within {timeout:.0f} s")
