"""The sharing-architecture interface: a trunk every task reads, then one branch per task.

The split is explicit so gradient-based task weightings (PCGrad, GradNorm) can cut the graph
between trunk and branches: they backpropagate each task's loss through its own branch once, then
send per-task gradients into the trunk, and never repeat a branch.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from mtlops.methods.base import Method


class Architecture(nn.Module, Method):
    """Base class: shared modules live in `self.shared`, task `t`'s own modules in `self.towers[t]`.

    Subclasses set `Params`, `bounds` and `search_space` (see `mtlops.methods.base.Method`) and implement
    `trunk`, `branch` and `out_dim`. A single-task model is the same code with one task name. An ensemble of
    `members` > 1 (TabM) folds them into the batch: its trunk and branches return B·members rows, (row,
    member) pairs; the model repeats each label for every member and averages the members' predictions.
    """

    members: int = 1

    def __init__(self, in_dim: int, task_names: list[str], params: Any = None) -> None:
        super().__init__()
        self.params = self.coerce_params(params)
        self.in_dim = in_dim
        self.task_names = list(task_names)
        self.task_index = {t: i for i, t in enumerate(self.task_names)}
        self.shared: nn.Module = nn.ModuleDict()
        self.towers = nn.ModuleDict({t: nn.Identity() for t in self.task_names})

    # ---------------------------------------------------------------- forward
    def trunk(self, h: Tensor) -> tuple[Tensor, ...]:
        """What every task reads: a tuple of tensors computed by `self.shared` from the encoder output."""
        raise NotImplementedError

    def branch(self, task: str, state: tuple[Tensor, ...]) -> Tensor:
        """Task `task`'s representation [B, out_dim(task)] from the trunk state, using only its own modules."""
        raise NotImplementedError

    def out_dim(self, task: str) -> int:
        raise NotImplementedError

    # ------------------------------------------------------------- parameters
    def trunk_parameters(self) -> list[nn.Parameter]:
        """Every parameter the trunk uses (gradients into it come from all branches)."""
        return list(self.shared.parameters())

    def exclusive_trunk_parameters(self) -> dict[str, list[nn.Parameter]]:
        """Trunk parameters that only one task's loss reaches (e.g. PLE's last trunk-level gates)."""
        return {}

    def shared_parameters(self) -> list[nn.Parameter]:
        """What gradient-based weighting operates on: trunk parameters that more than one task reaches."""
        exclusive = {id(p) for ps in self.exclusive_trunk_parameters().values() for p in ps}
        return [p for p in self.trunk_parameters() if id(p) not in exclusive]

    def task_parameters(self, task: str) -> list[nn.Parameter]:
        return list(self.towers[task].parameters()) + self.exclusive_trunk_parameters().get(task, [])

    def last_shared_parameters(self) -> list[nn.Parameter]:
        """The last shared layer's weights (GradNorm measures gradient norms there); [] if nothing is shared."""
        return []

    def regularization(self) -> Tensor | float:
        """A penalty added to the training loss (soft sharing's tie); 0 by default."""
        return 0.0


def mlp(in_dim: int, widths: list[int], dropout: float = 0.0) -> nn.Sequential:
    """Linear -> ReLU (-> Dropout) per width; an empty `widths` is the identity."""
    layers: list[nn.Module] = []
    for w in widths:
        layers += [nn.Linear(in_dim, w), nn.ReLU()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        in_dim = w
    return nn.Sequential(*layers)


def last_linear(module: nn.Module) -> nn.Linear | None:
    linears = [m for m in module.modules() if isinstance(m, nn.Linear)]
    return linears[-1] if linears else None


def last_linear_weights(modules: list[nn.Module]) -> list[nn.Parameter]:
    return [lin.weight for m in modules if (lin := last_linear(m)) is not None]  # type: ignore[misc]  # Linear.weight: a Parameter
