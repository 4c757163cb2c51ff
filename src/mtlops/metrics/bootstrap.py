"""Paired percentile bootstrap over test rows: how sure are we that the MTL model beats a baseline?

All models are scored on the *same* resamples (paired), so the noise of the test set largely cancels in
their difference. Rows are resampled once for all tasks; each task then keeps the resampled rows that
carry its label. That keeps tasks consistent within a resample, so Δm gets an interval too.
The comparison of two models that evaluation and the promotion gate share is `mtlops.metrics.compare`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from mtlops.task_types.base import ResampledFn


@dataclass(frozen=True)
class Interval:
    """A point estimate with a percentile bootstrap interval (NaN where undefined)."""

    value: float
    ci_low: float
    ci_high: float

    def to_dict(self) -> dict[str, float | None]:
        """JSON-safe: NaN becomes null (DVC and strict JSON readers choke on NaN)."""
        return {k: (v if math.isfinite(v) else None) for k, v in vars(self).items()}

    @property
    def below_zero(self) -> bool:
        """The whole interval is below zero (a defined, significantly negative difference)."""
        return math.isfinite(self.ci_high) and self.ci_high < 0


def resample_indices(n_rows: int, n_resamples: int, seed: int) -> np.ndarray:
    """[n_resamples, n_rows] row indices drawn with replacement, reproducible from `seed` (int32 when they fit)."""
    dtype = np.int32 if n_rows < 2**31 else np.int64
    return np.random.default_rng(seed).integers(0, n_rows, size=(n_resamples, n_rows), dtype=dtype)


def metric_samples(
    fn: Callable[[np.ndarray, np.ndarray], float],
    y: np.ndarray,
    pred: np.ndarray,
    indices: np.ndarray,
    mask: np.ndarray | None = None,
    resampled: ResampledFn | None = None,
) -> np.ndarray:
    """`fn` on each resample (rows of `indices`), keeping only rows where `mask` is True.

    With `resampled` (the metric's form over many resamples at once, `mtlops.task_types.base.Metric`) the
    resamples are scored together from how often each drew each row, a block of resamples at a time; without
    it `fn` is called once per resample.
    """
    if resampled is not None:
        return _resampled_samples(resampled, y, pred, indices, mask)
    out = np.empty(len(indices))
    for b, rows in enumerate(indices):
        if mask is not None:
            rows = rows[mask[rows]]
        out[b] = fn(y[rows], pred[rows])
    return out


# row counts held at once: 4M int64 (32 MB), whatever the number of rows
_CELLS = 2**22


def _resampled_samples(
    resampled: ResampledFn,
    y: np.ndarray,
    pred: np.ndarray,
    indices: np.ndarray,
    mask: np.ndarray | None,
) -> np.ndarray:
    n = len(y)
    keep = np.ones(n, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    y_kept, pred_kept = y[keep], pred[keep]
    out = np.empty(len(indices))
    block = max(1, _CELLS // max(n, 1))
    for start in range(0, len(indices), block):
        rows = indices[start : start + block]
        offsets = (np.arange(len(rows), dtype=np.int64) * n)[:, None]
        counts = np.bincount((rows + offsets).ravel(), minlength=len(rows) * n).reshape(len(rows), n)
        out[start : start + len(rows)] = resampled(y_kept, pred_kept, counts if mask is None else counts[:, keep])
    return out


def percentile_interval(samples: np.ndarray, confidence: float) -> tuple[float, float]:
    """The central `confidence` interval of the finite samples; NaN when none are finite."""
    finite = np.asarray(samples, dtype=float)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return math.nan, math.nan
    tail = 100.0 * (1.0 - confidence) / 2.0
    low, high = np.percentile(finite, [tail, 100.0 - tail])
    return float(low), float(high)


def signed_difference(model: float | np.ndarray, base: float | np.ndarray, higher_is_better: bool):
    """model − base, signed so that positive means the model is better."""
    return (np.asarray(model, dtype=float) - np.asarray(base, dtype=float)) * (1.0 if higher_is_better else -1.0)


def paired_difference(
    model_value: float,
    base_value: float,
    model_samples: np.ndarray,
    base_samples: np.ndarray,
    higher_is_better: bool,
    confidence: float,
    relative: bool = False,
) -> Interval:
    """The signed difference on the full test set, with its interval from the paired resamples.

    `relative`: the difference divided by |base| — each resample's by that resample's own base value —
    NaN where the base is zero or either metric undefined (such resamples drop out of the interval).
    """

    def diff(model, base):
        out = signed_difference(model, base, higher_is_better)
        if not relative:
            return out
        base = np.abs(np.asarray(base, dtype=float))
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(base > 0, out / base, np.nan)

    low, high = percentile_interval(diff(model_samples, base_samples), confidence)
    return Interval(float(diff(model_value, base_value)), low, high)
