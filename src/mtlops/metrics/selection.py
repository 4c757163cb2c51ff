"""The selection rule the search and the grouping share: Δm less a penalty per task shortfall, then
the cheapest candidate within the noise band of the best.

A candidate that wins on average by sacrificing one task ranks behind one that does not (#16), and
differences below the band are seed noise, so paying for a bigger model or more groups there buys
nothing. Each caller keeps what is its own: which candidates enter (the search prefers trials that
leave no task behind; the grouping refuses when no finite score is left), what a candidate costs, and
how ties break.

A candidate whose metric on some task is not finite (its training diverged) is never chosen: Δm leaves
such a task out of its mean, so without this rule it would score as if the task were absent (shortfall
0) and could beat every candidate that kept all tasks finite. Its shortfall is infinite, its score NaN,
and `cheapest_within_band` only ever picks among finite scores.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from mtlops.metrics.delta_m import delta_m

T = TypeVar("T")


def shortfalls(
    metrics: Mapping[str, float], reference: Mapping[str, float], higher: Mapping[str, bool],
    digits: int | None = None,
) -> dict[str, float]:
    """Per task of `metrics` (in its order), how far in percent (relative) it falls below `reference`:
    max(0, −its own Δm); 0 where the reference is not usable (missing, not finite, zero); infinite where the
    candidate's own metric is not finite against a usable reference (a diverged task). `digits` rounds each."""
    out = {}
    for task, value in metrics.items():
        change = delta_m({task: value}, reference, higher)
        if math.isfinite(change):
            short = max(0.0, -change)
            out[task] = short if digits is None else round(short, digits)
        else:
            ref = reference.get(task, math.nan)
            usable_reference = math.isfinite(delta_m({task: ref}, {task: ref}, higher))  # 0.0 when usable
            out[task] = math.inf if usable_reference else 0.0
    return out


def penalised_score(dm: float, shortfalls: Mapping[str, float], penalty: float) -> float:
    """Δm less `penalty` × the sum of the tasks' shortfalls; NaN when Δm or a shortfall is not finite."""
    if not (math.isfinite(dm) and all(math.isfinite(v) for v in shortfalls.values())):
        return math.nan
    return dm - penalty * sum(shortfalls.values())


def cheapest_within_band(
    candidates: Sequence[T], score: Callable[[T], float], cost: Callable[[T], Any], band: float,
) -> T | None:
    """The lowest-`cost` candidate (the first on a tie; `cost` carries the tie-breaks) among those scoring
    within `band` of the best finite score; None when no candidate has a finite score."""
    finite = [c for c in candidates if math.isfinite(score(c))]
    if not finite:
        return None
    top = max(score(c) for c in finite)
    return min((c for c in finite if score(c) >= top - band), key=cost)
