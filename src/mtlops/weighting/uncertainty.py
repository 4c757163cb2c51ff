"""Uncertainty weighting (Kendall, Gal & Cipolla 2018): learn each task's homoscedastic noise.

With s_t = log σ_t² learned jointly with the model (the trainer's optimiser), the loss is
    regression / multi_regression:  ½·e^{−s_t}·L_t + ½·s_t      (Gaussian likelihood, paper eq. 7)
    binary / multiclass:              e^{−s_t}·L_t + ½·s_t      (scaled softmax, paper eq. 10)
so a noisy task (large L_t) raises s_t and gets a smaller weight; ½·s_t stops σ growing without
bound. The weight applied is the factor on L_t. Tasks of unknown type use the regression form.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

import torch
from torch import Tensor

from mtlops.task_types import TASK_TYPES
from mtlops.weighting.base import Weighting


@dataclass
class Params:
    init_log_var: float = 0.0  # s_t at the start


class Uncertainty(Weighting):
    Params: TypeAlias = Params
    data_parallel = True  # log σ² learns through the trainer's optimiser: its gradient is averaged too

    def __init__(self, task_names, params=None, task_types=None):
        super().__init__(task_names, params, task_types)
        self.log_var = torch.full((self.n_tasks,), float(self.params.init_log_var), requires_grad=True)
        kinds = [TASK_TYPES.get(self.task_types.get(t)) for t in self.task_names]
        self.factor = torch.tensor([1.0 if kind is not None and kind.classification else 0.5 for kind in kinds])

    def combine(self, losses: Tensor) -> tuple[Tensor, Tensor]:
        weights = self.factor * torch.exp(-self.log_var)
        return (weights * losses).sum() + 0.5 * self.log_var.sum(), weights.detach()

    def parameters(self) -> list[Tensor]:
        return [self.log_var]

    def _tensors(self) -> list[Tensor]:
        return [self.log_var, self.factor]

    def state_dict(self) -> dict:
        return {"log_var": self.log_var.detach().clone()}

    def load_state_dict(self, state: dict) -> None:
        with torch.no_grad():
            self.log_var.copy_(state["log_var"])
