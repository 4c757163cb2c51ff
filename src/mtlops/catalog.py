"""The method registries looked up by kind: "architecture" (`mtlops.models.architectures`) or
"weighting" (`mtlops.weighting`).

It sits above both registries, so `mtlops.methods` stays the base classes they build on. The
registries are imported inside the functions: they load torch, and importing this module must not.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from mtlops.schema import ConfigError

if TYPE_CHECKING:
    from mtlops.methods import Method
    from mtlops.schema import Config


def method_registry(kind: str) -> Mapping[str, type[Method]]:
    if kind == "architecture":
        from mtlops.models.architectures import ARCHITECTURES

        return ARCHITECTURES
    if kind == "weighting":
        from mtlops.weighting import WEIGHTINGS

        return WEIGHTINGS
    raise KeyError(kind)


def check_method_params(kind: str, name: str, params: dict[str, Any], task_names: list[str]) -> str | None:
    """None when fine, else one line naming the method, the bad key and what is allowed."""
    registry = method_registry(kind)
    if name not in registry:
        return f"unknown {kind} {name!r}; allowed: {sorted(registry)}"
    problem = registry[name].check_params(params, task_names)
    return f"{name}: {problem}" if problem else None


def check_methods(cfg: Config, source: str) -> None:
    """ConfigError (`source: model.<kind>: ...`) unless the architecture's and the weighting's names and
    params fit their own files' schemas; `source` is the params file, or "<overrides>" for an overlay."""
    for key, section in (("model.architecture", cfg.model.architecture), ("model.weighting", cfg.model.weighting)):
        problem = check_method_params(key.split(".")[1], section.name, section.params, cfg.task_names)
        if problem:
            raise ConfigError(f"{source}: {key}: {problem}")
