"""The two sets of rows the monitor compares: what the champion was made from, and what arrived since.

Both come from the champion's own record, not from today's workspace: its config (`config/params.yaml`
in its run) and its snapshot's facts (`data/snapshot.json`: the last date of its data).

- Reference: the champion's source loaded with its config, the rows up to its cut-off, the newest
  `monitor.reference_rows` of them.
- Arriving rows: a file the user gives (`--rows PATH`, CSV or Parquet), or, for a source with an
  `arrival` hook (flights), the source loaded with the keys that hook gives for a later cut-off
  (`--cutoff`, default the champion's last day + `monitor.window_days`): the rows after the champion's
  last day up to it. One load serves both sets then.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mtlops.errors import DataError, UserError

if TYPE_CHECKING:
    import pandas as pd

    from mtlops.schema import Config, MonitorConfig


@dataclass
class Window:
    reference: pd.DataFrame
    current: pd.DataFrame
    origin: str  # where the arriving rows came from, in words
    champion_end: str | None  # the last day of the champion's data (None: no date column)
    cutoff: str | None  # the cut-off the arriving rows run to (a source with an arrival hook), for retraining
    notes: list[str] = field(default_factory=list)
    source_changed: str | None = None  # the sha256 of the user's data file when it differs from the champion's


def nested(keys: dict[str, Any]) -> dict[str, Any]:
    """{"data.flights.end": v} → {"data": {"flights": {"end": v}}} (a config overlay)."""
    out: dict[str, Any] = {}
    for dotted, value in keys.items():
        *parents, last = dotted.split(".")
        node = out
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return out


def read_rows(path: Path) -> pd.DataFrame:
    """A CSV or Parquet file of arriving rows (features, and labels where they have arrived)."""
    import pandas as pd

    from mtlops.registry.predict_table import file_format

    if not path.is_file():
        raise DataError(f"{path}: file of arriving rows not found")
    try:
        df = pd.read_csv(path) if file_format(path) == "csv" else pd.read_parquet(path)
    except (OSError, ValueError) as err:
        raise DataError(f"{path}: cannot read the arriving rows: {err}") from None
    if df.empty:
        raise DataError(f"{path}: no rows")
    return df


def _dated(df: pd.DataFrame, column: str, origin: str) -> pd.DataFrame:
    import pandas as pd

    if column not in df.columns:
        raise DataError(f"{origin}: no column {column!r} (data.date_column)")
    if not pd.api.types.is_datetime64_any_dtype(df[column]):
        df = df.assign(**{column: pd.to_datetime(df[column], errors="coerce")})
    return df


def _newest(df: pd.DataFrame, n: int, date_column: str | None) -> pd.DataFrame:
    if date_column:
        df = df.sort_values(date_column, kind="stable")
    return df.tail(n).reset_index(drop=True)


def champion_window(champ_cfg: Config, snapshot: dict[str, Any] | None, policy: MonitorConfig,
                    rows_path: Path | None = None, cutoff: str | None = None, today: date | None = None) -> Window:
    """The reference and the arriving rows for the champion made with `champ_cfg` (see above)."""
    from mtlops.config import with_overrides
    from mtlops.data.sources import source_of
    from mtlops.data.sources.base import cutoff_day

    source = source_of(champ_cfg)
    origin = source.origin(champ_cfg)
    date_col = champ_cfg.data.date_column
    end: str | None = ((snapshot or {}).get("date_range") or {}).get("max") if date_col else None
    notes: list[str] = []

    if rows_path is not None:
        current = read_rows(rows_path)
        reference = source.load(champ_cfg)
        if end and date_col:
            reference = _dated(reference, date_col, origin)
            reference = reference[reference[date_col] <= end]
        recorded = (snapshot or {}).get("input_sha256")
        now = (source.record(champ_cfg) or {}).get("sha256")
        changed: str | None = now if recorded and now and recorded != now else None
        if recorded and changed:
            notes.append(f"{origin}: the file changed since the champion's snapshot (sha256 {recorded[:12]} → "
                         f"{changed[:12]}): new data landed; the reference is today's file")
        return Window(_newest(reference, policy.reference_rows, date_col if end else None), current,
                      f"file {rows_path}", end, None, notes, changed)

    if not end or not date_col:
        why = "no data.date_column" if not date_col else "its snapshot records no date range"
        raise UserError(f"monitor: the champion's data has {why}, so arriving rows cannot be told apart; "
                        "give them with --rows PATH")
    new_cutoff = cutoff or (date.fromisoformat(end) + timedelta(days=policy.window_days)).isoformat()
    keys = source.arrival(champ_cfg, new_cutoff, today or date.today())
    if keys is None:
        raise UserError(f"monitor: {origin} has no arrival hook (new data does not arrive by a cut-off); "
                        "give the arriving rows with --rows PATH")
    last = cutoff_day(new_cutoff).isoformat() if new_cutoff != "auto" else None
    rows = _dated(source.load(with_overrides(champ_cfg, nested(keys))), date_col, origin)
    current = rows[rows[date_col] > end]
    if last:
        current = current[current[date_col] <= last]
    if current.empty:
        raise DataError(f"monitor: {origin}: no rows arrived after the champion's last day {end} "
                        f"(up to {last or new_cutoff})")
    reference = rows[rows[date_col] <= end]
    first_day, last_day = current[date_col].min().date(), current[date_col].max().date()
    return Window(_newest(reference, policy.reference_rows, date_col), current.reset_index(drop=True),
                  f"{origin}, {first_day}..{last_day} (cut-off {new_cutoff})", end, new_cutoff, notes)
