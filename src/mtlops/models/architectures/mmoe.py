"""Multi-gate mixture of experts (Ma et al. 2018): shared experts, one softmax gate per task.

Task t reads Σ_i g_t(h)_i · expert_i(h) with g_t = softmax(W_t h), then its tower. Experts are the
shared part; gates and towers belong to their task.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias, cast

import torch
from torch import Tensor, nn

from mtlops.models.architectures.base import Architecture, last_linear_weights, mlp


@dataclass
class Params:
    experts: int = 4
    width: int = 64  # expert width
    depth: int = 1  # expert layers
    tower_width: int = 32
    tower_depth: int = 1
    dropout: float = 0.0


def gate_mix(gate_logits: Tensor, experts: Tensor) -> Tensor:
    """softmax(gate_logits) [B, n] weighs experts [B, n, W] -> [B, W]."""
    return torch.einsum("bn,bnw->bw", torch.softmax(gate_logits, dim=-1), experts)


class MMoE(Architecture):
    Params: TypeAlias = Params
    bounds = {"experts": (1, None), "width": (1, None), "depth": (1, None), "tower_width": (1, None),
              "tower_depth": (0, None), "dropout": (0.0, 0.95)}
    search_space = {"depth": "depth", "width": "width", "dropout": "dropout", "experts": "experts"}
    shared: nn.ModuleList  # the experts

    def __init__(self, in_dim: int, task_names: list[str], params: Params | dict | None = None) -> None:
        super().__init__(in_dim, task_names, params)
        p = self.params
        self.shared = nn.ModuleList(mlp(in_dim, [p.width] * p.depth, p.dropout) for _ in range(p.experts))
        self.towers = nn.ModuleDict(
            {
                t: nn.ModuleDict(
                    {"gate": nn.Linear(in_dim, p.experts),
                     "tower": mlp(p.width, [p.tower_width] * p.tower_depth, p.dropout)}
                )
                for t in task_names
            }
        )

    def trunk(self, h: Tensor) -> tuple[Tensor, ...]:
        return h, torch.stack([expert(h) for expert in self.shared], dim=1)

    def branch(self, task: str, state: tuple[Tensor, ...]) -> Tensor:
        h, experts = state
        own = cast(nn.ModuleDict, self.towers[task])  # {"gate", "tower"}
        return own["tower"](gate_mix(own["gate"](h), experts))

    def out_dim(self, task: str) -> int:
        return self.params.tower_width if self.params.tower_depth else self.params.width

    def last_shared_parameters(self) -> list[nn.Parameter]:
        return last_linear_weights(list(self.shared))
