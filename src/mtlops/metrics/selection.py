"""The selection rule the search and the grouping share: Δm less a penalty per task shortfall, then
the cheapest candidate within the noise band of the best.

A candidate that wins on average by sacrificing one task ranks behind one that does not (#16), and
differences below the band are seed noise, so paying for a bigger model or more groups there buys
nothing. Each caller keeps what is its own: which candidates enter (the search prefers trials that
leave no task behind; the grouping drops non-finite scores and refuses when none is left), what a
candidate costs, and how ties break.
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
    max(0, −its own Δm), 0 where that is not finite (no usable reference). `digits` rounds each."""
    out = {}
    for task, value in metrics.items():
        change = delta_m({task: value}, reference, higher)
        short = max(0.0, -change)
        out[task] = (short if digits is None else round(short, digits)) if math.isfinite(change) else 0.0
    return out


def penalised_score(dm: float, shortfalls: Mapping[str, float], penalty: float) -> float:
    """Δm less `penalty` × the sum of the tasks' shortfalls."""
    return dm - penalty * sum(shortfalls.values())


def cheapest_within_band(
    candidates: Sequence[T], score: Callable[[T], float], cost: Callable[[T], Any], band: float,
) -> T | None:
    """The lowest-`cost` candidate (the first on a tie; `cost` carries the tie-breaks) among those scoring
    within `band` of the best; None when there are none. Scores are used as they are: a caller whose
    scores may be non-finite filters first."""
    if not candidates:
        return None
    top = max(score(c) for c in candidates)
    return min((c for c in candidates if score(c) >= top - band), key=cost)
