"""`make run`: the retrain flow once, then the per-task table, the gate and where to look.

Cheap checks come first, before Prefect's API starts (~15 s): the params file, the cut-off, the project's
run lock (a second run fails at once, naming the first), a killed run's leftovers, the tracking store.
The Prefect API is the configured one, or a local one in this command's process group.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from mtlops.orchestration.cutoff import cutoff_keys
from mtlops.orchestration.flow import build_retrain_flow, prepare_run
from mtlops.orchestration.lock import run_lock
from mtlops.orchestration.prefect_api import prefect_api
from mtlops.processes import child_group


def run_retrain(params_file: str | Path = "params.yaml", cutoff: str | None = None,
                through_dvc: bool | None = None, quiet: bool = False, promote: bool = True) -> dict[str, Any]:
    """The flow once (`cutoff`: new data arrives first; `promote=False`: never move `champion`);
    prints the outcome unless `quiet`."""
    from mtlops.checks import load_checked, preflight
    from mtlops.paths import Paths

    start = time.perf_counter()
    cfg = load_checked(params_file)  # fail fast on a bad params file or cut-off, before Prefect starts
    preflight(cfg, str(params_file), split=cutoff is None)  # a cut-off moves the data: prepare checks the split
    if cutoff:
        cutoff_keys(cfg, params_file, cutoff)
    paths = Paths.for_params(params_file)
    with run_lock(paths.root) as stale:
        prepare_run(cfg, paths, stale)
        with child_group("run") as group, prefect_api(group, paths.root):
            result = build_retrain_flow()(params_file=str(params_file), cutoff=cutoff, through_dvc=through_dvc,
                                          promote=promote)
    result["total_seconds"] = round(time.perf_counter() - start, 3)
    if not quiet:
        print_outcome(paths, result)
    return result


def console():
    """rich's console for our tables: a terminal's width, or wide enough that a log file gets whole lines."""
    from rich.console import Console

    out = Console()
    return out if out.is_terminal else Console(width=max(out.width, 200))


def print_outcome(paths, result: dict[str, Any]) -> None:
    out = console()
    if paths.metrics.exists():
        from mtlops.evaluation.report import format_table

        out.print(format_table(json.loads(paths.metrics.read_text())), markup=False, highlight=False)
    promo = result.get("promotion") or {}
    style = "green" if promo.get("promoted") else "yellow"
    out.print(f"[bold {style}]gate: {promo.get('decision')}[/] — version {promo.get('version')}, "
              f"champion {promo.get('champion')}")
    for reason in promo.get("reasons") or []:
        out.print(f"  - {reason}", markup=False, highlight=False)
    out.print(
        f"flow {result['flow_seconds']:.1f} s (stages {result['stage_seconds']:.1f} s, Prefect overhead "
        f"{result['overhead_seconds']:.1f} s = {100 * result['overhead_fraction']:.1f}%); "
        f"total with Prefect start-up {result.get('total_seconds', 0):.1f} s"
    )
    if result["stages"] and all(s.get("skipped") for s in result["stages"].values()):
        out.print("nothing changed: every stage was up to date (dvc.lock); no new MLflow run, no new version")
    out.print("inspect (`mtlops ui` serves both UIs; Ctrl-C stops them):", markup=False, highlight=False)
    for name, link in links(paths, result).items():
        out.print(f"  {name:<12} {link}", markup=False, highlight=False)


def links(paths, result: dict[str, Any]) -> dict[str, str]:
    """Where to look after a run: the MLflow run and version pages (in the UI's model-training view), the
    Prefect flow run (kept in the project's Prefect database), the validation page, the DVC metrics."""
    from mtlops.orchestration.prefect_api import ui_url
    from mtlops.orchestration.ui import TRAINING_VIEW, mlflow_ui_url

    mlflow = mlflow_ui_url(paths.root)
    view = TRAINING_VIEW
    out = {"MLflow": f"{mlflow}/#/models{view}"}
    if result.get("mlflow_run") and result.get("mlflow_experiment"):
        out["MLflow run"] = f"{mlflow}/#/experiments/{result['mlflow_experiment']}/runs/{result['mlflow_run']}{view}"
    promo = result.get("promotion") or {}
    if paths.registration.exists() and promo.get("version"):
        name = json.loads(paths.registration.read_text()).get("model_name")
        out["version"] = f"{mlflow}/#/models/{name}/versions/{promo['version']}{view}"
    if result.get("prefect_flow_run"):
        out["Prefect run"] = f"{ui_url(paths.root)}/runs/flow-run/{result['prefect_flow_run']}"
    out["validation"] = str(paths.validation_report)
    out["metrics"] = ".venv/bin/dvc metrics show · .venv/bin/dvc metrics diff · .venv/bin/dvc plots show"
    return out
