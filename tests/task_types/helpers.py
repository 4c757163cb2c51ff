"""Shared pieces of the task-type tests: a seeded head, and the check that masked rows add nothing."""

from __future__ import annotations

import torch

from mtlops.models import TaskSpec
from mtlops.models.heads import TaskHead, build_head

IN_DIM = 5


def head_of(type_name: str, seed: int = 0, **spec) -> TaskHead:
    """A head of the type on IN_DIM features, its weights drawn from `seed`."""
    torch.manual_seed(seed)
    return build_head(TaskSpec("t", type_name, **spec), IN_DIM)


def loss_and_grads(head: TaskHead, x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor):
    head.zero_grad()
    total, count = head.loss_terms(head(x), y, mask)
    (total / count).backward()
    return total.detach(), [p.grad.clone() for p in head.parameters()]


def assert_masked_rows_add_nothing(head: TaskHead, x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor, junk) -> None:
    """Whatever label a masked row holds, the loss and every gradient stay exactly the same."""
    reference = loss_and_grads(head, x, y, mask)
    for value in junk:
        dirty = y.clone()
        dirty[~mask] = value
        total, grads = loss_and_grads(head, x, dirty, mask)
        torch.testing.assert_close(total, reference[0], rtol=0, atol=0)
        for g, ref in zip(grads, reference[1], strict=True):
            torch.testing.assert_close(g, ref, rtol=0, atol=0)
