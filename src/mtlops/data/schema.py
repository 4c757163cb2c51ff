"""Does a frame hold what the config declares? Column presence, feature kinds, and label encoding.

Ingest checks a new snapshot with it (so a bad file fails before anything is written) and prepare
checks the snapshot again (the config may have changed since). Messages name the file and column.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from mtlops.data.preprocess import SchemaError, category_strings, check_text, numeric_values
from mtlops.errors import DataError

if TYPE_CHECKING:
    from mtlops.config import Config, TaskConfig


def declared_columns(cfg: Config) -> list[tuple[str, list[str]]]:
    """(config key, columns) for every column the config names."""
    f, d = cfg.features, cfg.data
    return [
        ("data.key", list(d.key)),
        ("data.date_column", [d.date_column] if d.date_column else []),
        ("features.numeric", list(f.numeric)),
        ("features.categorical", list(f.categorical)),
        ("features.text", [f.text] if f.text else []),
        ("features.image", [f.image] if f.image else []),
        *((f"tasks.{i}.column", t.columns) for i, t in enumerate(cfg.tasks)),
    ]


def raw_columns(cfg: Config) -> list[str]:
    """Key, date, feature and label columns, each once, in that order."""
    return list(dict.fromkeys(c for _, cols in declared_columns(cfg) for c in cols))


def check_frame(df: pd.DataFrame, cfg: Config, origin: str) -> None:
    """Raise DataError (`origin: ...column...`) unless every declared column is there with the right kind."""
    for key, cols in declared_columns(cfg):
        for c in cols:
            if c not in df.columns:
                have = sorted(map(str, df.columns))
                shown = have if len(have) <= 30 else [*have[:30], "..."]
                raise DataError(f"{origin}: column {c!r} ({key}) is not in the data; columns: {shown}")
    try:
        for c in cfg.features.numeric:
            numeric_values(df[c], c)
        if cfg.features.text:
            check_text(df[cfg.features.text], cfg.features.text)
        for task in cfg.tasks:
            encode_labels(df, task)
    except SchemaError as err:
        raise SchemaError(f"{origin}: {err}") from None
    except DataError as err:
        raise DataError(f"{origin}: {err}") from None


def encode_labels(df: pd.DataFrame, task: TaskConfig) -> tuple[np.ndarray, np.ndarray]:
    """(y, mask) for one task in the data contract's dtypes; unlabelled rows hold 0 with mask False.

    binary: float32 0/1; regression: float32; multiclass: int64 index into `task.classes`;
    multi_regression: float32 [N, k], labelled only where every column is. A missing or
    non-finite value means "no label". Values of the wrong kind raise SchemaError naming the column.
    """
    where = f"(task {task.name!r})"
    if task.type == "multiclass":
        s = df[task.column]
        mask = s.notna().to_numpy()
        classes = category_strings(pd.Series(task.classes))
        idx = pd.Index(classes).get_indexer(category_strings(s))
        outside = mask & (idx < 0)
        if outside.any():
            bad = s[outside].iloc[0]
            bad = bad.item() if isinstance(bad, np.generic) else bad
            raise SchemaError(
                f"column {task.column!r} {where} has labels outside its classes {task.classes}, e.g. {bad!r}"
            )
        return np.where(mask, idx, 0).astype(np.int64), mask

    values = np.column_stack([numeric_values(df[c], c, f" {where}") for c in task.columns])
    mask = np.isfinite(values).all(axis=1)
    if task.type == "binary":
        bad = mask & (values[:, 0] != 0) & (values[:, 0] != 1)
        if bad.any():
            raise SchemaError(
                f"column {task.column!r} {where} must hold 0/1 labels, e.g. got {values[bad, 0][0]:g}"
            )
    y = np.where(mask[:, None], values, 0.0).astype(np.float32)
    return (y if task.type == "multi_regression" else y[:, 0]), mask
