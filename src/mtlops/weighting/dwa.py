"""Dynamic weight average (Liu, Johns & Davison 2019): weight tasks by how slowly their loss falls.

w_t(e) = T · softmax_t(r_t / temperature) with r_t = L̄_t(e−1) / L̄_t(e−2), the ratio of the last
two epochs' mean training losses; a task whose loss stalls (r near 1 or above) gets more weight.
The first two epochs use weight 1. Weights stay fixed within an epoch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

import torch
from torch import Tensor

from mtlops.methods.base import Above, Range
from mtlops.weighting.base import Weighting


@dataclass
class Params:
    temperature: float = 2.0


class DWA(Weighting):
    Params: TypeAlias = Params
    bounds = {"temperature": (Above(0.0), None)}
    search_space = {"temperature": Range(0.5, 5.0, log=True)}
    data_parallel = True  # the epoch's mean losses it reads are the trainer's, over every process

    def __init__(self, task_names, params=None, task_types=None) -> None:
        super().__init__(task_names, params, task_types)
        self.history: list[list[float]] = []  # mean losses of the last two epochs
        self._w = torch.ones(self.n_tasks)

    def combine(self, losses: Tensor) -> tuple[Tensor, Tensor]:
        return (self._w * losses).sum(), self._w

    def on_epoch_end(self, epoch: int, mean_losses: dict[str, float]) -> None:
        self.history = [*self.history, [float(mean_losses[t]) for t in self.task_names]][-2:]
        self._update()

    def _update(self) -> None:
        if len(self.history) < 2:
            w = torch.ones(self.n_tasks)
        else:
            prev, last = torch.tensor(self.history[0]), torch.tensor(self.history[1])
            # a task without labels in an epoch (mean 0) counts as not changing
            ratio = torch.where(prev > 0, last / prev.clamp_min(1e-12), torch.ones_like(prev))
            w = self.n_tasks * torch.softmax(ratio / self.params.temperature, dim=0)
        self._w = w.to(self.device)

    def _tensors(self) -> list[Tensor]:
        return [self._w]

    def state_dict(self) -> dict:
        return {"history": [list(h) for h in self.history]}

    def load_state_dict(self, state: dict) -> None:
        self.history = [list(h) for h in state["history"]]
        self._update()
