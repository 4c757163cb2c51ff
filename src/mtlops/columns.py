"""How raw column values are read and judged: numbers, categories, text.

The preprocessor reads features and the task types read labels by these same rules, so a column
means the same thing in either role and a wrong kind fails with the same message naming it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mtlops.errors import DataError

_NUMERIC_KINDS = {"integer", "floating", "mixed-integer-float", "boolean", "decimal", "empty"}
_TEXT_KINDS = {"string", "empty"}


class SchemaError(DataError):
    """A column (feature or label) is missing or holds the wrong kind of values."""


def numeric_values(s: pd.Series, column: str, role: str = "") -> np.ndarray:
    """float64 values of a numeric (or boolean) column, NaN where missing; text raises SchemaError.

    `role` is said after the column's name in the message, e.g. " (task 'churn')".
    """
    if not (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)):
        kind = pd.api.types.infer_dtype(s, skipna=True)
        if kind not in _NUMERIC_KINDS:
            raise SchemaError(f"column {column!r}{role} must be numeric, got {kind} values (e.g. {_example(s)!r})")
    return pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def check_text(s: pd.Series, column: str) -> None:
    if s.isna().all():
        return
    kind = pd.api.types.infer_dtype(s, skipna=True)
    if kind not in _TEXT_KINDS:
        raise SchemaError(f"column {column!r} must hold text, got {kind} values (e.g. {_example(s)!r})")


def _example(s: pd.Series) -> Any:
    values = s.dropna()
    bad = values[pd.to_numeric(values, errors="coerce").isna()]
    value = (bad if len(bad) else values).iloc[0] if len(values) else None
    return value.item() if isinstance(value, np.generic) else value


def category_strings(s: pd.Series) -> pd.Series:
    """Values as strings (NA where missing); integral floats print as ints, so 3 and 3.0 are one category."""
    if pd.api.types.is_float_dtype(s):
        finite = s.dropna()
        if np.isfinite(finite).all() and (finite == np.floor(finite)).all():
            s = s.astype("Int64")
    return s.astype("string")


def class_indices(s: pd.Series, classes: list[Any], column: str, role: str = "") -> tuple[np.ndarray, np.ndarray]:
    """Each label's index into `classes` (-1 where missing) and the labelled rows. Labels and classes compare
    as category strings, so 3, 3.0 and "3" are one class; a label outside them raises SchemaError naming it."""
    mask = s.notna().to_numpy()
    idx = pd.Index(category_strings(pd.Series(classes))).get_indexer(category_strings(s))
    outside = mask & (idx < 0)
    if outside.any():
        bad = s[outside].iloc[0]
        bad = bad.item() if isinstance(bad, np.generic) else bad
        hint = ""
        if isinstance(bad, str) and any(isinstance(c, bool) for c in classes):
            hint = " (YAML reads an unquoted yes/no/on/off as a boolean: quote the classes, e.g. ['no', 'yes'])"
        raise SchemaError(f"column {column!r}{role} has labels outside its classes {classes}, e.g. {bad!r}{hint}")
    return idx, mask


# ------------------------------------------------------------------------------------------ column names
OTHER_SEPARATORS = (";", "\t", "|")


def other_separator(names: list[Any]) -> str | None:
    """The separator a CSV seems to use when its comma-read header is one column holding one (`;`: a
    European spreadsheet's export), else None."""
    return next((sep for sep in OTHER_SEPARATORS if len(names) == 1 and sep in str(names[0])), None)


def same_name(a: Any, b: Any) -> bool:
    """Whether two column names differ only by case or surrounding spaces ('Age ' and 'age')."""
    return str(a).strip().casefold() == str(b).strip().casefold()


def check_names(names: list[Any], declared: dict[str, str], origin: str) -> None:
    """Raise DataError naming the column when a declared column is duplicated or ambiguous in `names`.

    `names`: the data's column names as written (a CSV header before pandas renames a second 'age'
    to 'age.1'); `declared`: column → the config key that declares it. A declared column must appear
    exactly once, no other column may differ from it only by case or spaces, and no declared name may
    be a name pandas made up for a duplicate.
    """
    counts: dict[str, int] = {}
    for name in names:
        counts[str(name)] = counts.get(str(name), 0) + 1
    for column, key in declared.items():
        if counts.get(column, 0) > 1:
            where = [i + 1 for i, n in enumerate(names) if str(n) == column]
            raise DataError(f"{origin}: column {column!r} ({key}) appears {counts[column]} times in the data "
                            f"(positions {where}); rename or drop the copies")
        twins = [str(n) for n in names if str(n) != column and same_name(n, column)]
        if column in counts and twins:
            raise DataError(f"{origin}: column {column!r} ({key}) is ambiguous: the data also has {twins}, "
                            "which differ only by case or spaces; rename one")
        base, dot, suffix = column.rpartition(".")
        if column not in counts and dot and suffix.isdigit() and counts.get(base, 0) > int(suffix):
            raise DataError(f"{origin}: column {column!r} ({key}) is not in the data's header: pandas makes that "
                            f"name up for a repeated {base!r}; rename the copies")
