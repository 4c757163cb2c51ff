"""promote: gate the candidate against its single-task models and the champion; move `champion` if it passes.

Reads `reports/registration.json` (the version to judge), `reports/baselines.json` + the single-task
models, `data/processed/test.npz` + `test_raw.parquet` (the current test rows) and the registry; writes
the alias moves, the decision and its reasons as version tags, and `reports/promotion.json`. Inside
`dvc exp run` (or with `hold`) the decision is recorded but `champion` never moves. The work:
`mtlops.registry.promote` (the pure decision: `mtlops.registry.gate`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mtlops.experiment import hold_reason
from mtlops.registry.promote import promote

if TYPE_CHECKING:
    from mtlops.paths import Paths
    from mtlops.schema import Config


def run(
    cfg: Config, paths: Paths, version: int | str | None = None, force: bool = False, reason: str | None = None,
    hold: str | None = None,
) -> dict[str, Any]:
    """The decision, its reasons and the champion after it; `force` skips the gate and needs a `reason`;
    `hold` (why champion must not move) defaults to the DVC experiment this process runs in, if any."""
    return promote(cfg, paths, version=version, force=force, reason=reason, hold=hold or hold_reason())
