"""The contract between the config and a data frame: column presence, feature kinds, label encoding.

Ingest checks a new snapshot with it (so a bad file fails before anything is written) and prepare
checks the snapshot again (the config may have changed since). Messages name the file and column.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from mtlops.columns import SchemaError, check_names, check_text, numeric_values
from mtlops.errors import DataError
from mtlops.task_types import task_type

if TYPE_CHECKING:
    from mtlops.schema import Config, TaskConfig


def declared_keys(cfg: Config) -> dict[str, str]:
    """Every declared column → the config key that declares it (the first, for a key that is also a feature)."""
    out: dict[str, str] = {}
    for key, cols in cfg.columns_by_role():
        for c in cols:
            out.setdefault(c, key)
    return out


def raw_columns(cfg: Config) -> list[str]:
    """Key, date, feature and label columns, each once, in that order."""
    return list(dict.fromkeys(c for _, cols in cfg.columns_by_role() for c in cols))


def check_frame(df: pd.DataFrame, cfg: Config, origin: str) -> None:
    """Raise DataError (`origin: ...column...`) unless every declared column is there, once, with the right kind."""
    check_names(list(df.columns), declared_keys(cfg), origin)
    for key, cols in cfg.columns_by_role():
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
    """(y, mask) for one task in the data contract's dtypes (its task type's encoding).

    Unlabelled rows hold 0 with mask False; values of the wrong kind raise SchemaError naming the column.
    """
    return task_type(task.type).encode_labels(df, task)


def split_label_problem(task: TaskConfig, y: np.ndarray, mask: np.ndarray, min_labels: int) -> str | None:
    """Why one split's labels of a task cannot be trained on or judged, or None.

    Fewer labelled rows than `validation.min_labels` leave its metric noise; a classification task
    with one class has no ROC AUC, no baseline and nothing a gate could compare.
    """
    n = int(mask.sum())
    if n < min_labels:
        return f"{n} labelled rows, fewer than validation.min_labels = {min_labels}"
    if task_type(task.type).classification:
        classes = np.unique(y[mask])
        if classes.size < 2:
            return f"one class only ({classes[0].item()!r} in all {n} labelled rows)"
    return None
