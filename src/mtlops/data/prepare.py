"""Prepare: raw snapshot → splits → preprocessor fitted on train → `data/processed/`.

Writes, all in one atomic folder swap (a failure leaves the previous outputs whole):
`{train,val,test}.npz` (features + `y_<task>` + `mask_<task>`, dtypes per CONTRIBUTING.md),
`preprocessor.json`, `meta.json`, and `test_raw.parquet` (the test split's raw key, date, feature and
label columns: the promotion gate re-scores the serving model on them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from mtlops.data.contract import check_frame, encode_labels, raw_columns, split_label_problem
from mtlops.data.splits import PARTS
from mtlops.errors import DataError
from mtlops.task_types import task_type

if TYPE_CHECKING:
    from mtlops.paths import Paths
    from mtlops.schema import Config, TaskConfig


def task_meta(task: TaskConfig) -> dict[str, Any]:
    """`meta.json["tasks"][name]`: what models, losses and metrics need to know about a task."""
    return {
        "type": task.type,
        "column": task.column,
        **task_type(task.type).meta(task),
        "loss": task.loss,
        "pos_weight": task.pos_weight,
        "metric": task.metric,
        "higher_is_better": task.higher_is_better,
        "classes": list(task.classes) if task.classes is not None else None,
    }


def prepare(cfg: Config, paths: Paths) -> dict[str, Any]:
    """Split, fit, transform and write the processed data; return a short summary."""
    from mtlops.data.ingest import read_snapshot
    from mtlops.data.preprocess import Preprocessor
    from mtlops.data.splits import split_frame
    from mtlops.io import atomic_dir, read_json, write_json

    df = read_snapshot(paths)
    origin = str(paths.raw_snapshot)
    check_frame(df, cfg, origin)
    parts, split_info = split_frame(df, cfg)

    label_rate: dict[str, dict[str, float]] = {}
    arrays: dict[str, dict[str, np.ndarray]] = {}
    for part, rows in parts.items():
        arrays[part] = {}
        label_rate[part] = {}
        for task in cfg.tasks:
            y, mask = encode_labels(rows, task)
            problem = split_label_problem(task, y, mask, cfg.validation.min_labels)
            if problem:
                raise DataError(
                    f"{origin}: column {task.column!r} (task {task.name!r}), {part} split of {len(rows)} rows: "
                    f"{problem}; widen the data or change the split"
                )
            arrays[part][f"y_{task.name}"], arrays[part][f"mask_{task.name}"] = y, mask
            label_rate[part][task.name] = round(float(mask.mean()), 6)
    try:
        train_labels = {n: (arrays["train"][f"y_{n}"], arrays["train"][f"mask_{n}"]) for n in cfg.task_names}
        pre = Preprocessor.fit(parts["train"], cfg, labels=train_labels)  # labels: tree bins only
        for part, rows in parts.items():
            arrays[part] = pre.transform(rows) | arrays[part]  # features first, then labels
    except DataError as err:  # SchemaError too: a feature's values the model cannot take, by column
        raise type(err)(f"{origin}: {err}") from None

    snapshot = read_json(paths.raw_meta) if paths.raw_meta.is_file() else {}
    meta = {
        "inputs": pre.inputs_meta(),
        "tasks": {t.name: task_meta(t) for t in cfg.tasks},
        "rows": {p: len(parts[p]) for p in PARTS},
        "label_rate": label_rate,
        "split": split_info,
        "key": list(cfg.data.key),
        "date_column": cfg.data.date_column,
        "snapshot_sha256": snapshot.get("sha256"),
    }
    with atomic_dir(paths.processed_dir) as tmp:
        for part in PARTS:
            np.savez(tmp / paths.split_arrays(part).name, **arrays[part])  # type: ignore[arg-type]  # numpy's stub: a key could be allow_pickle
        pre.save(tmp / paths.preprocessor.name)
        parts["test"][raw_columns(cfg)].to_parquet(tmp / paths.test_raw.name, index=False)
        write_json(tmp / paths.processed_meta.name, meta)
    return {"rows": meta["rows"], "inputs": meta["inputs"], "label_rate": label_rate, "split": split_info}


def load_split(paths: Paths, split: str) -> dict[str, np.ndarray]:
    """One split's arrays (features, `y_<task>`, `mask_<task>`), fully loaded."""
    if split not in PARTS:
        raise ValueError(f"split must be one of {PARTS}, got {split!r}")
    path = paths.split_arrays(split)
    if not path.is_file():
        raise DataError(f"{path}: processed data not found; run `mtlops prepare` first")
    with np.load(path) as npz:
        return {k: npz[k] for k in npz.files}


def load_meta(paths: Paths) -> dict[str, Any]:
    """meta.json: inputs, tasks, rows, label rates and how the data was split."""
    from mtlops.io import read_json

    try:
        return read_json(paths.processed_meta, what="processed meta")
    except FileNotFoundError as err:
        raise DataError(f"{err}") from None
