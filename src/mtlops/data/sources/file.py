"""A user's CSV or Parquet file (`data.file.path`, `data.file.format`: auto | csv | parquet).

A relative path is relative to the params file's folder (`cfg.params_dir`), never to the current
directory, so a run started from another folder still reads its own project's file. Every problem
with the file itself (missing, unreadable, empty, unknown format) raises `DataError` with one line
naming the file; so does a header in which a declared column is repeated or has a twin differing
only by case or spaces (pandas would rename the second 'age' to 'age.1' and read the first).
`record(cfg)` is what the snapshot keeps of the file: its absolute path, sha256 and size; messages
name the rows' origin by that absolute path.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mtlops.data.sources.base import Source
from mtlops.errors import DataError, first_line

if TYPE_CHECKING:
    import pandas as pd

    from mtlops.schema import Config, FileOptions

_SUFFIXES = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".parquet": "parquet", ".pq": "parquet"}


def resolved_path(cfg: Config) -> Path:
    """`data.file.path` as an absolute path: a relative one joined to the params file's folder."""
    path = Path(cfg.data.file.path).expanduser()
    return path if path.is_absolute() else (cfg.params_dir / path).resolve()


def _path_and_format(cfg: Config) -> tuple[Path, str]:
    spec = cfg.data.file
    if not spec.path:
        raise DataError("data.file.path: empty; set it to a CSV or Parquet file")
    path = resolved_path(cfg)
    fmt: str = spec.format
    if fmt == "auto":
        suffixes = [s for s in path.suffixes if s not in (".gz", ".bz2", ".zip", ".xz", ".zst")]
        fmt = _SUFFIXES.get(suffixes[-1].lower() if suffixes else "", "")
        if not fmt:
            raise DataError(f"{path}: cannot tell the format from the file name; set data.file.format (csv | parquet)")
    if not path.is_file():
        relative = not Path(spec.path).expanduser().is_absolute()
        where = f"; relative paths start at the params file's folder {cfg.params_dir}" if relative else ""
        raise DataError(f"{path}: file not found (data.file.path {spec.path!r}{where})")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: file is empty")
    return path, fmt


def _read_csv(path: Path, sep: str | None, **kwargs) -> pd.DataFrame:
    import pandas as pd

    return pd.read_csv(path, sep=sep or ("\t" if ".tsv" in path.suffixes else ","), **kwargs)


def _read_error(path: Path, fmt: str, err: Exception) -> DataError:
    return DataError(f"{path}: not a readable {fmt.upper() if fmt == 'csv' else 'Parquet'} file: {first_line(err)}")


def _header(path: Path, fmt: str, sep: str | None = None) -> list[Any]:
    """The column names as the file writes them (repeats kept: pandas would rename them)."""
    import pandas as pd

    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            return [n for n in pq.read_schema(path).names if not n.startswith("__index_level_")]
        row = _read_csv(path, sep, header=None, nrows=1, dtype=str, keep_default_na=False)
        return list(row.iloc[0]) if len(row) else []
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: file is empty") from None
    except Exception as err:  # pyarrow/pandas raise many types for a broken file
        raise _read_error(path, fmt, err) from None


def _checked_header(cfg: Config, path: Path, fmt: str) -> list[Any]:
    from mtlops.columns import check_names, other_separator
    from mtlops.data.contract import declared_keys

    names = _header(path, fmt, cfg.data.file.sep)
    if not names:
        raise DataError(f"{path}: file has no columns")
    sep = other_separator(names) if fmt == "csv" else None
    if sep:
        raise DataError(f"{path}: the header reads as one column {str(names[0])[:60]!r}; the file looks separated by "
                        f"{sep!r}: set data.file.sep: {sep!r}")
    check_names(names, declared_keys(cfg), str(path))
    return names


class File(Source):
    def options(self, cfg: Config) -> FileOptions:
        return cfg.data.file

    def origin(self, cfg: Config) -> str:
        return str(resolved_path(cfg))

    def columns(self, cfg: Config) -> set[str]:
        """The file's column names, from its header / schema alone (declared ones checked unambiguous)."""
        path, fmt = _path_and_format(cfg)
        return set(map(str, _checked_header(cfg, path, fmt)))

    def record(self, cfg: Config) -> dict[str, Any]:
        """What the snapshot keeps of the file it came from: absolute path, sha256 of its bytes, size."""
        path, _ = _path_and_format(cfg)
        with path.open("rb") as fh:
            sha256 = hashlib.file_digest(fh, "sha256").hexdigest()
        return {"path": str(path), "sha256": sha256, "bytes": path.stat().st_size}

    def split_rows(self, cfg: Config) -> pd.DataFrame:
        """The date column alone (or the first column, for a row count): one column read, not the file."""
        path, fmt = _path_and_format(cfg)
        names = _checked_header(cfg, path, fmt)
        column = cfg.data.date_column if cfg.data.date_column in names else names[0]
        df = self.load(cfg, columns=[column])
        return df if column == cfg.data.date_column else df.iloc[:, :0]

    def load(self, cfg: Config, columns: list[Any] | None = None) -> pd.DataFrame:
        import pandas as pd

        path, fmt = _path_and_format(cfg)
        _checked_header(cfg, path, fmt)
        try:
            if fmt == "parquet":
                df = pd.read_parquet(path, columns=columns)
            else:
                df = _read_csv(path, cfg.data.file.sep, low_memory=False, usecols=columns)
        except pd.errors.EmptyDataError:
            raise DataError(f"{path}: file is empty") from None
        except Exception as err:
            raise _read_error(path, fmt, err) from None
        if df.empty:
            raise DataError(f"{path}: file has no rows")
        return df.reset_index(drop=True)
