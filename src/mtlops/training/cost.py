"""The cost guard's training side: stop a network before its wall time passes a budget.

The train stage gives each shared network `train.max_cost_ratio` × the wall time of its tasks' single-task
networks (reports/baselines.json), so a shared model never costs more to train than the networks it
replaces, whatever the search chose. The budget is checked after each epoch: training stops (keeping the
best epoch so far) when one more epoch at the mean pace would pass it. Seconds depend on the machine's
load: the cap protects against a model many times the single-task networks' cost, not against a few
percent. A resumed run's budget starts afresh.
"""

from __future__ import annotations

import time
from typing import Any

from mtlops.training.trainer import StopTraining


class WallTimeBudget:
    """A `fit` callback: raises `StopTraining` once another epoch would take training past `seconds`."""

    def __init__(self, seconds: float, why: str = "") -> None:
        self.seconds = float(seconds)
        self.why = why
        self.started = time.perf_counter()
        self.epochs = 0

    def __call__(self, epoch: int, row: dict[str, Any], model: Any) -> None:
        self.epochs += 1
        spent = time.perf_counter() - self.started
        if spent + spent / self.epochs > self.seconds:
            raise StopTraining(f"cost guard: {spent:.1f} s after {self.epochs} epochs, another would pass "
                               f"{self.seconds:.1f} s{f' ({self.why})' if self.why else ''}")
