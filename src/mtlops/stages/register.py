"""register: log the run to MLflow and register a new model version under the alias `challenger`.

Reads the processed data, `data/models/mtl/` and the reports; writes an MLflow run + model version
(per-task metrics, Δm and lineage as tags) and `reports/registration.json`. The work:
`mtlops.registry.register`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mtlops.registry.register import register

if TYPE_CHECKING:
    from mtlops.paths import Paths
    from mtlops.schema import Config


def run(cfg: Config, paths: Paths) -> dict[str, Any]:
    """The registered model's name, version, run id and URI."""
    return register(cfg, paths)
