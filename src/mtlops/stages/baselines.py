"""baselines: per task, a single-task network and LightGBM — what one would ship without multi-task learning.

Reads `data/processed/`; writes `data/models/baselines/` and `reports/baselines.json` (the search's
Δm reference and the evaluation's comparison). The work: `mtlops.baselines.run`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mtlops.baselines.run import run_baselines

if TYPE_CHECKING:
    from mtlops.paths import Paths
    from mtlops.schema import Config


def run(cfg: Config, paths: Paths) -> dict[str, Any]:
    """Each task's primary validation metric per baseline kind."""
    return run_baselines(cfg, paths)
