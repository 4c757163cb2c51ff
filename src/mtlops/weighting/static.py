"""Static weights: a fixed weight per task from the params (tasks not named keep weight 1)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import torch
from torch import Tensor

from mtlops.weighting.base import Weighting


@dataclass
class Params:
    weights: dict[str, float] = field(default_factory=dict)


class Static(Weighting):
    Params: TypeAlias = Params
    bounds = {"weights": (0.0, None)}
    data_parallel = True

    def __init__(self, task_names, params=None, task_types=None):
        super().__init__(task_names, params, task_types)
        # Weights for tasks this model does not have are ignored: a single-task model of the same
        # config trains on its own task's loss.
        self._w = torch.tensor([float(self.params.weights.get(t, 1.0)) for t in self.task_names])

    @classmethod
    def check_more(cls, params: Params, task_names: list[str]) -> str | None:
        unknown = sorted(set(params.weights) - set(task_names))
        if unknown:
            return f"params.weights names unknown tasks {unknown}; tasks: {list(task_names)}"
        return None

    @classmethod
    def suggest(cls, trial: Any, space: Any, tasks: list[str]) -> dict[str, Any]:
        """Weights uniform on the simplex (scaled to sum T): normalised exponentials, -log U ~ Exp(1)."""
        draws = {t: -math.log(trial.suggest_float(t, 1e-3, 1.0)) for t in tasks}
        total = sum(draws.values())
        return {"weights": {t: len(tasks) * d / total for t, d in draws.items()}}

    def combine(self, losses: Tensor) -> tuple[Tensor, Tensor]:
        w = self._w.to(losses.device)
        return (w * losses).sum(), w

    def _tensors(self) -> list[Tensor]:
        return [self._w]
