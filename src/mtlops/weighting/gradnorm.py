"""GradNorm (Chen et al. 2018): learn weights that balance the tasks' gradient norms.

At the last shared layer W, G_t = ‖∇_W w_t L_t‖ = w_t·n_t. The weights are pulled towards
Ḡ·r_t^α, where r_t = (L_t/L_t(0)) / mean_s(L_s/L_s(0)) is task t's relative inverse training
rate: a task that learns slowly gets a larger gradient share. The target is a constant (as in the
paper) and w = T·softmax(ξ) keeps Σ w = T; ξ has its own Adam optimiser.

Cost: n_t needs only ∂L_t/∂W. Each loss goes through its branch once, each task's gradient at the
cut goes back only to W (one layer), and the model's update is one trunk pass with Σ_t w_t ∂L_t/∂cut
— no per-task pass through the whole trunk, and no double backward. With one task, or nothing
shared, the weights stay at 1. Across data-parallel processes the norms are those of the averaged
per-task gradients at W and the loss ratios those of the averaged losses: every process learns the
same weights, from the whole batch.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TypeAlias

import torch
from torch import Tensor

from mtlops.methods.base import Above, Range
from mtlops.weighting.base import (
    Weighting,
    branch_grads,
    combine_state_grads,
    flatten,
    mean_over_ranks,
    processes,
    regularization_backward,
    trunk_grads,
)


@dataclass
class Params:
    alpha: float = 1.5  # asymmetry: how strongly slow tasks are favoured
    lr: float = 0.025  # learning rate of the weights


class GradNorm(Weighting):
    Params: TypeAlias = Params
    bounds = {"alpha": (0.0, None), "lr": (Above(0.0), None)}
    search_space = {"alpha": Range(0.0, 3.0)}
    data_parallel = True

    def __init__(self, task_names, params=None, task_types=None):
        super().__init__(task_names, params, task_types)
        self.logits = torch.zeros(self.n_tasks, requires_grad=True)
        self.optimizer = torch.optim.Adam([self.logits], lr=self.params.lr)
        self.initial = torch.zeros(self.n_tasks)  # L_t(0): the first positive loss of each task

    def current(self) -> Tensor:
        return self.n_tasks * torch.softmax(self.logits.detach(), dim=0)

    def backward(self, losses, model, cut=None, scale=None):
        if cut is None:
            raise ValueError(
                "GradNorm needs the trunk/branch cut: build it as cut = Cut.of(model.trunk(batch)) and "
                "compute the outputs with model.branches(cut.leaves), as the trainer does"
            )
        weights = self.current()
        last = [p for p in model.last_shared_parameters() if p.requires_grad]
        regularization_backward(model, scale)
        state_grads = branch_grads(losses, model, cut, weights, scale)
        norms = None
        if self.n_tasks > 1 and last:
            per_task = [trunk_grads(cut, sg, last) for sg in state_grads]
            if processes() > 1:
                norms = mean_over_ranks(torch.stack([flatten(g, last) for g in per_task])).norm(dim=1)
            else:
                norms = torch.stack([torch.cat([g.reshape(-1) for g in grads if g is not None]
                                               or [torch.zeros(1, device=self.device)]).norm() for grads in per_task])
        combined = combine_state_grads(state_grads, weights)
        pairs = [(s, g) for s, g in zip(cut.state, combined) if g is not None and s.requires_grad]
        if pairs:
            torch.autograd.backward([s for s, _ in pairs], [g for _, g in pairs])
        if norms is not None:
            self._update(mean_over_ranks(self.stack(losses).detach()), norms)
        return self.as_dict(weights)

    def _update(self, losses: Tensor, norms: Tensor) -> None:
        self.initial = torch.where(self.initial > 0, self.initial, losses)
        active = losses > 0  # a task without labels in this batch takes no part
        n_active = active.sum().clamp_min(1)
        ratio = torch.where(active, losses / self.initial.clamp_min(1e-12), 0.0)
        relative = ratio / (ratio.sum() / n_active).clamp_min(1e-12)
        with torch.enable_grad():
            w = self.n_tasks * torch.softmax(self.logits, dim=0)
            grad_norms = w * norms
            target = (grad_norms.detach() * active).sum() / n_active * relative.pow(self.params.alpha)
            gap = torch.where(active, (grad_norms - target).abs(), 0.0).sum()
            self.optimizer.zero_grad(set_to_none=True)
            gap.backward()
        self.optimizer.step()

    def _tensors(self) -> list[Tensor]:
        return [self.logits, self.initial]

    def state_dict(self) -> dict:
        return {"logits": self.logits.detach().clone(), "initial": self.initial.clone(),
                "optimizer": copy.deepcopy(self.optimizer.state_dict())}

    def load_state_dict(self, state: dict) -> None:
        with torch.no_grad():
            self.logits.copy_(state["logits"])
        self.initial = state["initial"].to(self.device)
        self.optimizer.load_state_dict(state["optimizer"])
