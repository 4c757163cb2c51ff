"""One column's drift test: categories are compared as prepare reads them, whatever each side's dtype."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mtlops.monitoring.drift import CATEGORICAL, JENSEN_SHANNON, column_drift
from mtlops.schema import MonitorConfig


@pytest.fixture
def codes() -> pd.Series:
    return pd.Series(np.random.default_rng(0).integers(1, 5, size=4000), dtype="int64")


def test_integer_codes_read_back_as_floats_with_blanks_do_not_drift(codes):
    """A CSV turns a code column with a blank into floats (3 → 3.0): the same categories, no drift."""
    as_floats = codes.astype("float64").mask(np.arange(len(codes)) % 40 == 0)
    drift = column_drift("shop", codes, as_floats, MonitorConfig(), kind=CATEGORICAL)

    assert drift.test == JENSEN_SHANNON and drift.statistic < 0.01 and not drift.drifted


def test_a_flood_of_a_new_code_drifts(codes):
    flooded = codes.where(np.arange(len(codes)) % 2 == 1, 9).astype("float64")
    drift = column_drift("shop", codes, flooded, MonitorConfig(), kind=CATEGORICAL)

    assert drift.drifted and drift.statistic >= MonitorConfig().distance
