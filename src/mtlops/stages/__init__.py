"""The pipeline's stages, in order. Stage `<name>` is the module `mtlops.stages.<name>`.

Each stage module is a thin entry point, `run(cfg, paths, ...) -> dict` (a short JSON-able summary):
its docstring says what the stage reads and writes, and it calls into the domain package that does
the work. The CLI (`mtlops <name>`), dvc.yaml (`cmd: mtlops <name>`) and the Prefect flow all reach a
stage through `run_stage`. Modules are imported only when their stage runs, so `mtlops --help` stays fast.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mtlops.paths import Paths
    from mtlops.schema import Config

STAGE_NAMES: tuple[str, ...] = (
    "ingest", "validate", "prepare", "baselines", "search", "grouping", "train", "evaluate", "register", "promote",
)  # fmt: skip


def stage_function(name: str) -> Callable[..., dict[str, Any]]:
    """The `run` function of stage `name`."""
    if name not in STAGE_NAMES:
        raise KeyError(f"unknown stage {name!r}; stages: {list(STAGE_NAMES)}")
    return importlib.import_module(f"{__name__}.{name}").run


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
    wanted = list(names) if names is not None else list(STAGE_NAMES)
    unknown = [n for n in wanted if n not in STAGE_NAMES]
    if unknown:
        raise KeyError(f"unknown stages {unknown}; stages: {list(STAGE_NAMES)}")
    return {name: run_stage(name, cfg, paths) for name in STAGE_NAMES if name in wanted}
