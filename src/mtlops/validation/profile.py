"""The accepted snapshot's profile: the drift reference for the next run (pandas only, no GX).

`{"rows": n, "days": d, "last_day": "YYYY-MM-DD", "quantiles": [...], "numeric": {col: {"mean", "std",
"quantiles": [...]}}, "categorical": {col: [seen categories]}}`; `days` is the span of `data.date_column`
(first to last day, both counted; None without a date column), so drift can judge the arrival rate,
rows per day, and `last_day` its last day, so drift can judge the days that arrived since on their own
(`new_days`): a cumulative snapshot dilutes a thin newest month in its whole span. Quantiles use the
same interpolation as GX's pandas metric ("nearest"), so an unchanged snapshot shows zero shift.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mtlops.errors import DataError
from mtlops.io import read_json
from mtlops.task_types import task_type

if TYPE_CHECKING:
    import pandas as pd

    from mtlops.schema import Config

QUANTILES = [0.05, 0.25, 0.5, 0.75, 0.95]


def numeric_columns(cfg: Config) -> list[str]:
    """Numeric features and label columns (a label's mean is its positive rate or its level)."""
    labels = [c for t in cfg.tasks if task_type(t.type).label_kind(t) == "numeric" for c in t.columns]
    return list(dict.fromkeys([*cfg.features.numeric, *labels]))


def categorical_columns(cfg: Config) -> list[str]:
    return list(cfg.features.categorical)


def categories_as_read(df: pd.DataFrame, cfg: Config) -> pd.DataFrame:
    """The snapshot with its number- or bool-coded categorical features as the category strings prepare reads
    (`mtlops.columns.category_strings`: 3 and 3.0 are "3"), so validation and the accepted profile judge the
    categories the model sees; text columns stay as they are, so a value of the wrong type still fails."""
    import pandas as pd

    from mtlops.columns import category_strings

    coded = [c for c in categorical_columns(cfg) if c in df.columns
             and (pd.api.types.is_numeric_dtype(df[c]) or pd.api.types.is_bool_dtype(df[c]))]
    return df.assign(**{c: category_strings(df[c]) for c in coded}) if coded else df


def profile_of(df: pd.DataFrame, cfg: Config) -> dict[str, Any]:
    """Row count, per numeric column mean/std/quantiles, per categorical column the categories seen."""
    import pandas as pd

    numeric = {}
    for col in numeric_columns(cfg):
        values = pd.to_numeric(df[col], errors="coerce").astype("float64").dropna()
        if values.empty:
            continue
        numeric[col] = {
            "mean": float(values.mean()),
            "std": _finite(values.std()),
            "quantiles": [float(q) for q in values.quantile(QUANTILES, interpolation="nearest")],
        }
    categorical = {col: sorted(map(str, df[col].dropna().unique())) for col in categorical_columns(cfg)}
    return {"rows": len(df), "days": snapshot_days(df, cfg), "last_day": _last_day(df, cfg), "quantiles": QUANTILES,
            "numeric": numeric, "categorical": categorical}


def snapshot_days(df: pd.DataFrame, cfg: Config) -> int | None:
    """Days from the first to the last date of `data.date_column`, both counted; None without one."""
    import pandas as pd

    column = cfg.data.date_column
    if not column or column not in df.columns:
        return None
    dates = pd.to_datetime(df[column], errors="coerce").dropna()
    if dates.empty:
        return None
    return int((dates.max().normalize() - dates.min().normalize()).days) + 1


def _dates(df: pd.DataFrame, cfg: Config) -> pd.Series | None:
    import pandas as pd

    column = cfg.data.date_column
    if not column or column not in df.columns:
        return None
    dates = pd.to_datetime(df[column], errors="coerce").dropna()
    return None if dates.empty else dates


def _last_day(df: pd.DataFrame, cfg: Config) -> str | None:
    dates = _dates(df, cfg)
    return None if dates is None else str(dates.max().date())


def new_days(df: pd.DataFrame, cfg: Config, profile: dict[str, Any]) -> dict[str, Any] | None:
    """The days of `df` after the reference's last day: {"first", "last", "days", "condition"} (`condition`:
    a pandas row condition selecting their rows); None when there are none or the profile predates `last_day`."""
    import pandas as pd

    dates, last = _dates(df, cfg), profile.get("last_day")
    if dates is None or not last:
        return None
    first = pd.Timestamp(last) + pd.Timedelta(days=1)
    if dates.dt.tz is not None:
        first = first.tz_localize(dates.dt.tz)
    end = dates.max().normalize()
    days = int((end - first).days) + 1
    if days <= 0:
        return None
    column = str(cfg.data.date_column).replace("`", "")
    return {"first": str(first.date()), "last": str(end.date()), "days": days,
            "condition": f'`{column}` >= "{first.isoformat()}"'}


def load_profile(path: Path) -> dict[str, Any] | None:
    """The accepted profile, or None before the first accepted snapshot."""
    if not path.exists():
        return None
    try:
        profile = read_json(path, "accepted profile")
    except ValueError as err:
        raise DataError(f"{err} (delete it to re-baseline drift)") from None
    if not isinstance(profile, dict) or not isinstance(profile.get("rows"), int):
        raise DataError(f"{path}: not an accepted-snapshot profile (no row count); delete it to re-baseline drift")
    return profile


def _finite(x: float) -> float:
    return float(x) if math.isfinite(x) else 0.0

