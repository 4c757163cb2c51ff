"""The cost guard's training side: stop a network before its training compute passes a budget.

Training compute is counted as parameters × epochs (every network of a run sees the same training rows, so
this is proportional to the multiply-adds). The train stage gives each shared network `train.max_cost_ratio`
× the parameter-epochs of its tasks' single-task networks (reports/baselines.json): a shared network twice
their parameters may train half their epochs. Counting compute, not seconds, keeps the rule independent of
the machine's load: a wall-time cap stopped a run after one slow first epoch on a busy machine (a star run
of the suite, −12 % Δm), and made the same config train differently from one run to the next.
Epochs count from the run's start, so a resumed run keeps the budget it had.
"""

from __future__ import annotations

import math
from typing import Any

from mtlops.training.trainer import StopTraining


def budget_epochs(param_epochs: float, n_params: int) -> int:
    """The epochs a network of `n_params` parameters may train within `param_epochs` (at least one)."""
    return max(1, math.floor(param_epochs / max(int(n_params), 1)))


class ComputeBudget:
    """A `fit` callback: raises `StopTraining` after the last epoch that fits `param_epochs`."""

    def __init__(self, param_epochs: float, why: str = "") -> None:
        self.param_epochs = float(param_epochs)
        self.why = why

    def __call__(self, epoch: int, row: dict[str, Any], model: Any) -> None:
        n_params = _n_params(model)
        if epoch >= budget_epochs(self.param_epochs, n_params):
            raise StopTraining(f"cost guard: {epoch} epochs × {n_params:,} parameters, another would pass "
                               f"{self.param_epochs:,.0f} parameter-epochs{f' ({self.why})' if self.why else ''}")


def _n_params(model: Any) -> int:
    inner = getattr(model, "module", model)  # a DistributedDataParallel wrapper holds the network as `module`
    return int(getattr(inner, "n_params", None) or sum(p.numel() for p in inner.parameters()))
