"""Small projects for the data-layer tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from mtlops.config import with_overrides

REPO = Path(__file__).resolve().parents[2]


def flights_project(root: Path, overrides: dict[str, Any] | None = None):
    """The repo's params.yaml (flights) narrowed to the first week of 2013, in `root`: (cfg, paths)."""
    from mtlops.config import deep_merge, load_config
    from mtlops.paths import Paths

    params = yaml.safe_load((REPO / "params.yaml").read_text())
    week = {
        "data": {"flights": {"start": "2013-01-01", "end": "2013-01-07"}},
        "split": {"val_days": 2, "test_days": 2},
        "validation": {"min_rows": 10},
    }
    params = deep_merge(deep_merge(params, week), overrides or {})
    root.mkdir(parents=True, exist_ok=True)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return load_config(root / "params.yaml"), Paths.at(root)


def config_of(params: dict[str, Any], overrides: dict[str, Any] | None = None):
    """A validated Config straight from a dict (schema only: no method or column checks)."""
    from mtlops.config import deep_merge
    from mtlops.schema import Config

    return Config.model_validate(deep_merge(params, overrides or {}))


def with_classes(cfg, task: str, classes: list[Any]):
    """A copy of `cfg` whose multiclass `task` declares other classes."""
    tasks = [{**t.model_dump(), **({"classes": classes} if t.name == task else {})} for t in cfg.tasks]
    return with_overrides(cfg, {"tasks": tasks})


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*")) if folder.exists() else []
