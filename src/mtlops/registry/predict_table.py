"""Batch scoring: a CSV/Parquet file of raw feature rows → a file of per-task predictions.

Rows are read and scored `batch_size` at a time, so files larger than memory work; the output (CSV or
Parquet by extension) keeps the input's row order, carries the input's columns (all of them by default,
or the ones asked for) in front of the `pred_…` columns, and appears only when complete.

The result does not depend on `batch_size`. Batches go straight to the model's own checks, which judge
values (a number, a category, text), not the dtype pandas guessed for one batch: MLflow's schema check
refuses a category column that one batch happens to leave empty. A CSV's carried columns get the type
reading the whole file would give them (found in a first pass), and its text column is read as text.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mtlops.columns import other_separator
from mtlops.errors import DataError, UserError

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow.parquet as pq

    from mtlops.paths import Paths

FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
KEEP = {"all", "none"}  # which input columns the output keeps (or a list of columns)


def file_format(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise UserError(f"{path}: unknown file type {path.suffix!r}; use one of {sorted(FORMATS)}")
    return fmt


def columns_of(path: Path, fmt: str) -> list[str]:
    import pandas as pd
    import pyarrow.parquet as pq

    try:
        if fmt == "csv":
            names = [str(c) for c in pd.read_csv(path, nrows=0).columns]
            sep = other_separator(names)
            if sep:
                raise DataError(f"{path}: the header reads as one column; the file looks separated by {sep!r}, and "
                                "scoring reads comma-separated CSV or Parquet")
            return names
        return list(pq.ParquetFile(path).schema_arrow.names)
    except (OSError, ValueError) as err:
        raise DataError(f"{path}: cannot read {fmt}: {err}") from None


def csv_dtypes(path: Path, columns: Sequence[str], batch_size: int) -> dict[str, str]:
    """The dtype each column gets when the whole CSV is read at once, found a batch at a time: the
    widest over the batches (integers and floats give float; any other mix gives text)."""
    import pandas as pd

    def kind(dtype) -> str:
        for name, test in (("bool", pd.api.types.is_bool_dtype), ("int64", pd.api.types.is_integer_dtype),
                           ("float64", pd.api.types.is_float_dtype)):  # fmt: skip
            if test(dtype):
                return name
        return "str"

    widest: dict[str, str] = {}
    if columns:
        for chunk in pd.read_csv(path, usecols=list(columns), chunksize=batch_size):
            for col in columns:
                seen, now = widest.setdefault(col, kind(chunk[col].dtype)), kind(chunk[col].dtype)
                if seen != now:
                    widest[col] = "float64" if {seen, now} <= {"int64", "float64"} else "str"
    return widest


def batches(path: Path, fmt: str, batch_size: int, dtypes: dict[str, str] | None = None) -> Iterator[pd.DataFrame]:
    """The file's rows, `batch_size` at a time; a CSV's columns named in `dtypes` read as those types."""
    import pandas as pd
    import pyarrow.parquet as pq

    if fmt == "csv":
        yield from pd.read_csv(path, chunksize=batch_size, dtype=dtypes)
    else:
        for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_size):
            yield batch.to_pandas()


def predict_file(
    model_ref: str,
    input_path: str | Path,
    output_path: str | Path,
    batch_size: int = 50000,
    paths: Paths | None = None,
    keep_columns: Sequence[str] | None = None,
    keep: str = "all",
) -> dict[str, Any]:
    """Score `input_path` with a registered model (`name@alias`, `name/version`, `models:/…`).

    The output holds input columns, then the predictions: `keep_columns` when given, else `keep` = "all"
    (every input column, features included, so the output can be scored again or joined back) or "none"
    (the predictions alone). An input column named like a prediction column (`pred_…`, e.g. a file scored
    before) is refused rather than overwritten.
    """
    from mlflow.exceptions import MlflowException

    from mtlops.io import atomic_path
    from mtlops.registry.pyfunc import output_columns
    from mtlops.registry.store import ModelRef, connect, get_version, load_pyfunc

    input_path, output_path = Path(input_path), Path(output_path)
    in_fmt, out_fmt = file_format(input_path), file_format(output_path)
    if batch_size < 1:
        raise UserError(f"batch_size must be at least 1, got {batch_size}")
    if keep_columns is None and keep not in KEEP:
        raise UserError(f"keep must be one of {sorted(KEEP)} or a list of columns, got {keep!r}")
    if not input_path.is_file():
        raise DataError(f"{input_path}: input file not found")
    client = connect(paths)
    ref = ModelRef.parse(model_ref)
    version = get_version(client, ref)
    # the model's own checks, per value (see above); its pins are this install's: no requirements scan
    model = load_pyfunc(version, check_requirements=False).unwrap_python_model()

    features = model.features
    outputs = [c for task in model.tasks for c in output_columns(task)]
    columns = columns_of(input_path, in_fmt)
    missing = [c for c in features if c not in columns]
    if missing:
        raise DataError(f"{input_path}: missing column(s) {missing} that model {ref} needs")
    carry = list(keep_columns) if keep_columns is not None else list(columns) if keep == "all" else []
    absent = [c for c in carry if c not in columns]
    if absent:
        raise DataError(f"{input_path}: no column(s) {absent} to keep")
    clash = [c for c in carry if c in outputs]
    if clash:
        raise DataError(f"{input_path}: column(s) {clash} have the names of prediction columns; rename or drop them")
    dtypes = None
    if in_fmt == "csv":  # carried columns, features among them, typed as the whole file would type them
        dtypes = csv_dtypes(input_path, carry, batch_size)
        dtypes |= {model.preprocessor.text: "str"} if model.preprocessor.text else {}

    rows = n_batches = 0
    with atomic_path(output_path) as tmp:
        writer = _Writer(tmp, out_fmt, output_path)
        try:
            for batch in batches(input_path, in_fmt, batch_size, dtypes):
                try:
                    preds = model.predict(None, batch[features])
                except MlflowException as err:
                    where = f"rows {rows + 1}-{rows + len(batch)}"
                    raise DataError(f"{input_path}: {where}: {err.message}") from None
                writer.write(_joined(batch[carry], preds))
                rows += len(batch)
                n_batches += 1
            if n_batches == 0:  # an empty input still gives a file with the output columns
                writer.write(_joined(_empty(carry, object), _empty(outputs, "float64")))
        finally:
            writer.close()
    return {
        "model": str(ref),
        "version": str(version.version),
        "input": str(input_path),
        "output": str(output_path),
        "rows": rows,
        "batches": n_batches,
        "columns": [*carry, *outputs],
    }


def _joined(left: pd.DataFrame, right: pd.DataFrame) -> pd.DataFrame:
    import pandas as pd

    return pd.concat([left.reset_index(drop=True), right.reset_index(drop=True)], axis=1)


def _empty(columns: list[str], dtype: Any) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame({c: pd.Series(dtype=dtype) for c in columns})


class _Writer:
    """Appends DataFrames to one CSV or Parquet file (the Parquet schema is the first batch's)."""

    def __init__(self, path: Path, fmt: str, target: Path) -> None:
        self.path, self.fmt, self.target = path, fmt, target
        self.parquet: pq.ParquetWriter | None = None
        self.first = True

    def write(self, df: pd.DataFrame) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self.fmt == "csv":
            df.to_csv(self.path, mode="w" if self.first else "a", header=self.first, index=False)
        else:
            table = pa.Table.from_pandas(df, preserve_index=False)
            if self.parquet is None:
                self.parquet = pq.ParquetWriter(self.path, table.schema)
            elif table.schema != self.parquet.schema:
                try:
                    table = table.cast(self.parquet.schema)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as err:
                    raise DataError(f"{self.target}: a later batch changes a column's type: {err}") from None
            self.parquet.write_table(table)
        self.first = False

    def close(self) -> None:
        if self.parquet is not None:
            self.parquet.close()
