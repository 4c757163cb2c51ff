"""`make run`: the retrain flow once, then the per-task table, the gate and where to look."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from mtlops.orchestration.cutoff import cutoff_keys
from mtlops.orchestration.flow import build_retrain_flow


def run_retrain(params_file: str | Path = "params.yaml", cutoff: str | None = None,
                through_dvc: bool | None = None, quiet: bool = False) -> dict[str, Any]:
    """The flow once (`cutoff`: new data arrives first); prints the outcome unless `quiet`."""
    from mtlops.config import load_config, preflight
    from mtlops.paths import Paths

    cfg = load_config(params_file)  # fail fast on a bad params file or cut-off, before Prefect starts
    preflight(cfg, str(params_file))
    if cutoff:
        cutoff_keys(cfg, params_file, cutoff)
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
