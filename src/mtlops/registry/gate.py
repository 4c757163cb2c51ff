"""The promotion gate as a pure function: facts in, a decision and every reason out.

The facts are measured on the *current* test rows (`mtlops.registry.measure`): per task, the candidate
against its single-task model and against the champion, each a `Comparison` (`mtlops.metrics.compare`) —
both primary metrics and the relative change (positive = candidate better) with its paired bootstrap
interval.

A candidate becomes champion only if (policy: params.yaml `promotion`, and each task's `tolerance`)
1. its data passed validation (unless `promotion.require_validation` is false); validation switched
   off (`validation.enabled: false`) is no evidence that it did, and is refused by name;
2. no task falls below its single-task model: the interval of its change vs its best single-task model
   (network or LightGBM, the better on validation; the reason names which) does not lie entirely below
   −`promotion.single_task_tolerance` (vs the network: negative transfer). A task in
   `promotion.allow_tradeoff` may: its comparison is then a note;
3. no task regresses: the interval of its change vs the champion does not lie entirely below minus
   the task's `tolerance`. A point estimate beyond the tolerance whose interval reaches back within
   it is noise, not a regression: it passes, and the reason says so. Without a champion this is a note;
4. the average holds: Δm vs single-task ≥ `promotion.delta_m_floor` (null: not checked).

Fail closed: a check without evidence refuses — a champion that cannot be loaded or scored, a task
whose metric or interval is undefined on either side, a task the champion does not predict, a missing
single-task model (unless the task is an allowed trade-off), Δm unavailable while a floor is set, no
recorded validation, validation skipped. These failures are also listed in `Decision.missing_evidence`: the caller stops
with an error on them, because a person has to look.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeGuard

from mtlops.metrics.compare import Comparison

if TYPE_CHECKING:
    from mtlops.schema import Config, TaskConfig

PASS, FAIL, NOTE = "pass", "FAIL", "note"
OK, WORSE, UNKNOWN = "ok", "worse", "unknown"  # a per-task verdict
FAIL_CLOSED = "no evidence, refused (fail closed)"


@dataclass(frozen=True)
class Facts:
    """What the gate judges. Per task a `Comparison`, or a string saying why there is none."""

    validation_passed: bool | None
    delta_m_vs_stl: float | None  # percent, on the current test rows
    single_task: Mapping[str, Comparison | str]
    single_task_models: Mapping[str, str] = field(default_factory=dict)  # per task "network" or "LightGBM"
    champion: str | None = None  # the champion's version; None when there is no champion
    vs_champion: Mapping[str, Comparison | str] = field(default_factory=dict)
    champion_unusable: str | None = None  # why the champion could not be loaded or scored
    validation_skipped: bool = False  # validation.enabled was false: the data was not checked at all


@dataclass
class Decision:
    promote: bool
    reasons: list[str] = field(default_factory=list)  # each "pass: …", "FAIL: …" or "note: …"
    missing_evidence: list[str] = field(default_factory=list)  # the FAIL reasons that lack evidence

    @property
    def failures(self) -> list[str]:
        return [r for r in self.reasons if r.startswith(FAIL)]


def _finite(x: float | None) -> TypeGuard[float]:
    return x is not None and math.isfinite(x)


def _pct(x: float) -> str:
    """A signed percentage; what rounds to zero prints +0.00 % (a tie's interval read "[+0.00%, -0.00%]")."""
    return f"{round(100 * x, 2) + 0.0:+.2f}%"


def task_verdict(
    task: TaskConfig, evidence: Comparison | str, against: str, tolerance: float, confidence: float
) -> tuple[str, str]:
    """(verdict, text) for one task against one reference: OK, WORSE (beyond `tolerance` with
    confidence) or UNKNOWN (no evidence); the text carries the numbers."""
    arrow = "higher" if task.higher_is_better else "lower"
    head = f"task {task.name!r} ({task.metric}, {arrow} is better) vs {against}"
    if isinstance(evidence, str):
        return UNKNOWN, f"{head}: {evidence}"
    if not evidence.relative:
        raise ValueError(f"{head}: the gate's tolerances are fractions; it judges relative changes only")
    cand, ref, change = evidence.candidate, evidence.reference, evidence.change
    if not (_finite(cand) and _finite(ref)):
        return UNKNOWN, f"{head}: {task.metric} undefined on the current test rows (candidate {cand}, {against} {ref})"
    if not (_finite(change.ci_low) and _finite(change.ci_high)):
        return UNKNOWN, f"{head}: {cand:.6g} vs {ref:.6g}, but no resample gives a defined change"
    numbers = f"{cand:.6g} vs {ref:.6g}, change {_pct(change.value)} [{_pct(change.ci_low)}, {_pct(change.ci_high)}]"
    tol, level = f"{100 * tolerance:g}%", f"{100 * confidence:g}%"
    if change.ci_high < -tolerance:
        return WORSE, f"{head}: {numbers}: worse beyond tolerance {tol} with {level} confidence"
    if change.value < -tolerance:
        return OK, f"{head}: {numbers}: beyond tolerance {tol} at the point estimate only, not with {level} confidence"
    return OK, f"{head}: {numbers}: within tolerance {tol}"


def gate(facts: Facts, cfg: Config) -> Decision:
    """Decide on promotion by the rules above; every check adds one reason."""
    policy = cfg.promotion
    decision = Decision(promote=True)

    def add(tag: str, text: str, no_evidence: bool = False) -> None:
        reason = f"{tag}: {text}" + (f"; {FAIL_CLOSED}" if no_evidence else "")
        decision.reasons.append(reason)
        if tag == FAIL:
            decision.promote = False
            if no_evidence:
                decision.missing_evidence.append(reason)

    # 1. validation
    if not policy.require_validation:
        skipped = " (it was skipped: validation.enabled: false)" if facts.validation_skipped else ""
        add(NOTE, f"validation not required (promotion.require_validation: false){skipped}")
    elif facts.validation_skipped:
        add(FAIL, "data validation was skipped (validation.enabled: false) while promotion.require_validation is "
            "true; turn validation on, or set promotion.require_validation: false to promote unvalidated data",
            no_evidence=True)
    elif facts.validation_passed is True:
        add(PASS, "data validation passed")
    elif facts.validation_passed is False:
        add(FAIL, "data validation failed")
    else:
        add(FAIL, "data validation has no recorded result", no_evidence=True)

    # 2. every task vs its single-task model
    allowed = set(policy.allow_tradeoff)
    for task in cfg.target_tasks:
        model = facts.single_task_models.get(task.name)
        against = f"single-task {model}" if model else "single-task"
        verdict, text = task_verdict(task, facts.single_task.get(task.name, "no single-task model"), against,
                                     policy.single_task_tolerance, policy.confidence)
        if task.name in allowed:
            add(NOTE, f"{text}; a trade-off allowed by promotion.allow_tradeoff")
        else:
            text += (f" (worse than its single-task {model})" if model not in (None, "network") else
                     " (negative transfer)") if verdict == WORSE else ""
            add(PASS if verdict == OK else FAIL, text, no_evidence=verdict == UNKNOWN)

    # 3. every task vs the champion
    if facts.champion is None:
        add(NOTE, "no champion to compare with; judged on validation and the single-task models")
    elif facts.champion_unusable is not None:
        add(FAIL, f"champion v{facts.champion} cannot be scored on the current test rows: {facts.champion_unusable}",
            no_evidence=True)
    else:
        for task in cfg.target_tasks:
            verdict, text = task_verdict(
                task, facts.vs_champion.get(task.name, "the champion does not predict this task"),
                f"champion v{facts.champion}", task.tolerance, policy.confidence,
            )
            add(PASS if verdict == OK else FAIL, text, no_evidence=verdict == UNKNOWN)

    # 4. the average, a secondary check
    floor, dm = policy.delta_m_floor, facts.delta_m_vs_stl
    if floor is None:
        add(NOTE, "Δm floor not checked (promotion.delta_m_floor: null)")
    elif not _finite(dm):
        add(FAIL, f"Δm vs single-task is unavailable; cannot check the floor {floor:+.2f}%", no_evidence=True)
    elif dm >= floor:
        add(PASS, f"Δm vs single-task {dm:+.2f}% >= floor {floor:+.2f}%")
    else:
        add(FAIL, f"Δm vs single-task {dm:+.2f}% < floor {floor:+.2f}%")
    return decision
