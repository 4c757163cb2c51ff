"""Train / validation / test parts of the snapshot, with no leakage between them.

- time (`split.method: time`, by `data.date_column`): validation and test are the trailing
  `val_days` / `test_days` days of the snapshot, or start at the explicit `val_start` / `test_start`;
  so as new data arrives, the test window moves forward with it.
- random: a permutation seeded by `project.seed`, cut by `val_fraction` / `test_fraction`.

`split.max_train_rows` keeps the newest training rows (time) or a seeded sample of them (random).
Each part keeps the snapshot's row order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mtlops.errors import DataError

if TYPE_CHECKING:
    from mtlops.schema import Config

PARTS = ("train", "val", "test")


def as_days(s: pd.Series, column: str) -> pd.Series:
    """The column as datetime64 days; a value that is not a date raises DataError naming the column."""
    try:
        days = pd.to_datetime(s, utc=True).dt.tz_convert(None).dt.normalize()  # zoned times: UTC days
    except (ValueError, TypeError) as err:
        raise DataError(f"column {column!r} (data.date_column) holds values that are not dates: {err}") from None
    if days.isna().any():
        raise DataError(
            f"column {column!r} (data.date_column) has {int(days.isna().sum())} rows without a date; "
            "the time split needs every row dated"
        )
    return days


def parse_day(value: str, key: str) -> pd.Timestamp:
    """A params date as a day; a bad one is a DataError naming the key."""
    try:
        return pd.Timestamp(value).normalize()
    except (ValueError, TypeError):
        raise DataError(f"{key}: {value!r} is not a date (use YYYY-MM-DD)") from None


def split_frame(df: pd.DataFrame, cfg: Config) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """({train, val, test} → rows, how it was cut); a part left empty raises DataError naming the keys."""
    s = cfg.split
    if s.method == "time":
        masks, info = _time_masks(df, cfg)
    else:
        masks, info = _random_masks(len(df), cfg)
    for part, keys in info.pop("keys").items():  # the later part first: its start is the usual cause
        if not masks[part].any():
            raise DataError(f"split: the {part} part is empty ({info['described']}); check {', '.join(keys)}")
    info.pop("described")

    days = info.pop("_days", None)
    train = np.flatnonzero(masks["train"])
    if s.max_train_rows is not None and len(train) > s.max_train_rows:
        info["train_rows_before_cap"] = len(train)
        if days is not None:  # time: the newest rows, ties broken by row order
            order = np.argsort(days[train], kind="stable")
            train = np.sort(train[order[-s.max_train_rows :]])
        else:
            rng = np.random.default_rng(cfg.project.seed + 1)
            train = np.sort(rng.choice(train, size=s.max_train_rows, replace=False))
    info["max_train_rows"] = s.max_train_rows

    rows = {"train": train, "val": np.flatnonzero(masks["val"]), "test": np.flatnonzero(masks["test"])}
    info["rows"] = {p: len(idx) for p, idx in rows.items()}
    if days is not None:
        info["dates"] = {p: [str(pd.Timestamp(days[idx].min()).date()), str(pd.Timestamp(days[idx].max()).date())]
                         for p, idx in rows.items()}
    parts = {p: df.iloc[idx].reset_index(drop=True) for p, idx in rows.items()}
    return parts, info


def _time_masks(df: pd.DataFrame, cfg: Config) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    s, col = cfg.split, cfg.data.date_column
    assert col is not None, "the schema requires data.date_column for split.method time"
    if col not in df.columns:
        raise DataError(f"data.date_column: column {col!r} is not in the data")
    days = as_days(df[col], col)
    first, last = days.min(), days.max()
    test_start = (parse_day(s.test_start, "split.test_start") if s.test_start
                  else last - pd.Timedelta(days=s.test_days - 1))
    val_start = parse_day(s.val_start, "split.val_start") if s.val_start else test_start - pd.Timedelta(days=s.val_days)
    if val_start >= test_start:
        raise DataError(f"split.val_start {val_start.date()} must come before the test start {test_start.date()}")
    d = days.to_numpy()
    masks = {
        "train": d < val_start.to_datetime64(),
        "val": (d >= val_start.to_datetime64()) & (d < test_start.to_datetime64()),
        "test": d >= test_start.to_datetime64(),
    }
    val_keys = ["split.val_start"] if s.val_start else ["split.val_days"]
    test_keys = ["split.test_start"] if s.test_start else ["split.test_days"]
    info = {
        "method": "time",
        "date_column": col,
        "val_start": str(val_start.date()),
        "test_start": str(test_start.date()),
        "keys": {"test": test_keys, "val": val_keys + test_keys, "train": val_keys + test_keys},
        "described": (
            f"train < {val_start.date()} <= val < {test_start.date()} <= test; "
            f"the data's {col!r} runs {first.date()}..{last.date()}"
        ),
        "_days": d,
    }
    return masks, info


def _random_masks(n: int, cfg: Config) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    s = cfg.split
    n_test, n_val = round(n * s.test_fraction), round(n * s.val_fraction)
    perm = np.random.default_rng(cfg.project.seed).permutation(n)
    part = np.zeros(n, dtype=np.int8)  # 0 train, 1 val, 2 test
    part[perm[:n_test]] = 2
    part[perm[n_test : n_test + n_val]] = 1
    masks = {"train": part == 0, "val": part == 1, "test": part == 2}
    info = {
        "method": "random",
        "seed": cfg.project.seed,
        "val_fraction": s.val_fraction,
        "test_fraction": s.test_fraction,
        "keys": {
            "test": ["split.test_fraction"],
            "val": ["split.val_fraction"],
            "train": ["split.val_fraction", "split.test_fraction"],
        },
        "described": f"{n} rows, val_fraction {s.val_fraction:g}, test_fraction {s.test_fraction:g}",
    }
    return masks, info
