"""Progressive layered extraction (Tang et al. 2020): stacked CGC layers of shared + task experts.

Each extraction level has shared experts and `task_experts` experts per task. Task t's gate mixes
its own experts with the shared ones; below the last level a shared gate mixes all experts into
the shared input of the next level. `num_levels = 1` is a single CGC layer.

Split for gradient weighting: every level but the last plus the last level's shared experts form
the trunk; the last level's task experts and gate and the tower are task t's branch. The task gates
of the last trunk level feed only their own task (the last level has no shared gate), so they are
exclusive to it rather than shared.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeAlias

import torch
from torch import Tensor, nn

from mtlops.models.architectures.base import Architecture, last_linear_weights, mlp
from mtlops.models.architectures.mmoe import gate_mix


@dataclass
class Params:
    experts: int = 2  # shared experts per level
    task_experts: int = 1  # experts per task per level
    num_levels: int = 2
    width: int = 64  # expert width
    depth: int = 1  # layers per expert
    tower_width: int = 32
    tower_depth: int = 1
    dropout: float = 0.0


class PLE(Architecture):
    Params: TypeAlias = Params
    bounds = {"experts": (1, None), "task_experts": (1, None), "num_levels": (1, None), "width": (1, None),
              "depth": (1, None), "tower_width": (1, None), "tower_depth": (0, None), "dropout": (0.0, 0.95)}
    # the search's `depth` range is PLE's number of extraction levels
    search_space = {"num_levels": "depth", "width": "width", "dropout": "dropout", "experts": "experts"}
    shared: Any  # nested ModuleDicts and ModuleLists (see __init__), whose items torch types as plain Module

    @classmethod
    def suggest(cls, trial: Any, space: Any, tasks: list[str]) -> dict[str, Any]:
        """The table's params, then task experts: up to half the most shared experts the space allows."""
        drawn = super().suggest(trial, space, tasks)
        drawn["task_experts"] = trial.suggest_int("task_experts", 1, max(1, space.experts[1] // 2))
        return drawn

    def __init__(self, in_dim: int, task_names: list[str], params: Params | dict | None = None) -> None:
        super().__init__(in_dim, task_names, params)
        p = self.params
        n_tasks = len(task_names)

        def experts(d_in: int, n: int) -> nn.ModuleList:
            return nn.ModuleList(mlp(d_in, [p.width] * p.depth, p.dropout) for _ in range(n))

        levels = nn.ModuleList()
        for level in range(p.num_levels - 1):
            d_in = in_dim if level == 0 else p.width
            levels.append(
                nn.ModuleDict(
                    {
                        "shared_experts": experts(d_in, p.experts),
                        "task_experts": nn.ModuleDict({t: experts(d_in, p.task_experts) for t in task_names}),
                        "task_gates": nn.ModuleDict(
                            {t: nn.Linear(d_in, p.task_experts + p.experts) for t in task_names}
                        ),
                        "shared_gate": nn.Linear(d_in, n_tasks * p.task_experts + p.experts),
                    }
                )
            )
        d_last = in_dim if p.num_levels == 1 else p.width
        self.shared = nn.ModuleDict({"levels": levels, "last_shared_experts": experts(d_last, p.experts)})
        self.towers = nn.ModuleDict(
            {
                t: nn.ModuleDict(
                    {
                        "experts": experts(d_last, p.task_experts),
                        "gate": nn.Linear(d_last, p.task_experts + p.experts),
                        "tower": mlp(p.width, [p.tower_width] * p.tower_depth, p.dropout),
                    }
                )
                for t in task_names
            }
        )

    def trunk(self, h: Tensor) -> tuple[Tensor, ...]:
        xs, x_shared = [h] * len(self.task_names), h
        for level in self.shared["levels"]:
            shared_out = [e(x_shared) for e in level["shared_experts"]]
            task_out = [[e(x) for e in level["task_experts"][t]] for t, x in zip(self.task_names, xs)]
            xs = [
                gate_mix(level["task_gates"][t](x), torch.stack(own + shared_out, dim=1))
                for t, x, own in zip(self.task_names, xs, task_out)
            ]
            everything = torch.stack([o for own in task_out for o in own] + shared_out, dim=1)
            x_shared = gate_mix(level["shared_gate"](x_shared), everything)
        last_shared = torch.stack([e(x_shared) for e in self.shared["last_shared_experts"]], dim=1)
        return (*xs, last_shared)

    def branch(self, task: str, state: tuple[Tensor, ...]) -> Tensor:
        x, last_shared = state[self.task_index[task]], state[-1]
        own: Any = self.towers[task]  # a ModuleDict of a ModuleList, a gate and a tower
        experts = torch.cat([torch.stack([e(x) for e in own["experts"]], dim=1), last_shared], dim=1)
        return own["tower"](gate_mix(own["gate"](x), experts))

    def out_dim(self, task: str) -> int:
        return self.params.tower_width if self.params.tower_depth else self.params.width

    def exclusive_trunk_parameters(self) -> dict[str, list[nn.Parameter]]:
        levels = self.shared["levels"]
        if not len(levels):
            return {}
        return {t: list(levels[-1]["task_gates"][t].parameters()) for t in self.task_names}

    def last_shared_parameters(self) -> list[nn.Parameter]:
        return last_linear_weights(list(self.shared["last_shared_experts"]))
