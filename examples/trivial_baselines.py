"""Does a finished run beat the trivial predictor on every task? Prints one row per task.

The trivial predictor knows only the training split's labels: the class frequencies (so its
accuracy is the majority class's), the positive rate, or the mean value / mean box. It is scored
on the test split with the same metrics as the multi-task model (`reports/metrics.json`).

    .venv/bin/python examples/trivial_baselines.py examples/digits_boxes/params.yaml
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np


def trivial_prediction(task_type: str, y: np.ndarray, mask: np.ndarray, n: int, n_classes: int | None) -> np.ndarray:
    """The training labels' summary, repeated for `n` rows, in `mtlops.training.predict`'s format."""
    y = y[mask]
    if task_type == "multiclass":
        freq = np.bincount(y, minlength=n_classes) / max(len(y), 1)
        return np.tile(freq, (n, 1))
    if task_type == "multi_regression":
        return np.tile(y.mean(axis=0), (n, 1))
    return np.full(n, float(y.mean()))


def compare(params_file: str | Path) -> list[dict]:
    from mtlops.checks import load_checked
    from mtlops.data.prepare import load_meta, load_split
    from mtlops.metrics.per_task import task_metrics
    from mtlops.io import read_json
    from mtlops.paths import Paths

    cfg = load_checked(params_file)
    paths = Paths.at(Path(params_file).resolve().parent)
    meta, train, test = load_meta(paths), load_split(paths, "train"), load_split(paths, "test")
    report = read_json(paths.metrics, "metrics")
    rows = []
    for task in cfg.tasks:
        t = task.name
        pred = trivial_prediction(
            task.type, train[f"y_{t}"], train[f"mask_{t}"], len(test[f"y_{t}"]), meta["tasks"][t].get("n_classes")
        )
        trivial = task_metrics(task, test[f"y_{t}"], pred, test[f"mask_{t}"])[task.metric]
        entry = report["tasks"][t]
        mtl, stl = entry["mtl"][task.metric], (entry.get("stl") or {}).get(task.metric)
        better = mtl > trivial if task.higher_is_better else mtl < trivial
        rows.append({"task": t, "metric": task.metric, "trivial": trivial, "mtl": mtl, "stl": stl, "beats_trivial": better})
    return rows


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__)
        return 2
    rows = compare(argv[0])
    print(f"{'task':<12} {'metric':<9} {'trivial':>8} {'STL':>8} {'MTL':>8}  beats trivial")
    for r in rows:
        stl = f"{r['stl']:8.4f}" if r["stl"] is not None else f"{'-':>8}"
        print(f"{r['task']:<12} {r['metric']:<9} {r['trivial']:8.4f} {stl} {r['mtl']:8.4f}  {r['beats_trivial']}")
    return 0 if all(r["beats_trivial"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
