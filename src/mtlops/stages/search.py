"""search: sharing architecture, task weighting and optimiser, chosen by Optuna on validation Δm.

Reads `data/processed/`, `reports/baselines.json`; writes `data/models/best_params.json` (a config
overlay the train stage applies) and `reports/search.json`; the study persists in `data/search/`, so a
rerun resumes it. The work: `mtlops.search.run`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mtlops.search.run import search

if TYPE_CHECKING:
    from mtlops.paths import Paths
    from mtlops.schema import Config


def run(cfg: Config, paths: Paths, **overrides: Any) -> dict[str, Any]:
    """The study and its best trial; `overrides` (storage, workers, n_trials, timeout_s) beat the `search` section."""
    return search(cfg, paths, **overrides)
