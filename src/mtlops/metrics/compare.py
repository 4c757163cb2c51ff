"""The one paired comparison of two models on one task, used by evaluation and by the promotion gate.

`PairedResamples` draws bootstrap row indices once for a set of rows; `score` is one model's primary
metric on every labelled row and on each resample; `compare` turns two scores into the signed change
(positive = candidate better) with its percentile interval. A caller scores all its models on one
`PairedResamples`, so every comparison is paired and a model is scored once however often it is
compared. Evaluation reports the absolute change (`relative=False`: `diff_vs_*` in metrics.json); the
gate the change relative to |reference| (`relative=True`), because its tolerances are fractions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mtlops.metrics.bootstrap import Interval, metric_samples, paired_difference, resample_indices
from mtlops.metrics.per_task import labelled, metric_fn, primary, resampled_metric_fn


@dataclass(frozen=True)
class Scored:
    """One model's primary metric for one task: on every labelled row, and on each resample's labelled rows."""

    value: float
    samples: np.ndarray


@dataclass(frozen=True)
class Comparison:
    """One task's primary metric, candidate vs a reference model, on the same rows and resamples."""

    candidate: float
    reference: float
    change: Interval  # signed, positive = candidate better: candidate − reference, or that over |reference|
    relative: bool


class PairedResamples:
    """One set of bootstrap resamples of `n_rows` rows (reproducible from `seed`), shared by every model scored."""

    def __init__(self, n_rows: int, resamples: int, seed: int) -> None:
        self.indices = resample_indices(n_rows, resamples, seed)

    def score(
        self, task: Any, y: np.ndarray, pred: np.ndarray, mask: np.ndarray, calibration_bins: int = 10
    ) -> Scored:
        """`pred`'s primary metric for `task` (ValueError on predictions of the wrong shape or not finite)."""
        y_all, p_all = labelled(task, y, pred)
        fn = metric_fn(task, calibration_bins=calibration_bins)
        mask = np.asarray(mask, dtype=bool)
        return Scored(primary(task, y, pred, mask, calibration_bins),
                      metric_samples(fn, y_all, p_all, self.indices, mask, resampled_metric_fn(task)))


def compare(task: Any, candidate: Scored, reference: Scored, confidence: float, relative: bool) -> Comparison:
    """Candidate vs reference on `task` (its `higher_is_better` signs the change), with the paired interval."""
    change = paired_difference(candidate.value, reference.value, candidate.samples, reference.samples,
                               task.higher_is_better, confidence, relative=relative)
    return Comparison(candidate.value, reference.value, change, relative)
