"""The conditional search space (define-by-run): the method choice, the optimiser, each chosen method's params.

Each architecture and weighting draws its own params (`suggest`, declared in its own file, see
`mtlops.methods.Method`) through a view of the trial that names them with the method's prefix
("mmoe.experts", "dwa.temperature"), so a sampler never mixes one method's width with another's.
The method lists default to every registered method; the ranges come from `search.space` in
params.yaml or from the method's own file.
"""

from __future__ import annotations

import typing
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from mtlops.catalog import method_registry
from mtlops.errors import UserError
from mtlops.methods.base import allowed, inside, resolve_range

if TYPE_CHECKING:
    import optuna

    from mtlops.methods import Method
    from mtlops.schema import SearchSpace

KINDS = {"architecture": "architectures", "weighting": "weightings"}  # kind -> its list in search.space


class SearchSpaceError(UserError):
    """`search.space` names a method that does not exist, or a range no trial could use."""


class MethodTrial:
    """An Optuna trial as one method sees it: each param it suggests is named `<method>.<param>`."""

    def __init__(self, trial: optuna.Trial, method: str) -> None:
        self.trial = trial
        self.method = method

    def suggest_int(self, name: str, low: int, high: int, *, log: bool = False) -> int:
        return self.trial.suggest_int(f"{self.method}.{name}", low, high, log=log)

    def suggest_float(self, name: str, low: float, high: float, *, log: bool = False) -> float:
        return self.trial.suggest_float(f"{self.method}.{name}", low, high, log=log)

    def suggest_categorical(self, name: str, choices: list[Any]) -> Any:
        return self.trial.suggest_categorical(f"{self.method}.{name}", choices)


def searched_methods(space: SearchSpace, kind: str) -> list[str]:
    """The methods of this kind the search tries: the space's list, or (null) every registered one in order
    that searches by default (`Method.default_search`; TabM does not: k members cost k times one)."""
    names = getattr(space, KINDS[kind])
    if names is None:
        return [name for name, method in method_registry(kind).items() if method.default_search]
    return list(names)


def resolved(space: SearchSpace) -> SearchSpace:
    """The space with its method lists spelled out (what a study's identity depends on)."""
    return space.model_copy(update={key: searched_methods(space, kind) for kind, key in KINDS.items()})


def suggest_overlay(
    trial: optuna.Trial, space: SearchSpace, tasks: list[str], fixed: Collection[str] = (),
    auxiliary: Collection[str] = (),
) -> dict[str, Any]:
    """Draw one candidate and return it as a config overlay (model + train sections, and `tasks` by name).

    A key in `fixed` (`search.fixed`, dotted as in `mtlops.schema.SEARCHED_KEYS`) is neither drawn nor
    in the overlay: the config's own value holds in the trial and in the trained model. Each task named in
    `auxiliary` (the config's auxiliary tasks) is drawn on or off (`aux.<task>`) and, when on, its loss weight
    (`aux.<task>.weight`, from `search.space.auxiliary_weight` on a log scale); off is weight 0.
    """
    drawn = [kind for kind in KINDS if f"model.{kind}" not in fixed]
    names = {kind: trial.suggest_categorical(kind, searched_methods(space, kind)) for kind in drawn}
    model = {kind: {"name": name, "params": _draw(kind, name, trial, space, tasks)} for kind, name in names.items()}
    draws = {
        "lr": lambda: trial.suggest_float("lr", *space.lr, log=True),
        "weight_decay": lambda: trial.suggest_float("weight_decay", *space.weight_decay, log=True),
        "batch_size": lambda: trial.suggest_categorical("batch_size", list(space.batch_size)),
    }
    train = {key: draw() for key, draw in draws.items() if f"train.{key}" not in fixed}
    overlay: dict[str, Any] = {"model": model, "train": train}
    if auxiliary and "tasks.loss_weight" not in fixed:
        overlay["tasks"] = {name: {"loss_weight": _draw_auxiliary(trial, space, name)} for name in auxiliary}
    return overlay


def draw_overlay(cfg: Any, trial: optuna.Trial) -> dict[str, Any]:
    """The config's search space drawn for `trial` (`suggest_overlay`). Drawing again reads the same params
    back, so a search draws a batch's params before the batch runs, and the objective then reads them."""
    auxiliary = [t.name for t in cfg.tasks if t.role == "auxiliary"]
    return suggest_overlay(trial, cfg.search.space, cfg.task_names, cfg.search.fixed, auxiliary)


def _draw_auxiliary(trial: optuna.Trial, space: SearchSpace, name: str) -> float:
    if not trial.suggest_categorical(f"aux.{name}", [True, False]):
        return 0.0
    return trial.suggest_float(f"aux.{name}.weight", *space.auxiliary_weight, log=True)


def _draw(kind: str, name: str, trial: optuna.Trial, space: SearchSpace, tasks: list[str]) -> dict[str, Any]:
    return method_registry(kind)[name].suggest(MethodTrial(trial, name), space, tasks)


def check_space(space: SearchSpace, tasks: list[str]) -> None:
    """Fail before any training, naming the key: ranges must be (low, high) with low <= high (low > 0 on
    a log scale), the methods must exist, and each range a method draws from must lie within its bounds."""
    for key, value in space:
        if not isinstance(value, tuple):
            continue
        low, high = value
        if low > high or (key in space.log_scale and low <= 0):
            need = "0 < low <= high (log scale)" if key in space.log_scale else "low <= high"
            raise SearchSpaceError(f"search.space.{key}: [{low}, {high}]; allowed: {need}")
    if not space.batch_size:
        raise SearchSpaceError("search.space.batch_size: empty; allowed: a list of positive sizes or auto")

    for kind, key in KINDS.items():
        names = searched_methods(space, kind)
        registry = method_registry(kind)
        if not names:
            raise SearchSpaceError(f"search.space.{key}: empty; list at least one {kind} (or null for all)")
        unknown = sorted(set(names) - set(registry))
        if unknown:
            raise SearchSpaceError(f"search.space.{key}: unknown {kind} {unknown}; allowed: {sorted(registry)}")
        for name in names:
            _check_declared(kind, name, registry[name], space)


def _check_declared(kind: str, name: str, method: type[Method], space: SearchSpace) -> None:
    """The method's `search_space` names int/float params and ranges that exist, within its `bounds`."""
    types = typing.get_type_hints(method.Params)
    for param, spec in method.search_space.items():
        if types.get(param) not in (int, float):
            raise SearchSpaceError(f"{kind} {name}: search_space names {param!r}, not an int or float of its Params")
        if isinstance(spec, str) and not isinstance(getattr(space, spec, None), tuple):
            raise SearchSpaceError(f"{kind} {name}: search_space draws {param} from search.space.{spec}, no such range")
        low, high, log = resolve_range(spec, space)
        where = f"search.space.{spec}" if isinstance(spec, str) else f"{kind} {name}'s own range for {param}"
        if low > high or (log and low <= 0):
            raise SearchSpaceError(f"{where}: [{low}, {high}]; allowed: {'0 < ' if log else ''}low <= high")
        bound = method.bounds.get(param)
        if bound is not None and not (inside(low, bound) and inside(high, bound)):
            raise SearchSpaceError(f"{where}: [{low}, {high}]; {name} allows {allowed(param, bound)}")


def configured_params(cfg: Any) -> dict[str, Any]:
    """params.yaml's own model as Optuna params (the names `suggest_overlay` draws), for trial 0.

    Only values the space can hold are given (Optuna refuses a categorical choice outside its list);
    the trial trains the configured model whatever is recorded, so a value left out changes nothing.
    """
    space, fixed = cfg.search.space, cfg.search.fixed
    params: dict[str, Any] = {}
    for kind in KINDS:
        chosen = getattr(cfg.model, kind)
        if f"model.{kind}" in fixed or chosen.name not in searched_methods(space, kind):
            continue
        params[kind] = chosen.name
        method = method_registry(kind)[chosen.name]
        values = vars(method.coerce_params(dict(chosen.params)))
        for name, spec in method.search_space.items():
            low, high, _ = resolve_range(spec, space)
            if low <= values[name] <= high:
                params[f"{chosen.name}.{name}"] = values[name]
    for key in ("lr", "weight_decay"):
        low, high = getattr(space, key)
        if f"train.{key}" not in fixed and low <= getattr(cfg.train, key) <= high:
            params[key] = getattr(cfg.train, key)
    if "train.batch_size" not in fixed and cfg.train.batch_size in space.batch_size:
        params["batch_size"] = cfg.train.batch_size
    if "tasks.loss_weight" not in fixed:
        low, high = space.auxiliary_weight
        for task in (t for t in cfg.tasks if t.role == "auxiliary"):
            params[f"aux.{task.name}"] = task.loss_weight > 0
            if low <= task.loss_weight <= high:
                params[f"aux.{task.name}.weight"] = task.loss_weight
    return params
