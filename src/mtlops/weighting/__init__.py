"""Task weightings: one file each behind `Weighting`, one line each in `WEIGHTINGS` (torch only)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mtlops.errors import UserError
from mtlops.weighting.base import Weighting
from mtlops.weighting.dwa import DWA
from mtlops.weighting.equal import Equal
from mtlops.weighting.famo import FAMO
from mtlops.weighting.gradnorm import GradNorm
from mtlops.weighting.pcgrad import PCGrad
from mtlops.weighting.static import Static
from mtlops.weighting.uncertainty import Uncertainty

WEIGHTINGS: dict[str, type[Weighting]] = {
    "equal": Equal,
    "static": Static,
    "uncertainty": Uncertainty,
    "dwa": DWA,
    "gradnorm": GradNorm,
    "pcgrad": PCGrad,
    "famo": FAMO,
}


class WeightingError(UserError, ValueError):
    """An unknown weighting method name."""


def build_weighting(
    name: str, params: dict[str, Any] | None, task_names: Sequence[str], task_types: dict[str, str] | None = None
) -> Weighting:
    """The named method for these tasks; `task_types` ({task: type}) lets uncertainty pick its form."""
    if name not in WEIGHTINGS:
        raise WeightingError(f"unknown weighting {name!r}; allowed: {sorted(WEIGHTINGS)}")
    return WEIGHTINGS[name](list(task_names), dict(params or {}), task_types)


__all__ = ["WEIGHTINGS", "Weighting", "WeightingError", "build_weighting"]
