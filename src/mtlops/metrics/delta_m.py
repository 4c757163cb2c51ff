"""Δm: the mean relative gain of a model over a baseline across tasks, in percent (Maninis et al., 2019).

Δm = 100/T · Σ_t s_t·(M_t − B_t)/|B_t|, with s_t = +1 when higher is better and −1 otherwise, so a
positive Δm always means "better than the baseline" whatever mix of metrics the tasks use.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TypeGuard

import numpy as np

# A baseline this close to zero makes the relative change meaningless (and explosive).
_EPS = 1e-12


def usable(value: float | None) -> TypeGuard[float]:
    return value is not None and math.isfinite(value)


def delta_m(model: Mapping[str, float | None], base: Mapping[str, float | None], higher: Mapping[str, bool]) -> float:
    """Δm over the tasks present in both `model` and `base`.

    A task is left out of the mean (T counts only the rest) when either value is missing or not finite,
    or when |B_t| is (numerically) zero: its relative change is undefined. NaN when no task is left.
    """
    terms = []
    for task, m in model.items():
        b = base.get(task)
        if not (usable(m) and usable(b)) or abs(b) < _EPS:
            continue
        sign = 1.0 if higher[task] else -1.0
        terms.append(sign * (m - b) / abs(b))
    return 100.0 * float(np.mean(terms)) if terms else float("nan")


def delta_m_samples(
    model: Mapping[str, np.ndarray], base: Mapping[str, np.ndarray], higher: Mapping[str, bool]
) -> np.ndarray:
    """Δm per bootstrap resample: `model[t]` and `base[t]` are arrays of the metric over the same resamples.

    Same rule as `delta_m`, applied element-wise (a resample where a task's metric is undefined averages
    over the other tasks).
    """
    terms = []
    for task, m in model.items():
        if task not in base:
            continue
        m, b = np.asarray(m, dtype=float), np.asarray(base[task], dtype=float)
        ok = np.isfinite(m) & np.isfinite(b) & (np.abs(b) >= _EPS)
        sign = 1.0 if higher[task] else -1.0
        with np.errstate(invalid="ignore", divide="ignore"):
            terms.append(np.where(ok, sign * (m - b) / np.abs(b), np.nan))
    if not terms:
        return np.array([])
    stacked = np.vstack(terms)
    counts = np.isfinite(stacked).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, 100.0 * np.nansum(stacked, axis=0) / counts, np.nan)
