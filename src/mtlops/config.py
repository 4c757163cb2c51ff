"""Reading and writing params.yaml: the only code that touches the YAML.

`load_config` parses the file and validates it against the schema (`mtlops.schema`); every mistake
fails with one line naming the key and what is allowed. That is all it checks, so reading a config
loads neither torch nor the data: what needs the data source, the method registries or a later
stage's rules is `mtlops.checks` (`load_checked`, what the CLI and the flow call). `with_overrides`
validates an overlay against the schema the same way (search trials, best params); `set_value`
rewrites one key in place, comments kept.

A relative `data.file.path` is relative to the params file's folder, always (never the current
directory): the loaded `Config` remembers that folder (`cfg.params_dir`).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from pydantic import BaseModel, ValidationError

from mtlops.schema import Config, ConfigError

__all__ = [
    "Config", "ConfigError", "deep_merge", "load_config", "read_section", "read_sections", "set_value",
    "with_overrides",
]  # fmt: skip


def deep_merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """`overlay` merged into a copy of `base`; a method's `params` is replaced whole, not merged. A mapping
    laid over a list of named items (`tasks`) changes the items it names: `{"tasks": {"aux": {"loss_weight": 0}}}`."""
    out = copy.deepcopy(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key != "params":
            out[key] = deep_merge(out[key], value)
        elif isinstance(value, dict) and _named_items(out.get(key)):
            unknown = sorted(set(value) - {item["name"] for item in out[key]})
            if unknown:
                raise ConfigError(f"<overrides>: {key}: no items named {unknown}")
            out[key] = [deep_merge(item, value[item["name"]]) if item["name"] in value else item for item in out[key]]
        else:
            out[key] = copy.deepcopy(value)
    return out


def _named_items(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(i, dict) and "name" in i for i in value)


def with_overrides(cfg: Config, overlay: dict[str, Any]) -> Config:
    """A copy of `cfg` with `overlay` deep-merged in and validated against the schema again (paths still
    relative to its file); `mtlops.catalog.check_methods` checks an overlay's methods."""
    return validate(deep_merge(cfg.model_dump(mode="json"), overlay), source="<overrides>", params_dir=cfg._params_dir)


def validate(data: dict[str, Any], source: str, params_dir: Path | None = None) -> Config:
    """A raw mapping → a checked `Config`; `source` (the file, or "<overrides>") prefixes every message.

    `params_dir`: the folder relative data paths are resolved against (the params file's).
    """
    try:
        cfg = Config.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_format_error(err, source)) from None
    cfg._params_dir = params_dir
    return cfg


# ------------------------------------------------------------------------------------------ the file
def _read_mapping(path: Path) -> dict[str, Any]:
    import yaml

    try:
        text = path.read_text()
    except OSError as err:
        raise ConfigError(f"{path}: cannot read params file: {err.strerror or err}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def load_config(path: str | Path = "params.yaml", overrides: dict[str, Any] | None = None) -> Config:
    """Read a params file and validate it against the schema; `overrides` (a nested dict) is merged in first."""
    path = Path(path)
    data = _read_mapping(path)
    if overrides:
        data = deep_merge(data, overrides)
    return validate(data, source=str(path), params_dir=path.resolve().parent)


def read_section(path: str | Path, name: str) -> Any:  # the section's model: its class depends on `name`
    """One top-level section, checked against its schema alone (defaults filled): for commands that
    need a key or two (the model name) and nothing else of the file."""
    try:
        section = cast(type[BaseModel], Config.model_fields[name].annotation)  # every section is a model
        return section.model_validate(_read_mapping(Path(path)).get(name) or {})
    except ValidationError as err:
        raise ConfigError(_format_error(err, f"{path}: {name}")) from None


def read_sections(path: str | Path) -> set[str]:
    """The top-level sections the file writes out (DVC tracks sections and refuses absent ones)."""
    return set(_read_mapping(Path(path)))


def set_value(
    path: str | Path, key: str, value: Any, check: Callable[[Config, str], None] | None = None
) -> Config:
    """Set the dotted `key` (e.g. "data.flights.end") in the file, comments and quotes kept; atomic.

    The file is validated (and `check(cfg, source)` run, e.g. `mtlops.checks.check_config`) before it
    is replaced: a value that breaks it leaves the file as it was.
    """
    from ruamel.yaml import YAML

    from mtlops.io import atomic_path

    path = Path(path)
    yaml = YAML()
    yaml.preserve_quotes = True
    data = yaml.load(path.read_text())
    node = data
    *parents, last = key.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
    with atomic_path(path) as tmp:
        with tmp.open("w") as fh:
            yaml.dump(data, fh)
        cfg = load_config(tmp)
        if check is not None:
            check(cfg, str(tmp))
    return cfg


# ------------------------------------------------------------------------------------------- errors
def _format_error(err: ValidationError, source: str) -> str:
    lines = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "<root>"
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown key"
            parent = _parent_model(e["loc"])
            if parent is not None:
                msg += f"; allowed: {sorted(parent.model_fields)}"
        elif e["type"] == "literal_error" and "ctx" in e:
            msg = f"got {e.get('input')!r}; allowed: {e['ctx'].get('expected')}"
        elif not isinstance(e.get("input"), (dict, list)) and "input" in e:
            msg = f"{msg} (got {e['input']!r})"
        lines.append(f"{source}: {loc}: {msg}")
    return "\n".join(lines)


def _parent_model(loc: tuple) -> type[BaseModel] | None:
    model: Any = Config
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return None
        ann = field.annotation
        args = getattr(ann, "__args__", ())
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            model = ann
        elif args and isinstance(args[0], type) and issubclass(args[0], BaseModel):
            model = args[0]
        else:
            return None
    return model
