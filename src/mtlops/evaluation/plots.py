"""Figures (PNG, matplotlib's Agg canvas) and their data as CSV for `dvc plots`.

Layout under reports/plots/ — images at the top, data series in one folder per kind of plot, so one
`dvc.yaml` plot definition per folder serves any set of tasks:
- per_task.png + per_task/<task>.csv (model, metric, value, ci_low, ci_high): each model's primary
  metric with its bootstrap interval, one panel (one file) per task: metrics differ in scale.
- diff/vs_stl.csv, diff/vs_gbdt.csv (task, value, ci_low, ci_high): the signed differences (positive =
  MTL better) — a `bar_horizontal` DVC plot with x=value, y=task.
- training_curves.png + curves/<task>.csv (epoch, train_loss, val_loss): the MTL run's per-task losses.
- calibration_<task>.png + calibration/<task>_<model>.csv (mean_predicted, fraction_positive, count):
  reliability curves of binary tasks (non-empty bins).
- affinity.png + affinity/affinity.csv (source, target, value, stderr): the inter-task affinity
  matrix measured during training (when `train.affinity_every` > 0).

The figures use `matplotlib.figure.Figure` directly (no pyplot): no global state, no GUI backend.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mtlops.evaluation.report import MODELS

COLORS = {"mtl": "#1f77b4", "served": "#9467bd", "stl": "#ff7f0e", "gbdt": "#2ca02c"}
LABELS = dict(MODELS)


def _figure(n_panels: int, height: float = 3.2):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(max(3.6 * n_panels, 4.5), height), layout="constrained")
    axes = fig.subplots(1, n_panels, squeeze=False)[0]
    return fig, axes


def _zoom(values: np.ndarray) -> tuple[float, float]:
    """Y limits around the bars' tops and intervals: the differences matter, not the distance from 0."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return 0.0, 1.0
    low, high = finite.min(), finite.max()
    pad = 0.5 * (high - low) or 0.05 * abs(high) or 1.0
    return low - pad, high + pad


def per_task(metrics: dict[str, Any], model_ci: dict[str, dict[str, tuple[float, float]]], out: Path) -> None:
    """Bars of each model's primary metric with bootstrap error bars, and the same numbers as CSV."""
    records = []
    for task, entry in metrics["tasks"].items():
        for key, _ in MODELS:
            value = (entry.get(key) or {}).get(entry["metric"])
            if value is None:
                continue
            low, high = model_ci.get(task, {}).get(key, (np.nan, np.nan))
            records.append(
                {"task": task, "model": key, "metric": entry["metric"], "value": value, "ci_low": low, "ci_high": high}
            )
    frame = pd.DataFrame(records, columns=["task", "model", "metric", "value", "ci_low", "ci_high"])
    (out / "per_task").mkdir(exist_ok=True)
    for task, rows in frame.groupby("task", sort=False):
        rows.drop(columns="task").to_csv(out / "per_task" / f"{task}.csv", index=False)

    tasks = list(metrics["tasks"])
    fig, axes = _figure(len(tasks))
    for ax, task in zip(axes, tasks, strict=True):
        rows = frame[frame.task == task]
        x = np.arange(len(rows))
        low = (rows.value - rows.ci_low).clip(lower=0).fillna(0).to_numpy()
        high = (rows.ci_high - rows.value).clip(lower=0).fillna(0).to_numpy()
        ax.bar(x, rows.value, yerr=[low, high], capsize=4, color=[COLORS[m] for m in rows.model])
        ax.set_xticks(x, [LABELS[m] for m in rows.model])
        entry = metrics["tasks"][task]
        ax.set_title(f"{task}: {entry['metric']} ({'higher' if entry['higher_is_better'] else 'lower'} is better)")
        ax.set_ylim(*_zoom(rows[["value", "ci_low", "ci_high"]].to_numpy(dtype=float)))
    fig.suptitle("Primary metric on the test split (bootstrap intervals)")
    fig.savefig(out / "per_task.png", dpi=110)


def differences(metrics: dict[str, Any], out: Path) -> None:
    """diff/vs_<baseline>.csv: per-task signed differences with their intervals."""
    (out / "diff").mkdir(exist_ok=True)
    for baseline in ("stl", "gbdt"):
        rows = [
            {"task": task, **entry[f"diff_vs_{baseline}"]}
            for task, entry in metrics["tasks"].items()
            if (entry.get(f"diff_vs_{baseline}") or {}).get("value") is not None
        ]
        pd.DataFrame(rows, columns=["task", "value", "ci_low", "ci_high"]).to_csv(
            out / "diff" / f"vs_{baseline}.csv", index=False
        )


def training_curves(history: list[dict[str, Any]], tasks: list[str], out: Path, best_epoch: int | None = None) -> None:
    """Per-task train/validation loss per epoch of the MTL run (reports/history.json rows)."""
    from matplotlib.ticker import MaxNLocator

    (out / "curves").mkdir(exist_ok=True)
    fig, axes = _figure(len(tasks))
    for ax, task in zip(axes, tasks, strict=True):
        frame = pd.DataFrame(
            {
                "epoch": [row["epoch"] for row in history],
                "train_loss": [row.get("train_loss", {}).get(task, np.nan) for row in history],
                "val_loss": [row.get("val_loss", {}).get(task, np.nan) for row in history],
            }
        )
        frame.to_csv(out / "curves" / f"{task}.csv", index=False)
        ax.plot(frame.epoch, frame.train_loss, marker="o", label="train")
        ax.plot(frame.epoch, frame.val_loss, marker="o", label="validation")
        if best_epoch is not None:
            ax.axvline(best_epoch, color="grey", linestyle=":", label="kept (best epoch)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(task)
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
        ax.legend()
    fig.suptitle("MTL training curves (per-task loss)")
    fig.savefig(out / "training_curves.png", dpi=110)


def calibration(task: str, curves: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]], out: Path) -> None:
    """Reliability diagram of one binary task: fraction positive vs mean predicted probability per bin."""
    (out / "calibration").mkdir(exist_ok=True)
    fig, axes = _figure(1, height=4.0)
    ax = axes[0]
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect")
    for model, (count, mean_pred, frac_pos) in curves.items():
        filled = count > 0
        frame = pd.DataFrame(
            {"mean_predicted": mean_pred[filled], "fraction_positive": frac_pos[filled], "count": count[filled]}
        )
        frame.to_csv(out / "calibration" / f"{task}_{model}.csv", index=False)
        ax.plot(frame.mean_predicted, frame.fraction_positive, marker="o", color=COLORS[model], label=LABELS[model])
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("mean predicted probability")
    ax.set_ylabel("fraction positive")
    ax.set_title(f"{task}: calibration (test split)")
    ax.legend()
    fig.savefig(out / f"calibration_{task}.png", dpi=110)


def affinity(matrix: dict[str, Any], out: Path) -> None:
    """Heatmap of Z_{i→j} (row i: the task stepped on; column j: the task affected), and its CSV."""
    tasks = matrix["tasks"]
    values = np.array([[np.nan if v is None else v for v in row] for row in matrix["matrix"]], dtype=float)
    (out / "affinity").mkdir(exist_ok=True)
    records = [
        {"source": s, "target": t, "value": values[i, j], "stderr": matrix["stderr"][i][j]}
        for i, s in enumerate(tasks)
        for j, t in enumerate(tasks)
    ]
    frame = pd.DataFrame(records, columns=["source", "target", "value", "stderr"])
    frame.to_csv(out / "affinity" / "affinity.csv", index=False)
    fig, (ax,) = _figure(1, height=0.6 * len(tasks) + 2.4)
    off = values[~np.eye(len(tasks), dtype=bool)]
    limit = (np.nanmax(np.abs(off)) if np.isfinite(off).any() else 0.0) or 1.0
    image = ax.imshow(values, cmap="RdBu", vmin=-limit, vmax=limit)  # the colour scale: off-diagonal pairs
    ax.set_xticks(range(len(tasks)), tasks, rotation=30, ha="right")
    ax.set_yticks(range(len(tasks)), tasks)
    ax.set_xlabel("task affected (j)")
    ax.set_ylabel("task stepped on (i)")
    for i in range(len(tasks)):
        for j in range(len(tasks)):
            if np.isfinite(values[i, j]):
                colour = "white" if abs(values[i, j]) > 0.6 * limit else "black"  # legible on dark cells
                ax.text(j, i, f"{values[i, j]:.2g}", ha="center", va="center", fontsize=8, color=colour)
    fig.colorbar(image, ax=ax, label="affinity Z(i→j)")
    ax.set_title(f"Inter-task affinity ({matrix['measurements']} steps)")
    fig.savefig(out / "affinity.png", dpi=110)
