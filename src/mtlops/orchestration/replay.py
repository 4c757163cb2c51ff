"""`mtlops simulate`: replay monthly retraining. Each month more data arrives (the month is the run's
cut-off, through the source's `arrival` hook) and the test window moves forward with it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mtlops.errors import UserError
from mtlops.orchestration.run import run_retrain


def months(start: str, end: str) -> list[str]:
    """Every 'YYYY-MM' from `start` to `end`, both included."""
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
    """The flow once per month; prints per month the challenger's metrics, the gate and the champion."""
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
