"""Ingest: the configured source → `data/raw/snapshot.parquet` + `data/raw/snapshot.json`.

The snapshot is checked against the config before anything is written, and both files replace the
previous snapshot together (one atomic folder swap), so a failed ingest leaves the old one intact.
`snapshot.json` records what was read (source, its options, rows, columns, date range), the
Parquet file's sha256, which lineage tags carry, and, for a source that reads a user's file (one
whose `record` gives it: the `file` source), that file's absolute path, sha256 and size as
`input_path`, `input_sha256`, `input_bytes` (null for the other sources).
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

import pandas as pd

from mtlops.data.contract import check_frame
from mtlops.errors import DataError

if TYPE_CHECKING:
    from mtlops.paths import Paths
    from mtlops.schema import Config


def ingest(cfg: Config, paths: Paths) -> dict[str, Any]:
    """Load the source, check it, write the raw snapshot; return snapshot.json's content."""
    from mtlops.data.sources import source_of
    from mtlops.io import atomic_dir

    source = source_of(cfg)
    before = source.record(cfg) or {}
    df = source.load(cfg)
    origin = source.origin(cfg)
    if before and source.record(cfg) != before:
        raise DataError(f"{origin}: the file changed while it was read; run ingest again when it is complete")
    if df.empty:
        raise DataError(f"{origin}: no rows")
    date_col = cfg.data.date_column
    if date_col and date_col in df.columns and not pd.api.types.is_datetime64_any_dtype(df[date_col]):
        try:
            df[date_col] = pd.to_datetime(df[date_col])
        except (ValueError, TypeError) as err:
            raise DataError(
                f"{origin}: column {date_col!r} (data.date_column) holds values that are not dates: {err}"
            ) from None
    check_frame(df, cfg, origin)

    with atomic_dir(paths.raw_dir) as tmp:
        parquet = tmp / paths.raw_snapshot.name
        try:
            df.to_parquet(parquet, index=False)
        except Exception as err:  # pyarrow: a column of mixed Python objects
            raise DataError(f"{origin}: cannot store the rows as Parquet: {err}") from None
        with parquet.open("rb") as fh:
            sha256 = hashlib.file_digest(fh, "sha256").hexdigest()
        meta = {
            "source": cfg.data.source,
            "origin": origin,
            "params": source.options(cfg).model_dump(mode="json"),
            "rows": len(df),
            "columns": {str(c): str(t) for c, t in df.dtypes.items()},
            "date_range": _date_range(df, date_col),
            "sha256": sha256,
            "bytes": parquet.stat().st_size,
            "input_path": before.get("path"),
            "input_sha256": before.get("sha256"),
            "input_bytes": before.get("bytes"),
        }
        (tmp / paths.raw_meta.name).write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def _date_range(df: pd.DataFrame, col: str | None) -> dict[str, str] | None:
    if not col or col not in df.columns or df[col].isna().all():
        return None
    return {"column": col, "min": str(df[col].min().date()), "max": str(df[col].max().date())}


def read_snapshot(paths: Paths) -> pd.DataFrame:
    """The raw snapshot's rows; a missing or broken file raises DataError saying what to run."""
    path = paths.raw_snapshot
    if not path.is_file():
        raise DataError(f"{path}: raw snapshot not found; run `mtlops ingest` first")
    try:
        return pd.read_parquet(path)
    except Exception as err:
        raise DataError(f"{path}: not a readable Parquet file: {err}") from None
