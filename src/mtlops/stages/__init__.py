"""One function per pipeline stage, in order. The CLI, dvc.yaml and the Prefect flow all call these.

Each stage is `(cfg, paths) -> dict` (a short JSON-able summary) and lives in its own package;
this module only names them and imports each lazily, so `mtlops --help` stays fast.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mtlops.paths import Paths
    from mtlops.schema import Config

# stage name -> "module:function"
STAGES: dict[str, str] = {
    "ingest": "mtlops.data.ingest:ingest",
    "validate": "mtlops.validation.run:validate",
    "prepare": "mtlops.data.prepare:prepare",
    "baselines": "mtlops.baselines.run:run_baselines",
    "search": "mtlops.search.run:search",
    "train": "mtlops.training.stage:train",
    "evaluate": "mtlops.evaluation.evaluate:evaluate",
    "register": "mtlops.registry.register:register",
    "promote": "mtlops.registry.promote:promote",
}
STAGE_NAMES = list(STAGES)


def stage_function(name: str) -> Callable[..., dict[str, Any]]:
    if name not in STAGES:
        raise KeyError(f"unknown stage {name!r}; stages: {STAGE_NAMES}")
    module, func = STAGES[name].split(":")
    return getattr(importlib.import_module(module), func)


def run_stage(name: str, cfg: Config, paths: Paths, **kwargs: Any) -> dict[str, Any]:
    """Run one stage in-process; the summary gains the stage's wall time."""
    start = time.perf_counter()
    summary = stage_function(name)(cfg, paths, **kwargs) or {}
    summary = dict(summary)
    summary.setdefault("stage", name)
    summary["seconds"] = round(time.perf_counter() - start, 3)
    return summary


def run_stages(cfg: Config, paths: Paths, names: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
    """Run stages in pipeline order (all by default); stops at the first failure (it raises)."""
    wanted = list(names) if names is not None else STAGE_NAMES
    unknown = [n for n in wanted if n not in STAGES]
    if unknown:
        raise KeyError(f"unknown stages {unknown}; stages: {STAGE_NAMES}")
    return {name: run_stage(name, cfg, paths) for name in STAGE_NAMES if name in wanted}
