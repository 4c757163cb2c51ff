"""A finished trial's line says how far the budget is, what Δm means and which was best so far."""

from __future__ import annotations

import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution

from mtlops.search.worker import trial_line


def _trial(number: int, value: float | None, dm: float | None, state=optuna.trial.TrialState.COMPLETE):
    trial = optuna.trial.create_trial(
        state=state, value=value,
        params={"architecture": "mmoe", "weighting": "famo", "lr": 0.0012},
        distributions={"architecture": CategoricalDistribution(["mmoe"]),
                       "weighting": CategoricalDistribution(["famo"]), "lr": FloatDistribution(1e-4, 1e-2, log=True)},
        user_attrs={"epochs": 4, **({"val_delta_m": dm} if dm is not None else {}),
                    **({"pruned_reason": "below the median at epoch 2"} if value is None else {})},
    )
    trial.number = number
    return trial


def test_a_trial_line_counts_against_the_budget_and_names_the_best():
    best = _trial(3, 0.52, 0.52)
    line = trial_line(_trial(6, 0.30, 0.41), done=7, budget=24, best=best)
    assert line == ("trial 7/24 · complete · val Δm +0.41 % (score +0.30; best +0.52, #3) · 4 epochs · "
                    "mmoe + famo, lr 0.0012 · #6")
    pruned = trial_line(_trial(7, None, None, optuna.trial.TrialState.PRUNED), done=8, budget=24, best=best)
    assert pruned.startswith("trial 8/24 · pruned · below the median at epoch 2 · 4 epochs")
