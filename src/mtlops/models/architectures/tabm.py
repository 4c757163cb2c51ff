"""TabM (Gorishniy et al., ICLR 2025): k members in one network sharing its weights (BatchEnsemble layers).

Each shared layer is a BatchEnsemble linear: member i computes ((x ∘ r_i) W) ∘ s_i + b_i, W shared, the
vectors r_i, s_i and the bias b_i its own (the first layer's r_i random ±1 and the rest 1 at the start, as
the `tabm` package does, so members differ from step one). Each task's tower is one linear layer per member
(`k` weight matrices) and a ReLU; the task's head is shared by the members.

The members are folded into the batch (`members` = k): the trunk's and towers' rows are (row, member)
pairs, the model repeats each label k times (every member's loss counts: the mean over members of each
member's loss, as TabM trains) and averages the members' predictions (probabilities, values). Cost per row:
k times one member's activations and multiply-adds on the shared layers (parameters grow by only
k·(d_in + 2·d_out) per layer), so off the default search (`default_search = False`): list it in
`search.space.architectures` or name it in `model.architecture` (docs/modeling.md has the CPU figures).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import pairwise
from typing import ClassVar, TypeAlias, cast

import torch
from torch import Tensor, nn

from mtlops.methods.base import Bound, Range
from mtlops.models.architectures.base import Architecture


@dataclass
class Params:
    k: int = 4  # members
    width: int = 128  # shared layer width
    depth: int = 2  # shared layers
    tower_width: int = 32
    dropout: float = 0.0


class LinearBatchEnsemble(nn.Module):
    """[B, k, d_in] -> [B, k, d_out]: one weight matrix shared, per-member input/output scales and bias."""

    def __init__(self, d_in: int, d_out: int, k: int, random_signs: bool) -> None:
        super().__init__()
        shared = nn.Linear(d_in, d_out)  # torch's own initialisation for the shared weight and the bias
        self.weight = nn.Parameter(shared.weight.detach().T.clone())
        self.bias = nn.Parameter(shared.bias.detach().repeat(k, 1))
        r = torch.ones(k, d_in)
        if random_signs:
            r = torch.where(torch.rand(k, d_in) < 0.5, -1.0, 1.0)
        self.r = nn.Parameter(r)
        self.s = nn.Parameter(torch.ones(k, d_out))

    def forward(self, x: Tensor) -> Tensor:
        return (x * self.r) @ self.weight * self.s + self.bias


class LinearEnsemble(nn.Module):
    """[B, k, d_in] -> [B, k, d_out]: k separate linear layers, one per member."""

    def __init__(self, d_in: int, d_out: int, k: int) -> None:
        super().__init__()
        bound = 1 / math.sqrt(d_in)
        self.weight = nn.Parameter(torch.empty(k, d_in, d_out).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(k, d_out).uniform_(-bound, bound))

    def forward(self, x: Tensor) -> Tensor:
        return torch.einsum("bki,kio->bko", x, self.weight) + self.bias


class TabM(Architecture):
    Params: TypeAlias = Params
    bounds: ClassVar[dict[str, Bound]] = {
        "k": (1, None), "width": (1, None), "depth": (1, None), "tower_width": (1, None), "dropout": (0.0, 0.95),
    }
    search_space: ClassVar[dict[str, str | Range]] = {
        "depth": "depth", "width": "width", "dropout": "dropout", "k": Range(2, 8),
    }
    default_search = False

    def __init__(self, in_dim: int, task_names: list[str], params: Params | dict | None = None) -> None:
        super().__init__(in_dim, task_names, params)
        p = self.params
        self.members = p.k
        widths = [in_dim] + [p.width] * p.depth
        self.shared = nn.ModuleList(
            LinearBatchEnsemble(a, b, p.k, random_signs=i == 0) for i, (a, b) in enumerate(pairwise(widths))
        )
        self.towers = nn.ModuleDict({t: LinearEnsemble(p.width, p.tower_width, p.k) for t in task_names})
        self.dropout = nn.Dropout(p.dropout) if p.dropout > 0 else nn.Identity()

    def trunk(self, h: Tensor) -> tuple[Tensor, ...]:
        x = h.unsqueeze(1).expand(-1, self.members, -1)  # [B, k, d]: every member reads the row
        for layer in cast(nn.ModuleList, self.shared):
            x = self.dropout(torch.relu(layer(x)))
        return (x.reshape(-1, x.shape[-1]),)  # [B·k, width]: (row, member) pairs

    def branch(self, task: str, state: tuple[Tensor, ...]) -> Tensor:
        x = state[0].reshape(-1, self.members, self.params.width)
        out = self.dropout(torch.relu(self.towers[task](x)))
        return out.reshape(-1, self.params.tower_width)

    def out_dim(self, task: str) -> int:
        return self.params.tower_width

    def last_shared_parameters(self) -> list[nn.Parameter]:
        last = cast(LinearBatchEnsemble, cast(nn.ModuleList, self.shared)[-1])
        return [last.weight]  # the last layer's shared matrix
