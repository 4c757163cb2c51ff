"""Each task's realised metric on the arriving rows that carry its label, against the metric recorded
when the champion was promoted (`gate.metric.<task>`, else registration's `metric.<task>.<primary>`).

The comparison is the one evaluation and the gate make (`mtlops.metrics.compare`), relative: the
realised metric on every labelled arriving row and on each bootstrap resample of those rows, against
the recorded value. That value is noisy too — it was measured once, on the few test rows of its day —
and its resamples are gone, so its spread is estimated from the realised one scaled by the square root
of the row ratio (a metric's variance goes as 1/n): the recorded value plus the realised resamples'
deviations, shuffled (independent draws, not paired) and scaled by √(arriving labelled rows / test
rows it was measured on). Without that count the recorded value is held fixed, and the interval carries
the arriving rows' noise only (a lucky test split then looks like a degradation). The verdict is the
gate's rule for "worse than the champion"
(`mtlops.registry.gate.task_verdict`): a task is degraded when the whole interval of its change lies
below minus the task's `tolerance`; a task with fewer than `monitor.min_labels` labelled arriving rows,
or with no recorded metric, is not judged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from mtlops.metrics.compare import Comparison, PairedResamples, Scored, compare
from mtlops.registry.gate import WORSE, task_verdict

if TYPE_CHECKING:
    from mtlops.schema import MonitorConfig, TaskConfig


@dataclass(frozen=True)
class TaskHealth:
    task: str
    metric: str
    higher_is_better: bool
    labelled: int  # arriving rows that carry this task's label
    recorded: float | None  # the metric recorded at promotion
    evidence: Comparison | str  # realised vs recorded, or why there is none
    verdict: str  # ok | worse | unknown (the gate's words)
    text: str  # the verdict's numbers in words

    @property
    def degraded(self) -> bool:
        return self.verdict == WORSE

    @property
    def realised(self) -> float | None:
        return self.evidence.candidate if isinstance(self.evidence, Comparison) else None


def task_health(task: TaskConfig, y: np.ndarray, mask: np.ndarray, pred: np.ndarray, recorded: float | None,
                resamples: PairedResamples, policy: MonitorConfig, calibration_bins: int = 10,
                recorded_rows: int | None = None, seed: int = 0) -> TaskHealth:
    """One task's realised metric vs `recorded` (measured on `recorded_rows` labelled rows), judged by the
    gate's rule at the task's tolerance."""
    labelled = int(np.asarray(mask, dtype=bool).sum())
    evidence: Comparison | str
    if recorded is None or not math.isfinite(recorded):
        evidence = "no metric recorded at promotion"
    elif labelled < policy.min_labels:
        evidence = f"{labelled} labelled arriving row(s), fewer than monitor.min_labels {policy.min_labels}"
    else:
        realised = resamples.score(task, y, pred, mask, calibration_bins)
        evidence = compare(task, realised, recorded_spread(realised, recorded, labelled, recorded_rows, seed),
                           policy.confidence, relative=True)
    verdict, text = task_verdict(task, evidence, "its metric at promotion (realised vs recorded)", task.tolerance,
                                 policy.confidence)
    return TaskHealth(task.name, str(task.metric), task.higher_is_better, labelled, recorded, evidence, verdict, text)


def recorded_spread(realised: Scored, recorded: float, labelled: int, recorded_rows: int | None, seed: int) -> Scored:
    """The recorded metric with resamples of its estimated spread (see above); fixed without `recorded_rows`."""
    if not recorded_rows:
        return Scored(recorded, np.full(len(realised.samples), recorded))
    deviations = np.random.default_rng(seed).permutation(realised.samples - realised.value)
    return Scored(recorded, recorded + np.sqrt(labelled / recorded_rows) * deviations)
