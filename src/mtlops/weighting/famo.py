"""FAMO (Liu et al. 2023): fast adaptive multitask optimisation, O(1) extra cost per step.

The model follows Σ_t z_t·∇log L_t / c with z = softmax(ξ) and c = Σ_t z_t/L_t, i.e. the weight
applied to L_t is z_t/(c·L_t). After the optimiser step, the same batch's new losses give the
per-task log-loss decrease δ_t = log L_t(before) − log L_t(after); ξ takes one step of its own Adam
(with weight decay γ) along J_softmax(ξ)ᵀ δ, raising the weight of tasks that improved least.
Losses are taken relative to 0 (+ eps). A task without labels in a batch (loss exactly 0) is left
out of that step: it neither takes weight nor moves ξ. Across data-parallel processes the loss
values are averaged first, so every process weights and moves ξ alike.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TypeAlias

import torch
from torch import Tensor

from mtlops.methods.base import Above, Range
from mtlops.weighting.base import Weighting, mean_over_ranks


@dataclass
class Params:
    lr: float = 0.025  # learning rate of the weight logits
    gamma: float = 0.001  # weight decay of the logits
    eps: float = 1e-8


class FAMO(Weighting):
    Params: TypeAlias = Params
    bounds = {"lr": (Above(0.0), None), "gamma": (0.0, None), "eps": (Above(0.0), None)}
    search_space = {"lr": Range(1e-3, 1e-1, log=True), "gamma": Range(1e-5, 1e-2, log=True)}
    data_parallel = True

    def __init__(self, task_names, params=None, task_types=None) -> None:
        super().__init__(task_names, params, task_types)
        self.logits = torch.zeros(self.n_tasks, requires_grad=True)
        self.optimizer = torch.optim.Adam([self.logits], lr=self.params.lr, weight_decay=self.params.gamma)
        self._before: Tensor | None = None

    def combine(self, losses: Tensor) -> tuple[Tensor, Tensor]:
        detached = mean_over_ranks(losses.detach())
        active = detached > 0
        z = torch.softmax(self.logits.detach(), dim=0)
        d = detached + self.params.eps
        c = torch.where(active, z / d, 0.0).sum().clamp_min(1e-20)
        weights = torch.where(active, z / (c * d), 0.0)
        self._before = detached
        return (weights * losses).sum(), weights

    def after_step(self, losses_fn) -> None:
        if self._before is None:
            return
        with torch.no_grad():
            after = mean_over_ranks(self.stack(losses_fn()))
        eps = self.params.eps
        both = (self._before > 0) & (after > 0)
        delta = torch.where(both, torch.log(self._before + eps) - torch.log(after + eps), 0.0)
        with torch.enable_grad():
            z = torch.softmax(self.logits, dim=0)
            (grad,) = torch.autograd.grad(z, self.logits, grad_outputs=delta)
        self.optimizer.zero_grad(set_to_none=True)
        self.logits.grad = grad
        self.optimizer.step()
        self._before = None

    def _tensors(self) -> list[Tensor]:
        return [self.logits]

    def state_dict(self) -> dict:
        return {"logits": self.logits.detach().clone(), "optimizer": copy.deepcopy(self.optimizer.state_dict())}

    def load_state_dict(self, state: dict) -> None:
        with torch.no_grad():
            self.logits.copy_(state["logits"])
        self.optimizer.load_state_dict(state["optimizer"])
