"""Reading and writing params.yaml: the only code that touches the YAML.

`load_config` parses the file, validates it against the schema (`mtlops.schema`) and then checks
what the schema alone cannot know: the data source exists, the declared columns are in its data,
and each architecture's and weighting's params fit that method's own `Params`. It then runs the
checks a later stage would make on the config alone (`check_stages`: split dates, the search space
and budget, the training device's name); `preflight` adds those that cost seconds or depend on the
machine (the extra GX expectations, is the device here), and `mtlops check` and `mtlops run` call
it before any stage runs. Every mistake fails with one line naming the key and what is allowed. `with_overrides`
validates an overlay the same way (search trials, best params); `set_value` rewrites one key in
place, comments kept.

A relative `data.file.path` is relative to the params file's folder, always (never the current
directory): the loaded `Config` remembers that folder (`cfg.params_dir`).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from mtlops.errors import UserError
from mtlops.schema import Config, ConfigError

__all__ = [
    "Config", "ConfigError", "check_stages", "deep_merge", "load_config", "preflight", "read_section",
    "read_sections", "set_value", "with_overrides",
]  # fmt: skip


def deep_merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """`overlay` merged into a copy of `base`; a method's `params` is replaced whole, not merged."""
    out = copy.deepcopy(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key != "params":
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def with_overrides(cfg: Config, overlay: dict[str, Any]) -> Config:
    """A copy of `cfg` with `overlay` deep-merged in and validated again (paths still relative to its file)."""
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
    _check_methods(cfg, source)
    _check_source(cfg, source)
    _check_columns(cfg, source)
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
    """Read and validate a params file; `overrides` (a nested dict) is merged in before validation."""
    path = Path(path)
    data = _read_mapping(path)
    if overrides:
        data = deep_merge(data, overrides)
    cfg = validate(data, source=str(path), params_dir=path.resolve().parent)
    check_stages(cfg, str(path))
    return cfg


def read_section(path: str | Path, name: str) -> BaseModel:
    """One top-level section, checked against its schema alone (defaults filled): for commands that
    need a key or two (the model name) and none of the data or method checks of `load_config`."""
    try:
        return Config.model_fields[name].annotation.model_validate(_read_mapping(Path(path)).get(name) or {})
    except ValidationError as err:
        raise ConfigError(_format_error(err, f"{path}: {name}")) from None


def read_sections(path: str | Path) -> set[str]:
    """The top-level sections the file writes out (DVC tracks sections and refuses absent ones)."""
    return set(_read_mapping(Path(path)))


def set_value(path: str | Path, key: str, value: Any) -> Config:
    """Set the dotted `key` (e.g. "data.flights.end") in the file, comments and quotes kept; atomic.

    The file is validated before it is replaced: a value that breaks it leaves the file as it was.
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
    return cfg


# ------------------------------------------------------------------------------------------- checks
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


def _check_methods(cfg: Config, source: str) -> None:
    """Architecture and weighting names and params are checked against their own files' schemas."""
    from mtlops.methods import check_method_params

    for key, section in (("model.architecture", cfg.model.architecture), ("model.weighting", cfg.model.weighting)):
        problem = check_method_params(key.split(".")[1], section.name, section.params, cfg.task_names)
        if problem:
            raise ConfigError(f"{source}: {key}: {problem}")


def _check_source(cfg: Config, source: str) -> None:
    from mtlops.data.sources import SOURCES

    if cfg.data.source not in SOURCES:
        raise ConfigError(f"{source}: data.source: got {cfg.data.source!r}; allowed: {sorted(SOURCES)}")


def _check_columns(cfg: Config, source: str) -> None:
    """Every declared column must be among the data's columns (known per source, or read from the file)."""
    from mtlops.data.sources import available_columns

    try:
        available = available_columns(cfg)
    except (OSError, ValueError) as err:
        raise ConfigError(f"{source}: data: {err}") from None
    if available is None:
        return
    roles = [(key, cols) for key, cols in cfg.columns_by_role() if not key.startswith("tasks.")]
    for key, cols in sorted(roles, key=lambda role: role[0].startswith("data.")):  # features first
        missing = [c for c in cols if c not in available]
        if missing:
            raise ConfigError(f"{source}: {key}: columns {missing} are not in the data{_near(missing, available)}; "
                              f"available: {sorted(available)}")
    for i, task in enumerate(cfg.tasks):
        missing = [c for c in task.columns if c not in available]
        if missing:
            raise ConfigError(f"{source}: tasks.{i}.column: {missing} (task {task.name!r}) not in the data"
                              f"{_near(missing, available)}; available: {sorted(available)}")


def _near(missing: list[str], available: set[str]) -> str:
    """A hint for a column the data spells with other case or spaces (' Age' for 'age')."""
    from mtlops.columns import same_name

    close = [c for c in sorted(available) if any(same_name(c, m) for m in missing)]
    return f" (the data has {close}: names must match exactly)" if close else ""


# ------------------------------------------------------------------------------ what later stages check
def check_stages(cfg: Config, source: str = "<config>") -> None:
    """Every check a later stage makes on the config alone, run at load time (so by `check` and `run` first).

    The split's dates (prepare), the search space, budget and storage (search), the training device's
    spelling (baselines, search, train). Cheap, so every load makes them; see `preflight` for the rest.
    """
    from mtlops.data.splits import parse_day
    from mtlops.search.space import check_space
    from mtlops.search.storage import check_workers

    s = cfg.search
    try:
        for key in ("val_start", "test_start"):
            if getattr(cfg.split, key):
                parse_day(getattr(cfg.split, key), f"split.{key}")
        if s.enabled:
            check_space(s.space, cfg.task_names)
            if s.n_trials is None and s.timeout_s is None:
                raise ConfigError("search: n_trials and timeout_s are both null; set at least one budget")
            check_workers(s.storage or "", s.workers)
        _check_device_name(cfg.train.device)
    except UserError as err:
        raise ConfigError(f"{source}: {err}") from None


def _check_device_name(device: str) -> None:
    import torch

    if device != "auto":
        try:
            torch.device(device)
        except RuntimeError:
            raise ConfigError(f"train.device: {device!r} is not a torch device; use auto, cpu, cuda, cuda:1, mps"
                              ) from None


def preflight(cfg: Config, source: str = "<config>") -> str:
    """What `check` and `run` add to a load before the first stage; returns the device training will use.

    The extra GX expectations must build (validate's check; GX takes seconds to import, so not at
    every load) and `train.device` must be on this machine (not at every load either: a CPU box may
    still serve or inspect a GPU-trained config).
    """
    from mtlops.training.device import resolve_device

    if cfg.validation.enabled and cfg.validation.expectations:
        from mtlops.validation.suite import extra_expectation

        for i, spec in enumerate(cfg.validation.expectations):
            try:
                extra_expectation(i, spec)
            except ConfigError as err:
                raise ConfigError(f"{source}: {err}") from None
    try:
        return str(resolve_device(cfg.train.device))
    except ValueError as err:
        raise ConfigError(f"{source}: {err}") from None
