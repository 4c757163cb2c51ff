"""Task types: one module per kind of label, each owning its loss names, metrics, label encoding,
output columns and LightGBM baseline (see `base.TaskType`).

The rest of mtlops looks a task's type up here and never switches on its name: adding a type is one
module with a `TaskType` subclass plus one line in `TASK_TYPES`, and its head class plus one line in
`mtlops.models.heads.HEADS`. Imports numpy only (sklearn and pandas inside the functions that use
them; never torch) and nothing of mtlops but `errors` and the column reading rules of
`mtlops.columns`, so the params schema can validate against it and reading a config loads no torch.
"""

from mtlops.errors import UserError
from mtlops.task_types.base import Metric, TaskType
from mtlops.task_types.binary import Binary
from mtlops.task_types.multi_regression import MultiRegression
from mtlops.task_types.multiclass import Multiclass
from mtlops.task_types.regression import Regression

TASK_TYPES: dict[str, TaskType] = {
    "binary": Binary(),
    "multiclass": Multiclass(),
    "regression": Regression(),
    "multi_regression": MultiRegression(),
}


class UnknownTaskType(UserError, ValueError):
    """A task names a type that is not in `TASK_TYPES`."""


def task_type(name: str) -> TaskType:
    """The registered type called `name`; UnknownTaskType naming the allowed ones otherwise."""
    try:
        return TASK_TYPES[name]
    except KeyError:
        raise UnknownTaskType(f"unknown task type {name!r}; allowed: {list(TASK_TYPES)}") from None


__all__ = ["TASK_TYPES", "Metric", "TaskType", "UnknownTaskType", "task_type"]
