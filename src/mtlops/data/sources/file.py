"""A user's CSV or Parquet file (`data.file.path`, `data.file.format`: auto | csv | parquet).

Every problem with the file itself (missing, unreadable, empty, unknown format) raises
`DataError` with one line naming the file; declared columns are checked by ingest.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from mtlops.errors import DataError

if TYPE_CHECKING:
    from mtlops.schema import Config

_SUFFIXES = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".parquet": "parquet", ".pq": "parquet"}


def _path_and_format(cfg: Config) -> tuple[Path, str]:
    spec = cfg.data.file
    if not spec.path:
        raise DataError("data.file.path: empty; set it to a CSV or Parquet file")
    path = Path(spec.path)
    fmt = spec.format
    if fmt == "auto":
        suffixes = [s for s in path.suffixes if s not in (".gz", ".bz2", ".zip", ".xz", ".zst")]
        fmt = _SUFFIXES.get(suffixes[-1].lower() if suffixes else "", "")
        if not fmt:
            raise DataError(f"{path}: cannot tell the format from the file name; set data.file.format (csv | parquet)")
    if not path.is_file():
        raise DataError(f"{path}: file not found (data.file.path)")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: file is empty")
    return path, fmt


def _read_csv(path: Path, **kwargs) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t" if ".tsv" in path.suffixes else ",", **kwargs)


def _read_error(path: Path, fmt: str, err: Exception) -> DataError:
    detail = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return DataError(f"{path}: not a readable {fmt.upper() if fmt == 'csv' else 'Parquet'} file: {detail}")


def columns(cfg: Config) -> set[str]:
    """The file's column names, from its header / schema alone."""
    path, fmt = _path_and_format(cfg)
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            names = pq.read_schema(path).names
            names = [n for n in names if not n.startswith("__index_level_")]
        else:
            names = list(_read_csv(path, nrows=0).columns)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: file is empty") from None
    except Exception as err:  # pyarrow/pandas raise many types for a broken file
        raise _read_error(path, fmt, err) from None
    if not names:
        raise DataError(f"{path}: file has no columns")
    return set(names)


def load(cfg: Config) -> pd.DataFrame:
    path, fmt = _path_and_format(cfg)
    try:
        if fmt == "parquet":
            df = pd.read_parquet(path)
        else:
            df = _read_csv(path, low_memory=False)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: file is empty") from None
    except Exception as err:
        raise _read_error(path, fmt, err) from None
    if df.empty:
        raise DataError(f"{path}: file has no rows")
    return df.reset_index(drop=True)
