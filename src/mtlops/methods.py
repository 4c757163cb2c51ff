"""Checks a sharing architecture's or weighting method's name and params against its own file.

Each method file declares a `Params` dataclass (stdlib, so the core stays torch + numpy only);
pydantic validates a params dict against it here, so a typo fails at config load, naming the key.
"""

from __future__ import annotations

import dataclasses
from typing import Any


def method_registry(kind: str) -> dict[str, type]:
    if kind == "architecture":
        from mtlops.models.architectures import ARCHITECTURES

        return ARCHITECTURES
    if kind == "weighting":
        from mtlops.weighting import WEIGHTINGS

        return WEIGHTINGS
    raise KeyError(kind)


def check_method_params(kind: str, name: str, params: dict[str, Any], task_names: list[str]) -> str | None:
    """None when fine, else one line naming the bad key and what is allowed."""
    from pydantic import ConfigDict, TypeAdapter, ValidationError

    registry = method_registry(kind)
    if name not in registry:
        return f"unknown {kind} {name!r}; allowed: {sorted(registry)}"
    params_cls = registry[name].Params
    fields = {f.name for f in dataclasses.fields(params_cls)}
    unknown = sorted(set(params) - fields)
    if unknown:
        return f"{name}: unknown params {unknown}; allowed: {sorted(fields)}"
    try:
        adapter = TypeAdapter(params_cls, config=ConfigDict(extra="forbid"))
    except Exception:  # pydantic refuses config on a dataclass that sets its own; validate plainly
        adapter = TypeAdapter(params_cls)
    try:
        adapter.validate_python(params)
    except ValidationError as err:
        e = err.errors()[0]
        loc = ".".join(str(p) for p in e["loc"])
        return f"{name}: params.{loc}: {e['msg']}"
    checker = getattr(registry[name], "check_params", None)
    if checker is not None:
        problem = checker(params, task_names)
        if problem:
            return f"{name}: {problem}"
    return None


def build_params(kind: str, name: str, params: dict[str, Any]) -> Any:
    """The method's Params dataclass filled from a (validated) params dict."""
    return method_registry(kind)[name].Params(**params)
