"""GX validation results -> the JSON-able summary (failed expectations, warnings, drift checks)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

SHORT_LIST = 10  # long value sets (all seen categories) are cut in the summary; Data Docs has them whole


def summarize(results: list[Any]) -> dict[str, Any]:
    """Failures by severity, drift checks and GX statistics per suite, from one checkpoint's suite results."""
    failed, warnings, drift, stats = [], [], [], {}
    for suite_result in results:
        stats[suite_result.suite_name] = suite_result.statistics
        for r in suite_result.results:
            e = _entry(_plain(r.to_json_dict()))
            if "drift" in e:
                drift.append(_drift_check(e, r.success))
            if not r.success:
                (failed if e["severity"] == "critical" else warnings).append(e)
    evaluated = sum(s.get("evaluated_expectations", 0) for s in stats.values())
    return {
        "success": not failed,
        "statistics": {"evaluated": evaluated, "failed": len(failed), "warnings": len(warnings), "suites": stats},
        "failed": failed,
        "warnings": warnings,
        "drift_checks": drift,
    }


def _entry(d: dict[str, Any]) -> dict[str, Any]:
    config = d["expectation_config"]
    kwargs = dict(config.get("kwargs") or {})
    result = d.get("result") or {}
    column = kwargs.pop("column", None) or kwargs.pop("column_list", None)
    kwargs.pop("batch_id", None)
    entry: dict[str, Any] = {
        "expectation": config["type"],
        "column": column,
        "severity": config.get("severity") or "critical",
        "observed": _observed(result),
        "expected": {k: _short(v) for k, v in kwargs.items()},
    }
    error = _exception(d.get("exception_info") or {})
    if error:
        entry["error"] = error
    meta = config.get("meta") or {}
    if "drift" in meta:
        entry |= {"drift": meta["drift"], "level": meta["level"], "threshold": meta["threshold"]}
        entry["value"] = _drift_value(meta, result)
    return entry


def _observed(result: dict[str, Any]) -> Any:
    if "observed_value" in result:
        return _short(result["observed_value"])
    if "unexpected_count" in result:
        out = {k: result[k] for k in ("element_count", "unexpected_count", "unexpected_percent") if k in result}
        out["partial_unexpected_list"] = _short(result.get("partial_unexpected_list", []))
        return out
    return None


def _exception(info: dict[str, Any]) -> str | None:
    if info.get("raised_exception"):
        return info.get("exception_message")
    for value in info.values():  # GX also nests exception info per metric
        if isinstance(value, dict) and value.get("raised_exception"):
            return value.get("exception_message")
    return None


def _drift_value(meta: dict[str, Any], result: dict[str, Any]) -> float | None:
    """The measured drift in the check's own units: relative row change, unseen share, or shift in stds."""
    check, observed = meta["drift"], result.get("observed_value")
    if check == "row_count_change":
        ref = meta["reference"]
        value = abs(observed - ref) / ref if ref and observed is not None else None
    elif check == "unseen_categories":
        pct = result.get("unexpected_percent_nonmissing", result.get("unexpected_percent"))
        value = pct / 100 if pct is not None else None
    elif check == "mean_shift":
        value = abs(observed - meta["reference"]) / meta["scale"] if _number(observed) else None
    elif check == "quantile_shift":
        values = (observed or {}).get("values") or []
        diffs = [abs(v - q) for v, q in zip(values, meta["reference"], strict=False) if _number(v)]
        value = max(diffs) / meta["scale"] if diffs else None
    else:  # pragma: no cover - the suite only builds the checks above
        value = None
    return round(value, 6) if value is not None else None


def _drift_check(entry: dict[str, Any], success: bool) -> dict[str, Any]:
    status = "ok" if success else entry["level"]
    return {
        "check": entry["drift"],
        "column": entry["column"],
        "level": entry["level"],
        "status": status,
        "value": entry["value"],
        "threshold": entry["threshold"],
    }


def _plain(value: Any) -> Any:
    """NumPy scalars (GX leaves some in observed values) as Python numbers, so the summary is plain JSON."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None  # NaN/inf (an empty column's mean) are not JSON
    return value


def _number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _short(value: Any) -> Any:
    if isinstance(value, list) and len(value) > SHORT_LIST:
        return [*value[:SHORT_LIST], f"... {len(value) - SHORT_LIST} more"]
    return value
