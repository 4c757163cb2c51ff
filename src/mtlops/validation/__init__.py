"""The data gate: the raw snapshot must keep its contract (and not drift too far) before anything trains on it.

`mtlops.validation.run.validate(cfg, paths)` builds Great Expectations suites from the config and the
last accepted snapshot's profile, runs them, writes `reports/validation/` and raises `ValidationFailed`
on a violation. This module stays light (no GX import), so callers can catch the error cheaply.
"""

from __future__ import annotations

from typing import Any

from mtlops.errors import UserError

__all__ = ["ValidationFailed", "failure_message"]


class ValidationFailed(UserError):
    """The snapshot broke its contract (or drifted past a `fail` threshold); `summary` is the full report."""

    def __init__(self, summary: dict[str, Any]):
        self.summary = summary
        super().__init__(failure_message(summary))


def failure_message(summary: dict[str, Any]) -> str:
    """One line: the snapshot, then each failing column with the expectations it failed."""
    by_column: dict[str, list[str]] = {}
    for f in summary.get("failed", []):
        said = [part for part in (_brief(f.get("observed")), _remedy(f)) if part]
        name = f["expectation"] + (f" ({'; '.join(said)})" if said else "")
        if f.get("drift"):
            name = f"drift {f['drift']}"
            if f.get("value") is not None:
                name += f" {f['value']:.3g} > {f['threshold']:g}"
        by_column.setdefault(_column_label(f.get("column")), []).append(name)
    parts = [f"{col}: {', '.join(names)}" for col, names in by_column.items()]
    if summary.get("error"):
        parts.insert(0, summary["error"])
    rows = summary.get("rows")
    head = f"{summary.get('snapshot', 'snapshot')}: validation failed"
    if rows == 0:
        head += " (the snapshot has 0 rows)"
    report = summary.get("report")
    tail = f" (report: {report})" if report else ""
    return f"{head}: {'; '.join(parts) or 'see the report'}{tail}"


def _brief(observed: Any) -> str:
    """A few words on what was seen: a scalar, or how many values broke a per-row expectation."""
    if isinstance(observed, dict) and observed.get("unexpected_count"):
        examples = observed.get("partial_unexpected_list") or []
        return f"{observed['unexpected_count']} unexpected" + (f", e.g. {examples[0]!r}" if examples else "")
    if isinstance(observed, int | float | str) and not isinstance(observed, bool):
        return f"observed {observed!r}" if len(repr(observed)) <= 40 else ""
    return ""


def _remedy(failure: dict[str, Any]) -> str:
    """What the check wanted, where a user can read it off the config: the share of missing values allowed
    (and the key that allows more), the kind of values a column's role needs."""
    expected, column = failure.get("expected") or {}, failure.get("column")
    if failure["expectation"] == "expect_column_values_to_not_be_null" and isinstance(expected.get("mostly"), float):
        allowed = f"{100 * (1 - expected['mostly']):.3g} %"
        return f"at most {allowed} may be missing: validation.null_fraction.{column} allows more"
    if failure["expectation"] == "expect_column_values_to_be_in_type_list":
        types = expected.get("type_list") or []  # the report keeps the first few names of a long list
        return "expected text" if types == ["str"] else "expected numbers" if "int8" in types else ""
    return ""


def _column_label(column: Any) -> str:
    if column is None:
        return "table"
    if isinstance(column, list | tuple):
        return "+".join(map(str, column))
    return str(column)
