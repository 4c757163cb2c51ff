"""Soft parameter sharing (Duong et al. 2015): one MLP per task, tied by an L2 penalty.

Nothing in the architecture is shared: each task's column reads the encoder output, and
`regularization()` = tie_strength · Σ_{i<j} ‖θ_i − θ_j‖² over corresponding weights and biases of
every pair of columns, which pulls the tasks' columns towards each other without forcing them equal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

import torch
from torch import Tensor, nn

from mtlops.models.architectures.base import Architecture, mlp


@dataclass
class Params:
    width: int = 128
    depth: int = 2
    tie_strength: float = 1e-3  # λ of the L2 tie between columns
    dropout: float = 0.0


class Soft(Architecture):
    Params: TypeAlias = Params
    bounds = {"width": (1, None), "depth": (1, None), "tie_strength": (0.0, None), "dropout": (0.0, 0.95)}
    search_space = {"tie_strength": "tie_strength", "depth": "depth", "width": "width", "dropout": "dropout"}

    def __init__(self, in_dim: int, task_names: list[str], params: Params | dict | None = None) -> None:
        super().__init__(in_dim, task_names, params)
        p = self.params
        self.towers = nn.ModuleDict({t: mlp(in_dim, [p.width] * p.depth, p.dropout) for t in task_names})

    def trunk(self, h: Tensor) -> tuple[Tensor, ...]:
        return (h,)

    def branch(self, task: str, state: tuple[Tensor, ...]) -> Tensor:
        return self.towers[task](state[0])

    def out_dim(self, task: str) -> int:
        return self.params.width

    def regularization(self) -> Tensor | float:
        if len(self.task_names) < 2 or self.params.tie_strength == 0:
            return 0.0
        columns = [list(self.towers[t].parameters()) for t in self.task_names]
        penalty: Tensor | float = 0.0
        for same_place in zip(*columns):
            stacked = torch.stack(same_place)  # [T, ...]
            # Σ_{i<j} ‖θ_i − θ_j‖² = T · Σ_i ‖θ_i − θ̄‖²
            penalty = penalty + len(same_place) * (stacked - stacked.mean(0)).pow(2).sum()
        return self.params.tie_strength * penalty
