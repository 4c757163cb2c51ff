"""The config checks that need more than the schema: the data source, its columns, the methods, and
what a later stage would refuse.

`mtlops.config` reads and validates the YAML against the schema alone; this module sits above the
data, methods, search and training layers it asks. `load_checked` is what the CLI, the flow and
anything else that takes a user's params file call: the file read, validated, then `check_config`:

- the source exists and the declared columns are in its data;
- each architecture's and weighting's params fit that method's own `Params` (`mtlops.catalog`);
- the checks a later stage makes on the config alone: split dates, the search space, budget and
  storage, the training device's spelling.

`preflight` adds those that cost seconds or depend on the machine (the extra GX expectations, the
split cut on the source's dates: no part left empty, is the device here); `mtlops check` and `mtlops
run` call it before any stage runs. Every mistake fails with
one line naming the key and what is allowed, prefixed by `source` (the params file).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mtlops.catalog import check_methods
from mtlops.config import load_config
from mtlops.errors import UserError
from mtlops.schema import Config, ConfigError

__all__ = ["check_config", "load_checked", "preflight"]


def load_checked(path: str | Path = "params.yaml", overrides: dict[str, Any] | None = None) -> Config:
    """`load_config` (read, overrides merged in, schema) then `check_config`, its messages naming the file."""
    cfg = load_config(path, overrides)
    check_config(cfg, str(Path(path)))
    return cfg


def check_config(cfg: Config, source: str = "<config>") -> None:
    """Raise ConfigError (`source: key: ...`) on the first thing the schema alone cannot see."""
    check_methods(cfg, source)
    _check_source(cfg, source)
    _check_columns(cfg, source)
    _check_stages(cfg, source)


def _check_source(cfg: Config, source: str) -> None:
    from mtlops.data.sources import SOURCES

    if cfg.data.source not in SOURCES:
        raise ConfigError(f"{source}: data.source: got {cfg.data.source!r}; allowed: {sorted(SOURCES)}")


def _check_columns(cfg: Config, source: str) -> None:
    """Every declared column must be among the data's columns (known per source, or read from the file)."""
    from mtlops.data.sources import source_of

    data = source_of(cfg)
    try:
        data.options(cfg)  # an example source's `data.options`, checked by its own model
        available = data.columns(cfg)
    except (OSError, ValueError) as err:
        raise ConfigError(f"{source}: data: {err}") from None
    if available is None:
        return
    roles = [(key, cols) for key, cols in cfg.columns_by_role() if not key.startswith("tasks.")]
    roles += [(f"validation.{key}", list(getattr(cfg.validation, key))) for key in ("ranges", "null_fraction")]
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


def _check_stages(cfg: Config, source: str) -> None:
    """Every check a later stage makes on the config alone, so `check` and `run` make them first.

    The split's dates (prepare), the search space, budget and storage (search), the training device's
    spelling (baselines, search, train). Cheap, so every checked load makes them; see `preflight` for the rest.
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


def _check_split(cfg: Config, source: str) -> None:
    """The split cut on the source's rows (their dates alone, where the source can read just those): a part
    left empty (e.g. `split.test_days: 400` on a year of data) fails here, naming the keys, not at prepare."""
    from mtlops.data.sources import source_of
    from mtlops.data.splits import split_frame
    from mtlops.errors import DataError

    try:
        rows = source_of(cfg).split_rows(cfg)
    except DataError:
        return  # rows that can't be read are ingest's to report, as a stage error naming the file
    try:
        split_frame(rows, cfg)
    except DataError as err:
        raise ConfigError(f"{source}: {err}") from None


def preflight(cfg: Config, source: str = "<config>", split: bool = True) -> str:
    """What `check` and `run` add to a checked load before the first stage; returns the device training will use.

    `split=False` leaves the split to prepare: a run with a cut-off reads other rows than the params file
    names now (a month of a replay whose data is all validation and test fails there, recorded, not here).

    The extra GX expectations must build (validate's check; GX takes seconds to import, so not at
    every load), and `train.device` and the worker counts must fit this machine (not at every load
    either: a CPU box may still serve or inspect a GPU-trained config).
    """
    from mtlops.parallel import resolve_workers
    from mtlops.training.device import resolve_device

    if split:
        _check_split(cfg, source)
    resolve_workers(cfg.resources.workers)  # TooManyWorkers naming the key before any stage
    resolve_workers(cfg.search.workers, "search.workers")

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
