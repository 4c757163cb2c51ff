"""Static weights: a fixed weight per task from the params (tasks not named keep weight 1)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from mtlops.weighting.base import Weighting


@dataclass
class Params:
    weights: dict[str, float] = field(default_factory=dict)


class Static(Weighting):
    Params = Params

    def __init__(self, task_names, params=None, task_types=None):
        super().__init__(task_names, params, task_types)
        # Weights for tasks this model does not have are ignored: a single-task model of the same
        # config trains on its own task's loss.
        self._w = torch.tensor([float(self.params.weights.get(t, 1.0)) for t in self.task_names])

    @classmethod
    def check_params(cls, params: dict[str, Any], task_names: list[str]) -> str | None:
        weights = params.get("weights", {}) or {}
        unknown = sorted(set(weights) - set(task_names))
        if unknown:
            return f"params.weights names unknown tasks {unknown}; tasks: {list(task_names)}"
        negative = {t: w for t, w in weights.items() if not w >= 0}
        if negative:
            return f"params.weights must be >= 0, got {negative}"
        return None

    def combine(self, losses: Tensor) -> tuple[Tensor, Tensor]:
        w = self._w.to(losses.device)
        return (w * losses).sum(), w

    def _tensors(self) -> list[Tensor]:
        return [self._w]
