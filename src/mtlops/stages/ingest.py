"""ingest: the source named by `data.source` → the raw snapshot.

Reads the source (`mtlops.data.sources`); writes `data/raw/snapshot.parquet` and `data/raw/snapshot.json`
together, so a failed ingest leaves the previous snapshot intact. The work: `mtlops.data.ingest`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mtlops.data.ingest import ingest

if TYPE_CHECKING:
    from mtlops.paths import Paths
    from mtlops.schema import Config


def run(cfg: Config, paths: Paths) -> dict[str, Any]:
    """snapshot.json's content: source, rows, columns, date range, sha256."""
    return ingest(cfg, paths)
