"""The monitor's verdict as a pure function: drift and task health in, a state and every reason out.

States and the exit codes `mtlops monitor` ends with (scripts and schedulers branch on them):
- `ok` (0): no task degraded, the inputs and the predictions did not drift;
- `drifted` (3): the inputs drifted (at least `monitor.drift_share` of the features) or a task's
  predictions drifted, and no task is degraded: the champion may still be fine, labels will tell;
- `degraded` (4): a task's realised metric is worse than at promotion beyond its tolerance, with
  confidence (`mtlops.monitoring.health`); this wins over drift.
1 stays what it is for every command: a mistake a user can fix (no champion, no rows, a bad file).
A task not judged (too few labels, nothing recorded) is a note, never a failure: monitoring without
labels is what drift is for.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mtlops.registry.gate import UNKNOWN, WORSE

if TYPE_CHECKING:
    from mtlops.monitoring.drift import Drift, DriftSummary
    from mtlops.monitoring.health import TaskHealth

OK, DRIFTED, DEGRADED = "ok", "drifted", "degraded"
EXIT_CODES = {OK: 0, DRIFTED: 3, DEGRADED: 4}


@dataclass
class Verdict:
    state: str
    reasons: list[str] = field(default_factory=list)  # "degraded: …", "drift: …", "ok: …", "note: …"

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.state]


def decide(features: DriftSummary, predictions: Sequence[Drift], health: Mapping[str, TaskHealth]) -> Verdict:
    """ok / drifted / degraded by the rules above, with one reason per finding."""
    reasons: list[str] = []
    degraded = [h for h in health.values() if h.verdict == WORSE]
    for h in health.values():
        tag = "degraded" if h.verdict == WORSE else "note" if h.verdict == UNKNOWN else "ok"
        reasons.append(f"{tag}: {h.text}")
    tested = [d for d in features.features if d.tested]
    words = f"{len(features.drifted_columns)} of {len(tested)} features drifted ({100 * features.share:.0f}%; " \
            f"threshold {100 * features.threshold:.0f}%)"
    if features.drifted:
        reasons.append(f"drift: inputs: {words}: {', '.join(features.drifted_columns)}")
    else:
        reasons.append(f"ok: inputs: {words}" + (f": {', '.join(features.drifted_columns)}"
                                                  if features.drifted_columns else ""))
    moved = [d for d in predictions if d.drifted]
    reasons += [f"drift: predictions: {d.describe()}" for d in moved]
    if predictions and not moved:
        reasons.append(f"ok: predictions: none of {len(predictions)} output column(s) drifted")
    state = DEGRADED if degraded else DRIFTED if features.drifted or moved else OK
    return Verdict(state, reasons)
