"""The parts of the training recipe that scale with the data: batch size, learning-rate schedule, weight average.

Each is expressed in epochs, not steps, so one set of defaults trains a 3k-row and a 300k-row data
set alike (measured on both in issue #13: a fixed `epochs: 6` with batch 1024 left the small one
untrained after 24 steps).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

MAX_AUTO_BATCH = 1024
MIN_STEPS_PER_EPOCH = 32


def resolve_batch_size(batch_size: int | str, n_rows: int) -> int:
    """`auto`: the largest power of two with at least 32 steps per epoch, at most 1024 (and at least 8)."""
    if batch_size != "auto":
        return int(batch_size)
    fit = max(1, n_rows // MIN_STEPS_PER_EPOCH)
    return max(8, min(MAX_AUTO_BATCH, 1 << (fit.bit_length() - 1)))


def warmup_cosine(
    optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up from ~0 over `warmup_steps`, then a cosine from the base rate to 0 at `total_steps`.

    With a generous max-epochs ceiling and early stopping, the rate is close to constant for the
    epochs actually run; the warm-up keeps Adam's first steps (noisy moment estimates) small.
    """

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


class WeightAverage:
    """An exponential moving average of the model's floating-point parameters (Polyak averaging).

    The averaged weights are what is validated and kept: epoch-to-epoch noise in the validation
    metrics (±0.5-1 % Δm on flights) otherwise makes the early-stopping epoch a coin flip. The decay
    comes from a half-life in epochs, so the average never reaches back into the random
    initialisation on a small data set nor forgets too fast on a large one.
    """

    def __init__(self, model: nn.Module, half_life_epochs: float, steps_per_epoch: int) -> None:
        self.decay = 0.5 ** (1.0 / max(1e-9, half_life_epochs * steps_per_epoch))
        self.params = [p for p in model.parameters() if p.dtype.is_floating_point]
        self.shadow = [p.detach().clone() for p in self.params]

    @torch.no_grad()
    def update(self) -> None:
        torch._foreach_lerp_(self.shadow, [p.detach() for p in self.params], 1.0 - self.decay)

    @contextlib.contextmanager
    def applied(self) -> Iterator[None]:
        """The averaged weights in the model for the duration (validation, keeping the best); then the raw ones."""
        raw = [p.detach().clone() for p in self.params]
        with torch.no_grad():
            torch._foreach_copy_([p.data for p in self.params], self.shadow)
        try:
            yield
        finally:
            with torch.no_grad():
                torch._foreach_copy_([p.data for p in self.params], raw)

    def state_dict(self) -> dict[str, object]:
        return {"decay": self.decay, "shadow": [s.clone() for s in self.shadow]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.decay = float(state["decay"])
        with torch.no_grad():
            torch._foreach_copy_(self.shadow, [s.to(p.device) for s, p in zip(state["shadow"], self.shadow)])
