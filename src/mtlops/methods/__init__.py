"""Sharing architectures and task weightings as one kind of thing: a name in a registry, a file behind `Method`.

`base` is the floor the method files stand on (no registry there); this module looks methods up
in the registries, so the config loader checks a method's name and params against its own file.
"""

from __future__ import annotations

from typing import Any

from mtlops.methods.base import Above, Method, NoParams, Range

__all__ = ["Above", "Method", "NoParams", "Range", "check_method_params", "method_registry"]


def method_registry(kind: str) -> dict[str, type[Method]]:
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
