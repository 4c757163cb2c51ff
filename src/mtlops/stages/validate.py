"""validate: the raw snapshot against its contract (Great Expectations) and the last accepted profile.

Reads `data/raw/`, `data/profile/accepted.json`; writes `reports/validation/` (summary.json, Data Docs)
always, and `data/profile/accepted.json` only on a pass. A violation raises `ValidationFailed`, which
stops the pipeline. The work: `mtlops.validation.run`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mtlops.validation.run import validate

if TYPE_CHECKING:
    from mtlops.paths import Paths
    from mtlops.schema import Config


def run(cfg: Config, paths: Paths) -> dict[str, Any]:
    """The validation summary (also written to reports/validation/summary.json)."""
    return validate(cfg, paths)
