"""The data source contract: a subclass of `Source` per file in this package, one line in `SOURCES`.

A source turns its options (`options(cfg)`: a `mtlops.schema.SourceOptions` model, typos refused
naming the key) into rows. Hooks, all given the whole config:
- `load(cfg)`: the whole snapshot as one DataFrame (raises `mtlops.errors.DataError` on bad input);
- `columns(cfg)`: the columns `load` will return, known without loading; config load checks the
  declared columns against them (default None: unknown, not checked);
- `record(cfg)`: the file the rows are read from, {"path", "sha256", "bytes"} (absolute path, content
  hash, size), kept in snapshot.json and from there in lineage (default None: no user file);
- `origin(cfg)`: how messages name where the rows came from (default: `data.source '<name>'`);
- `split_rows(cfg)`: what the split reads, as cheaply as the source can: the rows with only the
  `data.date_column` (no column at all without one), so `mtlops check` can refuse a split that leaves a
  part empty before anything runs (default: `load`, then those columns);
- `arrival(cfg, cutoff, today)`: how new data arrives. The params keys (dotted, e.g.
  "data.flights.end") and values that make the next snapshot hold the data up to `cutoff`:
  'YYYY-MM-DD', 'YYYY-MM' (that month's last day; `cutoff_day` parses both) or 'auto' (the source's
  own "now", given `today`). `mtlops run --cutoff`, `simulate` and the schedule write these keys into
  params.yaml, so DVC sees new data as a params change. Default None: new data does not arrive by a
  cut-off, so `--cutoff` is refused and the schedule runs without one.

Config load imports every source: keep heavy imports (pandas, numpy, scikit-learn) inside methods.
"""

from __future__ import annotations

import calendar
from abc import ABC, abstractmethod
from datetime import date
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import ValidationError

from mtlops.errors import DataError, UserError
from mtlops.schema import SourceOptions

if TYPE_CHECKING:
    import pandas as pd

    from mtlops.schema import Config

Opts = TypeVar("Opts", bound=SourceOptions)


class Source(ABC):
    @abstractmethod
    def options(self, cfg: Config) -> SourceOptions:
        """This source's options, checked: its `data.<source>` section, or `parse_options` of `data.options`."""

    @abstractmethod
    def load(self, cfg: Config) -> pd.DataFrame: ...

    def columns(self, cfg: Config) -> set[str] | None:
        return None

    def record(self, cfg: Config) -> dict[str, Any] | None:
        return None

    def origin(self, cfg: Config) -> str:
        return f"data.source {cfg.data.source!r}"

    def arrival(self, cfg: Config, cutoff: str, today: date) -> dict[str, Any] | None:
        return None

    def split_rows(self, cfg: Config) -> pd.DataFrame:
        df = self.load(cfg)
        column = cfg.data.date_column
        return df[[column]] if column and column in df.columns else df.iloc[:, :0]


def parse_options(model: type[Opts], cfg: Config) -> Opts:
    """`data.options` validated against `model`; DataError naming the key on a mistake."""
    try:
        return model.model_validate(cfg.data.options)
    except ValidationError as err:
        e = err.errors()[0]
        key = "".join(f".{p}" for p in e["loc"])
        if e["type"] == "extra_forbidden":
            msg = f"unknown key; allowed: {sorted(model.model_fields)}"
        else:
            msg = e["msg"].removeprefix("Value error, ")
        raise DataError(f"data.options{key} (source {cfg.data.source!r}): {msg}") from None


def cutoff_day(cutoff: str) -> date:
    """The last day a cut-off covers: 'YYYY-MM-DD' as is, 'YYYY-MM' → that month's last day."""
    try:
        if len(cutoff) == 7:
            year, month = (int(p) for p in cutoff.split("-"))
            return date(year, month, calendar.monthrange(year, month)[1])
        return date.fromisoformat(cutoff)
    except ValueError:
        raise UserError(f"cutoff {cutoff!r}: expected YYYY-MM-DD, YYYY-MM or 'auto'") from None
