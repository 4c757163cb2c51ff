"""The base of every sharing architecture and task weighting: its params, their checks, its search space.

A method file declares, next to its class:
- `Params`: a stdlib dataclass of simple types (int, float, bool, list[int], dict[str, float]), so the
  modeling core stays torch + numpy only; `coerce_params` is the one way a dict becomes one;
- `bounds`: the ranges pydantic's type check misses, field -> (lowest, highest or None);
- `search_space`: the params the search draws, each from a shared range of params.yaml's
  `search.space` (by name, e.g. "width") or from its own `Range`; in order, since the order of the
  draws is what a seeded sampler replays.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass
class NoParams:
    """A method without parameters."""


@dataclass(frozen=True)
class Above:
    """An exclusive lower bound: `(Above(0.0), None)` allows every value > 0."""

    value: float


@dataclass(frozen=True)
class Range:
    """A searched param's own range (a shared one is named by its key in `search.space` instead)."""

    low: float
    high: float
    log: bool = False


Bound = tuple["float | Above", "float | None"]


class Method:
    """Base of `Architecture` and `Weighting`: class-level declarations and the checks and draws built on them."""

    Params: ClassVar[type] = NoParams
    # field -> (lowest, highest or None), both allowed (`Above(x)` as the lowest: above x); the value of
    # a list or dict field is checked item by item
    bounds: ClassVar[dict[str, Bound]] = {}
    # param -> the name of a range in params.yaml `search.space` (e.g. "width") or its own `Range`
    search_space: ClassVar[dict[str, str | Range]] = {}
    # in the search when `search.space.architectures` / `weightings` is null (False: only when listed)
    default_search: ClassVar[bool] = True

    @classmethod
    def coerce_params(cls, params: Any = None) -> Any:
        """`Params` from a dict, a `Params` or None (the defaults)."""
        if params is None:
            return cls.Params()
        if isinstance(params, dict):
            return cls.Params(**params)
        return params

    @classmethod
    def check_params(cls, params: dict[str, Any], task_names: list[str]) -> str | None:
        """None when `params` fit this method, else one line naming the key and what is allowed.

        On a bare GPU box (torch + numpy, no pydantic) the type check is left to where the config was read;
        the bounds and `check_more` still run, so a model file or a DDP worker builds there too.
        """
        fields = {f.name for f in dataclasses.fields(cls.Params)}
        unknown = sorted(set(params) - fields)  # named here: pydantic takes no `extra` config for a dataclass
        if unknown:
            return f"unknown params {unknown}; allowed: {sorted(fields)}"
        try:
            from pydantic import TypeAdapter, ValidationError
        except ImportError:
            p = cls.Params(**params)
        else:
            try:
                p = TypeAdapter(cls.Params).validate_python(params)
            except ValidationError as err:
                e = err.errors()[0]
                loc = ".".join(str(part) for part in e["loc"])
                return f"params.{loc}: {e['msg']}"
        for name, bound in cls.bounds.items():
            problem = _out_of_bounds(name, getattr(p, name), bound)
            if problem:
                return problem
        return cls.check_more(p, task_names)

    @classmethod
    def check_more(cls, params: Any, task_names: list[str]) -> str | None:
        """Checks a table cannot say (across fields, or against the task names); None when fine."""
        return None

    @classmethod
    def suggest(cls, trial: Any, space: Any, tasks: list[str]) -> dict[str, Any]:
        """Draw each param of `search_space`, in order, from its range (int or float as its `Params` field).

        `trial` names each param with this method's prefix, `space` is params.yaml's `search.space`.
        Override this for a space a table cannot say (a param per task, a range that depends on another).
        """
        types = typing.get_type_hints(cls.Params)
        drawn: dict[str, Any] = {}
        for name, spec in cls.search_space.items():
            low, high, log = resolve_range(spec, space)
            suggest = trial.suggest_int if types[name] is int else trial.suggest_float
            drawn[name] = suggest(name, low, high, log=log)
        return drawn


def resolve_range(spec: str | Range, space: Any) -> tuple[float, float, bool]:
    """(low, high, log) of a `search_space` entry: a shared range of `search.space` or the method's own."""
    if isinstance(spec, str):
        low, high = getattr(space, spec)
        return low, high, spec in space.log_scale
    return spec.low, spec.high, spec.log


def inside(value: Any, bound: Bound) -> bool:
    """Whether `value` lies within `bound` (NaN never does)."""
    low, high = bound
    above_low = value > low.value if isinstance(low, Above) else value >= low
    return bool(above_low and (high is None or value <= high))


def allowed(field: str, bound: Bound) -> str:
    """The bound in words: "dropout >= 0.0", "0.0 <= dropout <= 0.95", "temperature > 0.0"."""
    low, high = bound
    lowest, op = (low.value, "<") if isinstance(low, Above) else (low, "<=")
    if high is None:
        return f"{field} {'>' if op == '<' else '>='} {lowest}"
    return f"{lowest} {op} {field} <= {high}"


def _out_of_bounds(name: str, value: Any, bound: Bound) -> str | None:
    """One line naming the key, the value and the allowed range; None when every value is inside."""
    if isinstance(value, (dict, list)):
        items = value.items() if isinstance(value, dict) else enumerate(value)
        return next((p for key, item in items if (p := _out_of_bounds(f"{name}[{key!r}]", item, bound))), None)
    if inside(value, bound):
        return None
    return f"params.{name} = {value!r}; allowed: {allowed(name.split('[')[0], bound)}"
