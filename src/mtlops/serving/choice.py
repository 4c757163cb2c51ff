"""The rule that picks what serves one task, from its validation predictions alone.

Candidates: the task's shared network (the network of its group), its single-task network, its
LightGBM, and blends `w × shared + (1 − w) × LightGBM` for w on a grid (`serving.blend_steps`).

`serving.prefer: blend` (the default): the blend best on validation serves, unless a single model (the
shared or single-task network, or LightGBM) beats it by more than `serving.noise_band` percent of its
metric; then the best such model serves. A blend of two models that err apart is rarely worse than either
out of sample, while a pure model picked on validation often is: on the benchmark suite's 10 tables
(`benchmarks/serving_rules.py`, 3 seeds) this rule left the served model behind LightGBM on test by at
most 0.03 % (the worst table) where preferring the shared network lost 0.44 % (flights, whose November
validation month and December test month disagreed on two of three tasks).

`serving.prefer: shared`: the rule the search and the grouping use picks
(`mtlops.metrics.selection.cheapest_within_band`): the simplest candidate (shared network, single-task
network, LightGBM, blend) whose validation metric lies within `serving.noise_band` percent of the best
candidate's, so the shared network serves unless another clearly wins.

Without LightGBM (a task type it cannot learn, or `best_of_baselines: false`) there is no blend and both
rules are the second. Each candidate's gain over the shared network (percent of its metric, positive =
better) is recorded beside it, and the chosen one's as `gain_val`.

A candidate whose metric is not finite never serves. Without a usable scale — the best metric zero, or the
shared network's metric undefined — nothing can be judged and the shared network serves (a note says so).
The caller hands only validation predictions in: nothing here can see the test split.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mtlops.metrics.delta_m import delta_m
from mtlops.metrics.per_task import primary
from mtlops.metrics.selection import cheapest_within_band
from mtlops.models.served import BLEND, GBDT, KINDS, SHARED, SINGLE_TASK, ServedBy
from mtlops.task_types import task_type

NAN = float("nan")
PREFER = ("blend", "shared")  # serving.prefer: the answer a task gets unless another clearly beats it


@dataclass(frozen=True)
class Candidate:
    by: ServedBy
    pred: np.ndarray


def blend_weights(steps: int) -> list[float]:
    """The network's weights a blend tries: k/steps for 0 < k < steps, largest first (none for steps = 1)."""
    return [round(k / steps, 6) for k in range(steps - 1, 0, -1)]


def candidates(
    task: Any, shared: np.ndarray, single_task: np.ndarray | None, gbdt: np.ndarray | None, blend_steps: int
) -> list[Candidate]:
    """The candidates whose predictions exist, simplest first (blends only with both network and LightGBM)."""
    out = [Candidate(ServedBy(SHARED), shared)]
    if single_task is not None:
        out.append(Candidate(ServedBy(SINGLE_TASK), single_task))
    if gbdt is not None:
        out.append(Candidate(ServedBy(GBDT), gbdt))
        kind = task_type(task.type)
        out += [Candidate(ServedBy(BLEND, w), kind.blend(shared, gbdt, w)) for w in blend_weights(blend_steps)]
    return out


def _metric(task: Any, y: np.ndarray, pred: np.ndarray, mask: np.ndarray, bins: int) -> float:
    """The primary metric; NaN where undefined or where the predictions are not finite."""
    try:
        return float(primary(task, y, pred, mask, bins))
    except ValueError:
        return NAN


def choose(
    task: Any,
    y: np.ndarray,
    mask: np.ndarray,
    cands: Sequence[Candidate],
    band: float,
    calibration_bins: int = 10,
    prefer: str = "blend",
) -> dict[str, Any]:
    """What serves `task` (`cands[0]` is the shared network) and every candidate's validation figures;
    `prefer` is "blend" or "shared" (the module's docstring says how each decides).

    Returns {"kind", "weight", "gain_val" (% over the shared network), "candidates": [{kind, weight, val,
    gain}], "note"}: JSON-able, serving.json's task entry."""
    if prefer not in PREFER:
        raise ValueError(f"prefer must be one of {PREFER}, got {prefer!r}")
    name, higher = task.name, {task.name: task.higher_is_better}
    values = [_metric(task, y, c.pred, mask, calibration_bins) for c in cands]
    gains = [delta_m({name: v}, {name: values[0]}, higher) for v in values]
    table = [{**c.by.to_dict(), "val": v, "gain": g} for c, v, g in zip(cands, values, gains, strict=True)]
    finite = [k for k, v in enumerate(values) if math.isfinite(v)]
    sign = 1.0 if task.higher_is_better else -1.0
    top = max((values[k] for k in finite), key=lambda v: sign * v, default=NAN)  # the best candidate's metric
    behind = [delta_m({name: v}, {name: top}, higher) for v in values]  # ≤ 0: % behind the best candidate
    usable = [k for k in finite if math.isfinite(behind[k]) and math.isfinite(gains[k])]
    note = None
    if not usable:
        note = (f"validation {task.metric}: shared network {values[0]!r}, best candidate {top!r}: no candidate can "
                "be judged, so the shared network serves")
        usable, gains, behind = [0], [0.0, *gains[1:]], [0.0, *behind[1:]]
    blends = [k for k in usable if cands[k].by.kind == BLEND]
    best: int | None
    if prefer == "blend" and blends and note is None:
        best = _blend_unless_beaten(task, values, usable, blends, band)
    else:
        best = cheapest_within_band(
            usable, score=lambda k: behind[k], cost=lambda k: (KINDS.index(cands[k].by.kind), -behind[k]), band=band
        )
    assert best is not None  # `usable` is never empty
    return {**cands[best].by.to_dict(), "gain_val": gains[best], "candidates": table, "note": note}


def _blend_unless_beaten(task: Any, values: list[float], usable: list[int], blends: list[int], band: float) -> int:
    """The best blend on validation, or the best single model if it beats that blend by more than `band` %
    of the blend's metric (ties: the earlier, cheaper candidate)."""
    name, higher = task.name, {task.name: task.higher_is_better}
    sign = 1.0 if task.higher_is_better else -1.0
    blend = max(blends, key=lambda k: (sign * values[k], -k))
    singles = [k for k in usable if k not in blends]
    if singles:
        single = max(singles, key=lambda k: (sign * values[k], -k))
        if delta_m({name: values[single]}, {name: values[blend]}, higher) > band:
            return single
    return blend
