"""The single-task validation reference: what validation Δm is measured against (early stopping, the search,
the grouping), read from reports/baselines.json in one place with one behaviour when it is missing.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
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


def best_single_task(paths: Paths, tasks: Collection[str], kinds: Sequence[str] = ("stl", "gbdt")) -> dict[str, str]:
    """Per task, which of its single-task models (`kinds` of "stl", "gbdt", the first preferred on a tie)
    scored better on the validation split: the promotion gate judges the served model against it.

    Chosen on validation only, never on the test rows it is then judged on. A model whose validation metric
    is undefined is chosen only when no other has one; a task with no model in the report is left out.
    BaselinesMissing when there is no report.
    """
    import math

    from mtlops.io import read_json

    if not paths.baselines_metrics.is_file():
        raise BaselinesMissing(f"{paths.baselines_metrics}: single-task baselines not found; run `mtlops baselines`")
    report = read_json(paths.baselines_metrics, what="baseline report")
    out = {}
    for task, entry in report.get("tasks", {}).items():
        sign = 1.0 if entry.get("higher_is_better", True) else -1.0

        def rank(kind: str, entry=entry, sign=sign) -> tuple[bool, float, int]:
            value = ((entry.get(kind) or {}).get("val") or {}).get(entry["metric"])
            finite = isinstance(value, (int, float)) and math.isfinite(value)
            return finite, sign * value if finite else 0.0, -list(kinds).index(kind)

        present = [k for k in kinds if entry.get(k)]
        if task in tasks and present:
            out[task] = max(present, key=rank)
    return out


def stl_cost(paths: Paths, tasks: Collection[str]) -> dict[str, float] | None:
    """The single-task networks of `tasks` summed: `n_params`, `wall_time_s`, `seconds_per_epoch` (each
    network's wall time over its epochs) and `param_epochs` (parameters × epochs trained), what the cost
    guard compares a shared network with; None when the report is missing or lacks a network of one of
    them (no guard without a reference)."""
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
        "param_epochs": float(sum(e["n_params"] * max(int(e.get("epochs_run") or 1), 1) for e in entries)),
    }
