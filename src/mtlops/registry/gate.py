"""The promotion gate as a pure function: metrics and facts in, a decision and every reason out.

A candidate becomes champion only if
1. its data passed validation (unless `promotion.require_validation` is false),
2. its Δm against the single-task baselines is at least `promotion.delta_m_floor`, and
3. no task is worse than the current champion's beyond that task's `tolerance` — a relative drop
   of the primary metric, measured in the direction that is worse for it.
With no champion, (3) is skipped: the first passing model becomes champion.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mtlops.schema import Config, TaskConfig

PASS, FAIL, NOTE = "pass", "FAIL", "note"


@dataclass
class Decision:
    promote: bool
    reasons: list[str] = field(default_factory=list)  # each "pass: …", "FAIL: …" or "note: …"

    @property
    def failures(self) -> list[str]:
        return [r for r in self.reasons if r.startswith(FAIL)]


def _finite(x: float | None) -> bool:
    return x is not None and math.isfinite(x)


def compare_task(task: TaskConfig, challenger: float | None, champion: float | None) -> tuple[bool, str]:
    """(ok, reason) for one task: is the challenger within tolerance of the champion?"""
    arrow = "higher" if task.higher_is_better else "lower"
    head = f"task {task.name!r} ({task.metric}, {arrow} is better)"
    if champion is None:
        return True, f"{NOTE}: {head}: the champion has no such task; not compared"
    if not (_finite(challenger) and _finite(champion)):
        ok = not _finite(champion)  # undefined for both (e.g. one class in the window): nothing to lose
        tag = PASS if ok else FAIL
        return ok, f"{tag}: {head}: challenger {challenger} vs champion {champion}: not comparable"
    sign = 1.0 if task.higher_is_better else -1.0
    gain = sign * (challenger - champion)  # positive = challenger better
    allowed = task.tolerance * abs(champion)
    rel = f"{100 * gain / abs(champion):+.2f}%" if champion else f"{gain:+.4g}"
    ok = gain >= -allowed
    verdict = "within" if ok else "worse beyond"
    return ok, (
        f"{PASS if ok else FAIL}: {head}: {challenger:.6g} vs champion {champion:.6g} ({rel}), "
        f"{verdict} tolerance {100 * task.tolerance:g}%"
    )


def gate(
    challenger: Mapping[str, float | None],
    champion: Mapping[str, float | None] | None,
    delta_m_vs_stl: float | None,
    validation_passed: bool | None,
    cfg: Config,
) -> Decision:
    """Decide on promotion. `challenger`/`champion`: primary metric per task on the same test rows
    (`champion` None when there is none to compare with); `delta_m_vs_stl` in percent."""
    reasons: list[str] = []
    ok = True

    if not cfg.promotion.require_validation:
        reasons.append(f"{NOTE}: validation not required (promotion.require_validation: false)")
    elif validation_passed is True:
        reasons.append(f"{PASS}: data validation passed")
    else:
        ok = False
        state = "failed" if validation_passed is False else "has no recorded result"
        reasons.append(f"{FAIL}: data validation {state}")

    floor = cfg.promotion.delta_m_floor
    if _finite(delta_m_vs_stl):
        passed = delta_m_vs_stl >= floor
        ok &= passed
        relation = ">=" if passed else "<"
        reasons.append(
            f"{PASS if passed else FAIL}: Δm vs single-task {delta_m_vs_stl:+.2f}% {relation} floor {floor:+.2f}%"
        )
    elif not cfg.baselines.stl:
        reasons.append(f"{NOTE}: no single-task baselines (baselines.stl: false); Δm floor not checked")
    else:
        ok = False
        reasons.append(f"{FAIL}: Δm vs single-task is unavailable; cannot check the floor {floor:+.2f}%")

    if champion is None:
        reasons.append(f"{NOTE}: no champion to compare with; judged on validation and Δm alone")
    else:
        for task in cfg.tasks:
            task_ok, reason = compare_task(task, challenger.get(task.name), champion.get(task.name))
            ok &= task_ok
            reasons.append(reason)
    return Decision(promote=ok, reasons=reasons)
