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
