"""Data sources by name: `data.source` picks one of `SOURCES`; the contract is `base.Source`.

Adding a source: one file here with a `Source` subclass, and one line in `SOURCES`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mtlops.data.sources.base import Source
from mtlops.data.sources.digits_boxes import DigitsBoxes
from mtlops.data.sources.file import File
from mtlops.data.sources.flights import Flights
from mtlops.data.sources.food_reviews import FoodReviews
from mtlops.data.sources.r_datasets import RDatasets
from mtlops.data.sources.synthetic import Synthetic
from mtlops.errors import DataError

if TYPE_CHECKING:
    from mtlops.schema import Config

SOURCES: dict[str, Source] = {
    "flights": Flights(),
    "synthetic": Synthetic(),
    "file": File(),
    "digits_boxes": DigitsBoxes(),
    "food_reviews": FoodReviews(),
    "rdatasets": RDatasets(),
}


def source_of(cfg: Config) -> Source:
    """The source `data.source` names."""
    if cfg.data.source not in SOURCES:
        raise DataError(f"data.source: unknown source {cfg.data.source!r}; allowed: {sorted(SOURCES)}")
    return SOURCES[cfg.data.source]
