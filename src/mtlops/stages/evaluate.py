"""evaluate: the multi-task model against the baselines on the test split, per task, with bootstrap CIs.

Reads `data/processed/`, `data/models/mtl/`, `data/models/baselines/`, `reports/history.json`,
`reports/baselines.json`; writes `reports/metrics.json` (last, so its presence means the stage
finished), `reports/summary.md` and `reports/plots/`. The work: `mtlops.evaluation.evaluate`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mtlops.evaluation.evaluate import evaluate

if TYPE_CHECKING:
    from mtlops.paths import Paths
    from mtlops.schema import Config


def run(cfg: Config, paths: Paths) -> dict[str, Any]:
    """Δm, the multi-task model's primary metrics and the tasks with negative transfer."""
    return evaluate(cfg, paths)
