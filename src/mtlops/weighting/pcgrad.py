"""PCGrad (Yu et al. 2020): project away the conflicting part of each task's gradient.

For each task i, in a random order of the other tasks j: if g_i · g_j < 0, then
g_i ← g_i − (g_i · g_j)/‖g_j‖² · g_j (against the original g_j). The update is Σ_i g_i.

Only the shared parameters are projected. Task-specific parameters (branches, heads, trunk
parameters only one task reaches) get the plain summed gradient. Cost: each task's loss goes
through its own branch and head once (`branch_grads`), then each task's gradient at the cut goes
through the trunk once (`trunk_grads`): T trunk passes, which the per-task shared gradients need,
and no repeated head or tower passes. Across data-parallel processes the per-task shared gradients
are averaged before the projection, which then sees the whole batch's gradients on every process.
"""

from __future__ import annotations

import torch
from torch import Tensor

from mtlops.weighting.base import (
    Weighting,
    accumulate,
    branch_grads,
    flatten,
    mean_over_ranks,
    regularization_backward,
    trunk_grads,
    unflatten_into,
)


def project_conflicts(grads: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """grads [T, P] -> the PCGrad-projected per-task gradients [T, P] (no host sync)."""
    n = grads.shape[0]
    sq_norm = (grads * grads).sum(dim=1).clamp_min(1e-20)
    projected = grads.clone()
    for i in range(n):
        for j in torch.randperm(n, generator=generator).tolist():
            if j == i:
                continue
            dot = projected[i] @ grads[j]
            projected[i] -= torch.where(dot < 0, dot / sq_norm[j], 0.0) * grads[j]
    return projected


class PCGrad(Weighting):
    data_parallel = True

    def backward(self, losses, model, cut=None, scale=None):
        if cut is None:
            raise ValueError(
                "PCGrad needs the trunk/branch cut: build it as cut = Cut.of(model.trunk(batch)) and "
                "compute the outputs with model.branches(cut.leaves), as the trainer does"
            )
        ones = torch.ones(self.n_tasks, device=self.device)
        regularization_backward(model, scale)
        state_grads = branch_grads(losses, model, cut, ones, scale)
        trunk = [p for p in model.trunk_parameters() if p.requires_grad]
        shared_ids = {id(p) for p in model.shared_parameters()}
        shared = [p for p in trunk if id(p) in shared_ids]
        exclusive = [p for p in trunk if id(p) not in shared_ids]
        per_task = [
            trunk_grads(cut, g, shared + exclusive, retain_graph=i < self.n_tasks - 1)
            for i, g in enumerate(state_grads)
        ]
        if shared:
            flat = mean_over_ranks(torch.stack([flatten(g[: len(shared)], shared) for g in per_task]))
            unflatten_into(project_conflicts(flat).sum(dim=0), shared)
        for g in per_task:
            accumulate(exclusive, g[len(shared) :])
        return self.as_dict(ones)
