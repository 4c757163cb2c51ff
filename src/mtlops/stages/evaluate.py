"""evaluate: the multi-task model against the baselines on the test split, per task, with bootstrap CIs.

Reads `data/processed/`, `data/models/mtl/`, `data/models/baselines/`, `reports/history.json`,
`reports/baselines.json`; writes `reports/metrics.json` (last, so its presence means the stage
finished), `reports/summary.md` and `reports/plots/`. The work: `mtlops.evaluation.evaluate`.

With `evaluation.seed_runs` > 0 it also reads what the train stage trained from (`data/models/best_params.json`,
`data/models/grouping.json`) and trains the model again with other seeds (`mtlops.evaluation.seed_noise`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mtlops.evaluation.evaluate import AsTrained, evaluate
from mtlops.grouping.chosen import task_groups
from mtlops.search.overlay import searched_config
from mtlops.stages.train import train_reference

if TYPE_CHECKING:
    from mtlops.paths import Paths
    from mtlops.schema import Config


def run(cfg: Config, paths: Paths) -> dict[str, Any]:
    """Δm, the multi-task model's primary metrics and the tasks with negative transfer."""
    as_trained = None
    if cfg.evaluation.seed_runs:
        trained, _ = searched_config(cfg, paths)
        as_trained = AsTrained(trained, task_groups(trained, paths), train_reference(trained, paths))
    return evaluate(cfg, paths, as_trained)
