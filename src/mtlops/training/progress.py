"""Training progress on stderr: on a terminal, a rich bar per epoch with the running per-task losses;
elsewhere (a pipe, a log file, a Prefect task log), one plain line per epoch as it ends, which says what
it counts: `epoch 8/100 · train loss … · val Δm +0.41 % (best +0.52 % at 6) · 12.3 s`."""

from __future__ import annotations

import math
import sys
from typing import Any

from torch import Tensor


def epoch_line(row: dict[str, Any], epochs: int, task_names: list[str], best: tuple[float, int] | None = None) -> str:
    """`epoch 8/100 · train loss delayed 0.4312 · cancelled 0.1021 · val Δm +0.41 % (best +0.52 % at 6) · 12.3 s`.

    The judged validation figure says what it is and which way is better: Δm (percent, higher is better)
    when the epoch was judged on it, else the mean validation loss (lower is better); `best` is the best
    value so far and its epoch."""
    losses = " · ".join(f"{t} {row['train_loss'][t]:.4f}" for t in task_names if t in row.get("train_loss", {}))
    parts = [f"epoch {row['epoch']}/{epochs}", f"train loss {losses}"]
    val = val_text(row, best)
    if val:
        parts.append(val)
    if row.get("seconds") is not None:
        parts.append(f"{row['seconds']:.1f} s")
    return " · ".join(parts)


def judged(row: dict[str, Any]) -> tuple[str, float] | None:
    """("Δm", value) when the epoch was judged on validation Δm, ("loss", value) on the mean loss, or None."""
    if row.get("val_delta_m") is not None and math.isfinite(row["val_delta_m"]):
        return "Δm", float(row["val_delta_m"])
    if row.get("val_objective") is not None and math.isfinite(row["val_objective"]):
        return "loss", float(row["val_objective"])
    return None


def val_text(row: dict[str, Any], best: tuple[float, int] | None) -> str:
    figure = judged(row)
    if figure is None:
        return ""
    kind, value = figure
    if kind == "Δm":
        text = f"val Δm {value:+.2f} %"
        return text + (f" (best {best[0]:+.2f} % at {best[1]})" if best else "")
    text = f"val loss {value:.4f}"
    return text + (f" (lower is better; best {best[0]:.4f} at {best[1]})" if best else " (lower is better)")


def update_best(best: tuple[float, int] | None, row: dict[str, Any]) -> tuple[float, int] | None:
    """The best judged value so far and its epoch, after `row` (Δm: highest; loss: lowest)."""
    figure = judged(row)
    if figure is None:
        return best
    kind, value = figure
    better = best is None or (value > best[0] if kind == "Δm" else value < best[0])
    return (value, int(row["epoch"])) if better else best


class EpochProgress:
    """One bar per epoch. Reading the running losses syncs the device, so it happens ~20 times an epoch."""

    def __init__(self, enabled: bool, task_names: list[str], epochs: int) -> None:
        self.task_names, self.epochs = task_names, epochs
        self._bar: Any = None
        self._lines = False
        if enabled:
            from rich.console import Console

            console = Console(stderr=True)
            self._lines = not console.is_terminal
            if console.is_terminal:
                from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

                self._bar = Progress(
                    TextColumn("[bold]{task.description}"),
                    BarColumn(),
                    MofNCompleteColumn(),
                    TimeRemainingColumn(),
                    TextColumn("{task.fields[losses]}"),
                    console=console,
                    transient=False,
                )
        self._task = None
        self._every = 1
        self.best: tuple[float, int] | None = None

    def __enter__(self) -> EpochProgress:
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def start_epoch(self, epoch: int, steps: int) -> None:
        if self._bar is None:
            return
        self._every = max(1, steps // 20)
        self._task = self._bar.add_task(f"epoch {epoch}/{self.epochs}", total=steps, losses="")

    def step(self, step: int, sums: Tensor, counts: Tensor) -> None:
        if self._bar is None or (step + 1) % self._every:
            return
        self._bar.update(self._task, completed=step + 1, losses=self._format((sums / counts.clamp_min(1)).tolist()))

    def end_epoch(self, row: dict[str, Any]) -> None:
        self.best = update_best(self.best, row)
        if self._lines:
            print(epoch_line(row, self.epochs, self.task_names, self.best), file=sys.stderr, flush=True)
        if self._bar is None:
            return
        text = self._format([row["train_loss"][t] for t in self.task_names])
        val = val_text(row, self.best)
        self._bar.update(self._task, completed=self._bar.tasks[-1].total, losses=text + (f"  {val}" if val else ""))

    def _format(self, values: list[float]) -> str:
        return "  ".join(f"{t} {v:.4f}" for t, v in zip(self.task_names, values))
