"""Hard parameter sharing (Caruana 1997): one shared MLP, then a small tower per task."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

from torch import Tensor, nn

from mtlops.models.architectures.base import Architecture, last_linear_weights, mlp


@dataclass
class Params:
    width: int = 128  # shared layer width
    depth: int = 2  # shared layers
    tower_width: int = 32
    tower_depth: int = 1  # 0: heads read the shared representation directly
    dropout: float = 0.0


class Hard(Architecture):
    Params: TypeAlias = Params
    bounds = {"width": (1, None), "depth": (1, None), "tower_width": (1, None), "tower_depth": (0, None),
              "dropout": (0.0, 0.95)}
    search_space = {"depth": "depth", "width": "width", "dropout": "dropout"}

    def __init__(self, in_dim: int, task_names: list[str], params: Params | dict | None = None) -> None:
        super().__init__(in_dim, task_names, params)
        p = self.params
        self.shared = mlp(in_dim, [p.width] * p.depth, p.dropout)
        self.towers = nn.ModuleDict({t: mlp(p.width, [p.tower_width] * p.tower_depth, p.dropout) for t in task_names})

    def trunk(self, h: Tensor) -> tuple[Tensor, ...]:
        return (self.shared(h),)

    def branch(self, task: str, state: tuple[Tensor, ...]) -> Tensor:
        return self.towers[task](state[0])

    def out_dim(self, task: str) -> int:
        return self.params.tower_width if self.params.tower_depth else self.params.width

    def last_shared_parameters(self) -> list[nn.Parameter]:
        return last_linear_weights([self.shared])
