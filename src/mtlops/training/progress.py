"""Training progress on stderr: on a terminal, a rich bar per epoch with the running per-task losses;
elsewhere (a pipe, a log file, a Prefect task log), one plain line per epoch as it ends."""

from __future__ import annotations

import sys
from typing import Any

from torch import Tensor


def epoch_line(row: dict[str, Any], epochs: int, task_names: list[str]) -> str:
    """`epoch 2/6: train loss delayed 0.4312 · cancelled 0.1021; val 0.2345; 12.3 s` — one line, any width."""
    losses = " · ".join(f"{t} {row['train_loss'][t]:.4f}" for t in task_names if t in row.get("train_loss", {}))
    val = row.get("val_objective")
    text = f"epoch {row['epoch']}/{epochs}: train loss {losses}"
    if val is not None:
        text += f"; val {val:.4f}"
    if row.get("seconds") is not None:
        text += f"; {row['seconds']:.1f} s"
    return text


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
        if self._lines:
            print(epoch_line(row, self.epochs, self.task_names), file=sys.stderr, flush=True)
        if self._bar is None:
            return
        val = row.get("val_objective")
        text = self._format([row["train_loss"][t] for t in self.task_names])
        self._bar.update(self._task, completed=self._bar.tasks[-1].total,
                         losses=text + (f"  val {val:.4f}" if val is not None else ""))

    def _format(self, values: list[float]) -> str:
        return "  ".join(f"{t} {v:.4f}" for t, v in zip(self.task_names, values))
