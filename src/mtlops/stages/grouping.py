"""grouping: which tasks share a trunk, chosen on validation (all together unless a split clearly wins).

Reads `data/processed/`, `reports/baselines.json` and `data/models/best_params.json`; writes
`data/models/grouping.json` (the chosen groups, every candidate's validation score, the trainings'
metrics and seconds), which the train stage follows. The work: `mtlops.grouping.run`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mtlops.grouping.run import group_tasks

if TYPE_CHECKING:
    from mtlops.paths import Paths
    from mtlops.schema import Config


def run(cfg: Config, paths: Paths) -> dict[str, Any]:
    """The chosen groups and, when candidates were scored, the validation Δm of the choice vs all-shared."""
    doc = group_tasks(cfg, paths)
    keys = ("method", "groups", "val_delta_m", "delta_m_vs_all_shared", "wall_time_s")
    return {k: doc[k] for k in keys if k in doc}
