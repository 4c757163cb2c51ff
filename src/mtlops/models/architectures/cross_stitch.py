"""Cross-stitch networks (Misra et al. 2016): one column per task, mixed after every layer.

After layer l each task's activation becomes a learned linear combination of all columns'
activations, x̃_t = Σ_s α^l_{ts} x_s, so the network learns how much to share at each depth.
α starts as `self_weight` on the diagonal and (1 − self_weight)/(T − 1) elsewhere (the paper
initialises near identity). All columns and stitch units form the trunk: through α every column
influences every task.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeAlias

import torch
from torch import Tensor, nn

from mtlops.models.architectures.base import Architecture, last_linear_weights, mlp


@dataclass
class Params:
    width: int = 128
    depth: int = 2
    self_weight: float = 0.9  # initial α_tt
    dropout: float = 0.0


class CrossStitch(Architecture):
    Params: TypeAlias = Params
    bounds = {"width": (1, None), "depth": (1, None), "self_weight": (0.0, 1.0), "dropout": (0.0, 0.95)}
    search_space = {"depth": "depth", "width": "width", "dropout": "dropout"}
    shared: Any  # nested ModuleDict/ModuleList/ParameterList (see __init__), whose items torch types as plain Module

    def __init__(self, in_dim: int, task_names: list[str], params: Params | dict | None = None) -> None:
        super().__init__(in_dim, task_names, params)
        p = self.params
        n = len(task_names)
        widths = [in_dim] + [p.width] * p.depth
        off = (1.0 - p.self_weight) / (n - 1) if n > 1 else 0.0
        alpha = torch.full((n, n), off).fill_diagonal_(p.self_weight if n > 1 else 1.0)
        self.shared = nn.ModuleDict(
            {
                "columns": nn.ModuleList(
                    nn.ModuleList(mlp(widths[i], [widths[i + 1]], p.dropout) for _ in task_names)
                    for i in range(p.depth)
                ),
                "stitch": nn.ParameterList(nn.Parameter(alpha.clone()) for _ in range(p.depth)),
            }
        )

    def trunk(self, h: Tensor) -> tuple[Tensor, ...]:
        xs = [h] * len(self.task_names)
        for layers, alpha in zip(self.shared["columns"], self.shared["stitch"]):
            stacked = torch.stack([layer(x) for layer, x in zip(layers, xs)])  # [T, B, W]
            mixed = torch.einsum("ts,sbw->tbw", alpha, stacked)
            xs = list(mixed.unbind(0))
        return tuple(xs)

    def branch(self, task: str, state: tuple[Tensor, ...]) -> Tensor:
        return state[self.task_index[task]]

    def out_dim(self, task: str) -> int:
        return self.params.width

    def last_shared_parameters(self) -> list[nn.Parameter]:
        return last_linear_weights(list(self.shared["columns"][-1]))
