"""promote: gate the challenger (or any version) against the champion and the baselines; move `champion` if it passes.

Reads `reports/registration.json`, `reports/metrics.json`, `data/processed/test_raw.parquet` and the
registry; writes the alias move, the decision and its reasons as version tags, and
`reports/promotion.json`. The work: `mtlops.registry.promote` (the pure decision: `mtlops.registry.gate`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mtlops.registry.promote import promote

if TYPE_CHECKING:
    from mtlops.paths import Paths
    from mtlops.schema import Config


def run(
    cfg: Config, paths: Paths, version: int | str | None = None, force: bool = False, reason: str | None = None
) -> dict[str, Any]:
    """The decision, its reasons and the champion after it; `force` skips the gate and needs a `reason`."""
    return promote(cfg, paths, version=version, force=force, reason=reason)
