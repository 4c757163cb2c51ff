"""Splits: time order without leakage, seeded random parts, row caps, and parts left empty."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mtlops.data.splits import split_frame
from mtlops.errors import DataError
from tests.data.helpers import config_of
from tests.helpers import synthetic_params


def _dated(n_days: int = 100, per_day: int = 3) -> pd.DataFrame:
    days = pd.date_range("2024-01-01", periods=n_days, freq="D").repeat(per_day)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(days))  # rows not in date order: the split must not rely on it
    return pd.DataFrame({"id": np.arange(len(days)), "when": days[order] + pd.Timedelta(hours=5), "x0": 1.0})


def _time_cfg(**split):
    return config_of(synthetic_params(), {"data": {"date_column": "when"}, "split": {"method": "time", **split}})


def test_time_split_uses_trailing_windows_in_order():
    df = _dated()
    parts, info = split_frame(df, _time_cfg(val_days=10, test_days=5))
    train, val, test = (parts[p]["when"].dt.normalize() for p in ("train", "val", "test"))
    assert train.max() < val.min() and val.max() < test.min()
    assert test.nunique() == 5 and val.nunique() == 10 and test.max() == pd.Timestamp("2024-04-09")
    assert info["test_start"] == "2024-04-05" and info["val_start"] == "2024-03-26"
    assert sum(len(p) for p in parts.values()) == len(df)
    assert sorted(pd.concat(parts.values())["id"]) == list(range(len(df)))  # a partition


def test_time_split_with_explicit_starts():
    parts, info = split_frame(_dated(), _time_cfg(val_start="2024-02-01", test_start="2024-03-01"))
    assert parts["train"]["when"].max() < pd.Timestamp("2024-02-01")
    assert parts["val"]["when"].min() >= pd.Timestamp("2024-02-01")
    assert parts["val"]["when"].max() < pd.Timestamp("2024-03-01") <= parts["test"]["when"].min()
    assert info["dates"]["test"] == ["2024-03-01", "2024-04-09"]


def test_time_split_caps_train_to_the_newest_rows():
    parts, info = split_frame(_dated(), _time_cfg(val_days=10, test_days=5, max_train_rows=12))
    assert len(parts["train"]) == 12 and info["train_rows_before_cap"] == 85 * 3
    # the 4 newest training days, 3 rows each
    assert set(parts["train"]["when"].dt.normalize()) == set(pd.date_range("2024-03-22", "2024-03-25"))


@pytest.mark.parametrize(
    ("split", "needle"),
    [
        ({"test_start": "2025-01-01"}, "test part is empty.*split.test_start"),
        ({"val_days": 95, "test_days": 5}, "train part is empty.*split.val_days"),
        ({"val_start": "2024-04-05", "test_start": "2024-04-06"}, "val part is empty.*split.val_start"),
    ],
)
def test_time_split_that_leaves_a_part_empty_names_the_keys(split, needle):
    df = _dated()
    df = df[df["when"].dt.normalize() != pd.Timestamp("2024-04-05")]  # a day without rows
    with pytest.raises(DataError, match=needle):
        split_frame(df, _time_cfg(**split))


def test_time_split_needs_dates():
    df = _dated(10)
    df.loc[3, "when"] = pd.NaT
    with pytest.raises(DataError, match=r"'when'.*without a date"):
        split_frame(df, _time_cfg(val_days=2, test_days=2))
    df["when"] = "not a date"
    with pytest.raises(DataError, match="'when'"):
        split_frame(df, _time_cfg(val_days=2, test_days=2))


def test_random_split_is_a_seeded_partition():
    df = pd.DataFrame({"id": np.arange(1000), "x0": 0.0})
    cfg = config_of(synthetic_params(), {"split": {"val_fraction": 0.1, "test_fraction": 0.2}})
    parts, info = split_frame(df, cfg)
    again, _ = split_frame(df, cfg)
    other, _ = split_frame(df, config_of(synthetic_params(), {"project": {"seed": 5}, "split": {
        "val_fraction": 0.1, "test_fraction": 0.2}}))
    assert info["rows"] == {"train": 700, "val": 100, "test": 200}
    ids = {p: set(parts[p]["id"]) for p in parts}
    assert not (ids["train"] & ids["val"]) and not (ids["train"] & ids["test"]) and not (ids["val"] & ids["test"])
    assert all(parts[p]["id"].equals(again[p]["id"]) for p in parts)
    assert set(other["test"]["id"]) != ids["test"]
    assert parts["train"]["id"].is_monotonic_increasing  # the snapshot's row order is kept


def test_random_split_cap_is_a_seeded_sample():
    df = pd.DataFrame({"id": np.arange(1000), "x0": 0.0})
    cfg = config_of(synthetic_params(), {"split": {"max_train_rows": 50}})
    a, _ = split_frame(df, cfg)
    b, _ = split_frame(df, cfg)
    assert len(a["train"]) == 50 and a["train"]["id"].equals(b["train"]["id"])
    assert a["train"]["id"].max() > 500  # a sample over the part, not its head


def test_random_split_on_too_few_rows_names_the_fraction():
    df = pd.DataFrame({"id": np.arange(3), "x0": 0.0})
    cfg = config_of(synthetic_params(), {"split": {"val_fraction": 0.1, "test_fraction": 0.4}})
    with pytest.raises(DataError, match=r"val part is empty.*split.val_fraction"):
        split_frame(df, cfg)
