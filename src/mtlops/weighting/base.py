"""The task-weighting interface: a method turns per-task losses into one backward pass.

The base class owns the step. Loss-based methods only say how to combine the losses
(`combine`); gradient-based methods override `backward` and use the helpers at the bottom, which
work on the model's trunk/branch cut (`mtlops.models.Cut`; for a method that overrides `backward`
(`needs_cut`) the trainer builds it every step as `Cut.of(model.trunk(batch))` and computes the outputs
from its detached leaves; for the others it computes them from the trunk's outputs directly, and one
backward pass gives the same gradients, bit for bit, without the cut's second pass):

1. `branch_grads`: each task's loss is backpropagated through its own branch and head once,
   giving that task's gradient at the cut (and its branch parameters' gradient, applied with the
   task's weight right away: they belong to that task alone);
2. `trunk_grads`: a task's gradient at the cut is carried into the chosen trunk parameters
   (`retain_graph` only over the trunk).

So no task head is traversed more than once, and only the shared part is traversed per task.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor

from mtlops.methods.base import Method

Scale = Callable[[Tensor], Tensor]


class Weighting(Method):
    """Base class. Subclasses set `Params`, `bounds` and `search_space` (see `mtlops.methods.base.Method`)
    and override what they need.

    - `combine(L)` -> (the scalar to backpropagate, the weights applied): loss-based methods.
    - `backward(losses, model, cut, scale)`: the whole backward step (gradient-based methods).
    - `parameters()`: tensors the trainer's optimiser should learn with the model (uncertainty);
      methods with their own optimiser (GradNorm, FAMO) keep it and return [].
    - hooks `on_epoch_end(epoch, mean_losses)` and `after_step(losses_fn)`.
    - `state_dict()` / `load_state_dict()`: everything needed to resume exactly.
    - `data_parallel`: True once the method's step is the same on every training process, each
      holding a shard of the batch (`mtlops.training.distributed`). The trainer averages the final
      gradients; a method that decides from loss values or per-task gradients passes those through
      `mean_over_ranks` first, so all processes decide from the whole batch. Unset: refused there.
    """

    data_parallel: bool = False

    def __init__(self, task_names: Sequence[str], params: Any = None, task_types: dict[str, str] | None = None):
        self.params = self.coerce_params(params)
        self.task_names = list(task_names)
        self.n_tasks = len(self.task_names)
        self.task_types = dict(task_types or {})
        self.device = torch.device("cpu")

    # -------------------------------------------------------------------- the step
    def combine(self, losses: Tensor) -> tuple[Tensor, Tensor]:
        """losses [T] -> (scalar to backpropagate, weights [T] applied). Default: the plain sum."""
        weights = torch.ones_like(losses)
        return losses.sum(), weights

    def backward(
        self, losses: dict[str, Tensor], model: Any, cut: Any = None, scale: Scale | None = None
    ) -> dict[str, Tensor]:
        """Backpropagate the weighted losses (+ the model's regularisation); return the weights applied.

        `cut` is the `Cut` the outputs were computed from (the trainer always passes one), else
        None: then the outputs are attached to the trunk and a plain backward reaches it.
        `scale` is the AMP GradScaler's `scale` for fp16. The returned weights are detached 0-dim
        tensors (no host sync).
        """
        total, weights = self.combine(self.stack(losses))
        run_backward(total + model.regularization(), cut, scale)
        return self.as_dict(weights)

    @property
    def needs_cut(self) -> bool:
        """Whether `backward` reads the trunk/branch cut: a method that overrides it may; the plain sum of
        `combine` does not, and skipping the cut's two-pass backward saves ~5 % of a step (issue #28)."""
        return type(self).backward is not Weighting.backward

    # ------------------------------------------------------------------- hooks
    def on_epoch_end(self, epoch: int, mean_losses: dict[str, float]) -> None:
        """Called after each epoch with the epoch's mean training loss per task."""

    def after_step(self, losses_fn: Callable[[], dict[str, Tensor]]) -> None:
        """Called after each optimiser step; `losses_fn()` gives the same batch's losses with the new weights."""

    # ------------------------------------------------------------------ state
    def parameters(self) -> list[Tensor]:
        return []

    def to(self, device: torch.device | str) -> Weighting:
        """Move tensor state in place (parameter identity is kept for optimisers)."""
        self.device = torch.device(device)
        for t in self._tensors():
            t.data = t.data.to(self.device)
        return self

    def _tensors(self) -> list[Tensor]:
        return []

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass

    # ---------------------------------------------------------------- helpers
    def stack(self, losses: dict[str, Tensor]) -> Tensor:
        return torch.stack([losses[t].float() for t in self.task_names])

    def as_dict(self, weights: Tensor) -> dict[str, Tensor]:
        return dict(zip(self.task_names, weights.detach().unbind()))


def processes() -> int:
    """How many data-parallel processes train this model (1 outside `mtlops.training.distributed.launch`)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def mean_over_ranks(tensor: Tensor) -> Tensor:
    """`tensor` averaged over the data-parallel training processes (itself, untouched, in one process)."""
    world = processes()
    if world == 1:
        return tensor
    total = tensor.detach().clone()
    dist.all_reduce(total)
    return total / world


def run_backward(total: Tensor, cut: Any = None, scale: Scale | None = None) -> None:
    """total.backward() (scaled for fp16), then through the trunk when the outputs came from a cut."""
    if total.requires_grad:
        (scale(total) if scale else total).backward()
    if cut is not None:
        cut.backward()


def regularization_backward(model: Any, scale: Scale | None = None) -> None:
    reg = model.regularization()
    if isinstance(reg, Tensor) and reg.requires_grad:
        (scale(reg) if scale else reg).backward()


def accumulate(params: list[Tensor], grads: Sequence[Tensor | None], weight: Tensor | float = 1.0) -> None:
    for p, g in zip(params, grads):
        if g is None:
            continue
        g = g * weight
        if p.grad is None:
            p.grad = g
        else:
            p.grad.add_(g)


def branch_grads(
    losses: dict[str, Tensor], model: Any, cut: Any, weights: Tensor, scale: Scale | None = None
) -> list[list[Tensor | None]]:
    """Per task: its loss backpropagated through its branch once.

    The branch parameters get weight_t · ∂L_t/∂θ_t added to `.grad`; the return value is, per
    task, ∂L_t/∂state for each of the cut's trunk outputs (None where the task does not read it).
    """
    leaves = [leaf for leaf in cut.leaves if leaf.requires_grad]
    out: list[list[Tensor | None]] = []
    for i, t in enumerate(model.task_names):
        loss = scale(losses[t]) if scale else losses[t]
        params = [p for p in model.branch_parameters(t) if p.requires_grad]
        if not loss.requires_grad:
            out.append([None] * len(cut.leaves))
            continue
        grads = torch.autograd.grad(loss, leaves + params, allow_unused=True)
        accumulate(params, grads[len(leaves):], weights[i])
        by_leaf = dict(zip((id(x) for x in leaves), grads[: len(leaves)]))
        out.append([by_leaf.get(id(leaf)) for leaf in cut.leaves])
    return out


def trunk_grads(
    cut: Any, state_grads: list[Tensor | None], params: list[Tensor], retain_graph: bool = True
) -> list[Tensor | None]:
    """A task's gradient at the cut carried into `params` (trunk parameters)."""
    pairs = [(s, g) for s, g in zip(cut.state, state_grads) if g is not None and s.requires_grad]
    if not pairs or not params:
        return [None] * len(params)
    return list(
        torch.autograd.grad(
            [s for s, _ in pairs], params, [g for _, g in pairs], retain_graph=retain_graph, allow_unused=True
        )
    )


def combine_state_grads(per_task: list[list[Tensor | None]], weights: Tensor) -> list[Tensor | None]:
    """Σ_t w_t · ∂L_t/∂state, per trunk output."""
    combined: list[Tensor | None] = []
    for k in range(len(per_task[0]) if per_task else 0):
        parts = [g * weights[i] for i, grads in enumerate(per_task) if (g := grads[k]) is not None]
        combined.append(torch.stack(parts).sum(0) if parts else None)
    return combined


def flatten(grads: Sequence[Tensor | None], params: Sequence[Tensor]) -> Tensor:
    return torch.cat([(g if g is not None else torch.zeros_like(p)).reshape(-1) for g, p in zip(grads, params)])


def unflatten_into(flat: Tensor, params: Sequence[Tensor]) -> None:
    """Add a flat gradient vector into the parameters' `.grad`."""
    offset = 0
    for p in params:
        n = p.numel()
        accumulate([p], [flat[offset : offset + n].view_as(p)])
        offset += n
