"""What the packaged model's outputs learn from the validation split, before it is logged: each task type's
`output_rule` (a binary task's `_label` threshold, chosen to maximise F1: `mtlops.task_types.binary`).

The rules join the model's task entries (its `model_config`, so serving and `mtlops predict` apply them)
and its MLflow metadata (`output_rules`, so a reader sees each threshold and how it was chosen).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mtlops.task_types import task_type

if TYPE_CHECKING:
    from mtlops.paths import Paths


def with_output_rules(tasks: list[dict[str, Any]], paths: Paths) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(the task entries with their rules added, {task: rule} for the tasks that have one), from the trained
    model's predictions on `data/processed/val.npz`."""
    from mtlops.data.prepare import load_split
    from mtlops.training import load_model, predict

    val = load_split(paths, "val")
    model: Any = load_model(paths.checkpoint)  # one network or a composite: `predict` takes either
    preds = predict(model, val)
    out, rules = [], {}
    for entry in tasks:
        name = entry["name"]
        rule = task_type(entry["type"]).output_rule(entry, val[f"y_{name}"], preds[name], val[f"mask_{name}"])
        out.append({**entry, **rule})
        if rule:
            rules[name] = rule
    return out, rules
