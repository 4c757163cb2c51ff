"""The single-task validation reference: what validation Δm is measured against (early stopping, the search,
the grouping), read from reports/baselines.json in one place with one behaviour when it is missing.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

from mtlops.errors import DataError

if TYPE_CHECKING:
    from mtlops.paths import Paths


class BaselinesMissing(DataError):
    """reports/baselines.json is not there: the baselines stage has not run (a caller may run it, or go without)."""


def stl_val_reference(paths: Paths, tasks: Collection[str]) -> dict[str, float]:
    """Each of `tasks`' primary validation metric of its single-task network, in the report's task order.

    Tasks whose network was skipped (`baselines.stl: false`) or whose metric is undefined are left out
    (Δm skips them too). BaselinesMissing, naming the file and the command, when there is no report.
    """
    from mtlops.io import read_json

    if not paths.baselines_metrics.is_file():
        raise BaselinesMissing(f"{paths.baselines_metrics}: single-task baselines not found; run `mtlops baselines`")
    report = read_json(paths.baselines_metrics, what="baseline report")
    out = {}
    for task, entry in report.get("tasks", {}).items():
        value = (entry.get("stl") or {}).get("val", {}).get(entry["metric"])
        if task in tasks and value is not None:
            out[task] = float(value)
    return out


def stl_cost(paths: Paths, tasks: Collection[str]) -> dict[str, float] | None:
    """The single-task networks of `tasks` summed: `n_params`, `wall_time_s` and `seconds_per_epoch` (each
    network's wall time over its epochs), what the cost guard compares a shared network with; None when the
    report is missing or lacks a network of one of them (no guard without a reference)."""
    from mtlops.io import read_json

    if not paths.baselines_metrics.is_file():
        return None
    report = read_json(paths.baselines_metrics, what="baseline report").get("tasks", {})
    entries = [(report.get(t) or {}).get("stl") or {} for t in tasks]
    if not entries or any(not e.get("n_params") or not e.get("wall_time_s") for e in entries):
        return None
    return {
        "n_params": float(sum(e["n_params"] for e in entries)),
        "wall_time_s": float(sum(e["wall_time_s"] for e in entries)),
        "seconds_per_epoch": float(sum(e["wall_time_s"] / max(int(e.get("epochs_run") or 1), 1) for e in entries)),
    }
