"""The conditional search space (define-by-run): each architecture and weighting draws only its own params.

Parameter names carry their method's prefix ("mmoe.experts", "dwa.temperature") so a sampler
never mixes one method's width with another's. Ranges come from `search.space` in params.yaml.
A method with no entry here is searched with its defaults.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mtlops.errors import UserError

if TYPE_CHECKING:
    import optuna

    from mtlops.schema import SearchSpace

Suggest = Callable[["optuna.Trial", "SearchSpace", list[str]], dict[str, Any]]


class SearchSpaceError(UserError):
    """`search.space` names a method that does not exist."""


# ------------------------------------------------------------------------------------ architectures
def _trunk(trial: optuna.Trial, space: SearchSpace, prefix: str) -> dict[str, Any]:
    return {
        "depth": trial.suggest_int(f"{prefix}.depth", *space.depth),
        "width": trial.suggest_int(f"{prefix}.width", *space.width, log=True),
        "dropout": trial.suggest_float(f"{prefix}.dropout", *space.dropout),
    }


def _hard(trial: optuna.Trial, space: SearchSpace, tasks: list[str]) -> dict[str, Any]:
    return _trunk(trial, space, "hard")


def _soft(trial: optuna.Trial, space: SearchSpace, tasks: list[str]) -> dict[str, Any]:
    tie = trial.suggest_float("soft.tie_strength", *space.tie_strength, log=True)
    return {**_trunk(trial, space, "soft"), "tie_strength": tie}


def _cross_stitch(trial: optuna.Trial, space: SearchSpace, tasks: list[str]) -> dict[str, Any]:
    return _trunk(trial, space, "cross_stitch")


def _mmoe(trial: optuna.Trial, space: SearchSpace, tasks: list[str]) -> dict[str, Any]:
    return {**_trunk(trial, space, "mmoe"), "experts": trial.suggest_int("mmoe.experts", *space.experts)}


def _ple(trial: optuna.Trial, space: SearchSpace, tasks: list[str]) -> dict[str, Any]:
    """PLE's depth is its number of extraction levels; each task gets up to half as many experts as are shared."""
    return {
        "num_levels": trial.suggest_int("ple.num_levels", *space.depth),
        "width": trial.suggest_int("ple.width", *space.width, log=True),
        "dropout": trial.suggest_float("ple.dropout", *space.dropout),
        "experts": trial.suggest_int("ple.experts", *space.experts),
        "task_experts": trial.suggest_int("ple.task_experts", 1, max(1, space.experts[1] // 2)),
    }


ARCHITECTURE_SPACES: dict[str, Suggest] = {
    "hard": _hard,
    "soft": _soft,
    "cross_stitch": _cross_stitch,
    "mmoe": _mmoe,
    "ple": _ple,
}


# ---------------------------------------------------------------------------------------- weightings
def _static(trial: optuna.Trial, space: SearchSpace, tasks: list[str]) -> dict[str, Any]:
    """Weights uniform on the simplex (scaled to sum T): normalised exponentials, -log U ~ Exp(1)."""
    draws = {t: -math.log(trial.suggest_float(f"static.{t}", 1e-3, 1.0)) for t in tasks}
    total = sum(draws.values())
    return {"weights": {t: len(tasks) * d / total for t, d in draws.items()}}


def _dwa(trial: optuna.Trial, space: SearchSpace, tasks: list[str]) -> dict[str, Any]:
    return {"temperature": trial.suggest_float("dwa.temperature", 0.5, 5.0, log=True)}


def _gradnorm(trial: optuna.Trial, space: SearchSpace, tasks: list[str]) -> dict[str, Any]:
    return {"alpha": trial.suggest_float("gradnorm.alpha", 0.0, 3.0)}


def _famo(trial: optuna.Trial, space: SearchSpace, tasks: list[str]) -> dict[str, Any]:
    return {
        "lr": trial.suggest_float("famo.lr", 1e-3, 1e-1, log=True),  # of the weight logits
        "gamma": trial.suggest_float("famo.gamma", 1e-5, 1e-2, log=True),
    }


def _none(trial: optuna.Trial, space: SearchSpace, tasks: list[str]) -> dict[str, Any]:
    return {}


WEIGHTING_SPACES: dict[str, Suggest] = {
    "equal": _none,
    "static": _static,
    "uncertainty": _none,
    "dwa": _dwa,
    "gradnorm": _gradnorm,
    "pcgrad": _none,
    "famo": _famo,
}


# ------------------------------------------------------------------------------------------- the space
def suggest_overlay(trial: optuna.Trial, space: SearchSpace, tasks: list[str]) -> dict[str, Any]:
    """Draw one candidate and return it as a config overlay (model + train sections)."""
    arch = trial.suggest_categorical("architecture", list(space.architectures))
    weighting = trial.suggest_categorical("weighting", list(space.weightings))
    return {
        "model": {
            "architecture": {"name": arch, "params": ARCHITECTURE_SPACES.get(arch, _none)(trial, space, tasks)},
            "weighting": {"name": weighting, "params": WEIGHTING_SPACES.get(weighting, _none)(trial, space, tasks)},
        },
        "train": {
            "lr": trial.suggest_float("lr", *space.lr, log=True),
            "weight_decay": trial.suggest_float("weight_decay", *space.weight_decay, log=True),
            "batch_size": trial.suggest_categorical("batch_size", list(space.batch_size)),
        },
    }


# ranges drawn on a log scale: they must stay above zero
_LOG_RANGES = ("width", "tie_strength", "lr", "weight_decay")


def check_space(space: SearchSpace, tasks: list[str]) -> None:
    """Methods the space names must exist, and ranges must be (low, high) with low <= high
    (and low > 0 on a log scale): fail before any training, naming the key."""
    from mtlops.methods import method_registry

    for key in ("width", "depth", "experts", "dropout", *_LOG_RANGES[1:]):
        low, high = getattr(space, key)
        if low > high or (key in _LOG_RANGES and low <= 0):
            need = "0 < low <= high (log scale)" if key in _LOG_RANGES else "low <= high"
            raise SearchSpaceError(f"search.space.{key}: [{low}, {high}]; allowed: {need}")
    if not space.batch_size or min(space.batch_size) <= 0:
        raise SearchSpaceError(f"search.space.batch_size: {space.batch_size}; allowed: a list of positive sizes")

    for key, kind, names in (
        ("architectures", "architecture", space.architectures),
        ("weightings", "weighting", space.weightings),
    ):
        if not names:
            raise SearchSpaceError(f"search.space.{key}: empty; list at least one {kind}")
        unknown = sorted(set(names) - set(method_registry(kind)))
        if unknown:
            raise SearchSpaceError(
                f"search.space.{key}: unknown {kind} {unknown}; allowed: {sorted(method_registry(kind))}"
            )
