"""prepare: split the raw snapshot, fit the preprocessor on train, write the model-ready arrays.

Reads `data/raw/`; writes `data/processed/` ({train,val,test}.npz, preprocessor.json, meta.json,
test_raw.parquet). The work: `mtlops.data.prepare` (splits in `mtlops.data.splits`, features in
`mtlops.data.preprocess`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mtlops.data.prepare import prepare

if TYPE_CHECKING:
    from mtlops.paths import Paths
    from mtlops.schema import Config


def run(cfg: Config, paths: Paths) -> dict[str, Any]:
    """Rows per split, the inputs, label rates and how the data was split."""
    return prepare(cfg, paths)
