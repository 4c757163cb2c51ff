"""Small helpers for the validation tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd


def project(root: Path, params: dict[str, Any], overrides: dict[str, Any] | None = None):
    """(cfg, paths) in `root` from a params dict (schema-validated; no method or column checks)."""
    from mtlops.config import deep_merge
    from mtlops.paths import Paths
    from mtlops.schema import Config

    root.mkdir(parents=True, exist_ok=True)
    return Config.model_validate(deep_merge(params, overrides or {})), Paths.at(root)


def write_snapshot(paths, df: pd.DataFrame) -> Path:
    paths.raw_dir.mkdir(parents=True, exist_ok=True)
    df.to_parquet(paths.raw_snapshot, index=False)
    return paths.raw_snapshot
