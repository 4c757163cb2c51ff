"""GX validation results -> the JSON-able summary (failed expectations, warnings, drift checks), and the
page a person reads: `reports/validation/index.html`, one self-contained file (inline CSS, no script) that
renders without a network, unlike GX's Data Docs (their styles and tables load from CDNs); it links them.
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

SHORT_LIST = 10  # long value sets (all seen categories) are cut in the summary; Data Docs has them whole


def summarize(results: list[Any]) -> dict[str, Any]:
    """Failures by severity, drift checks and GX statistics per suite, from one checkpoint's suite results."""
    failed: list[dict[str, Any]] = []
    warnings: list[dict[str, Any]] = []
    drift: list[dict[str, Any]] = []
    stats: dict[str, Any] = {}
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
        out: dict[str, Any] = {k: result[k] for k in ("element_count", "unexpected_count", "unexpected_percent")
                               if k in result}
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
    if check in ("row_count_change", "arrival_rate"):
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


# ------------------------------------------------------------------------------------------ the page
STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:72em;padding:0 1em;color:#222}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.8em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;width:100%;margin:.5em 0}th,td{border:1px solid #ddd;padding:.3em .5em;
text-align:left;vertical-align:top}th{background:#f5f5f5}code{font-size:.92em}
.pass{color:#176f2c;font-weight:600}.fail{color:#b00020;font-weight:600}.warn{color:#9a6700;font-weight:600}
"""


def render_html(summary: dict[str, Any], results: list[Any], docs_dir: Path, page_dir: Path) -> str:
    """The validation result as one HTML page: outcome, failures, warnings, drift, every expectation,
    and links to the GX Data Docs pages (relative to `page_dir`, where the page is written)."""
    ok = summary.get("success")
    stats = summary.get("statistics", {})
    parts = [
        f"<h1>Validation of <code>{_e(summary.get('snapshot'))}</code>: "
        f"<span class='{'pass' if ok else 'fail'}'>{'passed' if ok else 'FAILED'}</span></h1>",
        f"<p>{_e(summary.get('rows'))} rows, {_e(summary.get('columns'))} columns; {_e(stats.get('evaluated'))} "
        f"expectations, {_e(stats.get('failed'))} failed, {_e(stats.get('warnings'))} warnings.</p>",
    ]
    for title, entries in (("Failed (the run stops)", summary.get("failed")), ("Warnings", summary.get("warnings"))):
        if entries:
            rows = [[e.get("column") or "(table)", e["expectation"], e.get("observed"), e.get("expected")]
                    for e in entries]  # fmt: skip
            parts += [f"<h2>{title}</h2>", _table(["column", "expectation", "observed", "expected"], rows)]
    drift = summary.get("drift") or {}
    parts.append("<h2>Drift against the last accepted snapshot</h2>")
    if drift.get("skipped", True):
        parts.append(f"<p>Skipped: {_e(drift.get('reason'))}.</p>")
    else:
        rows = [[c["check"], c.get("column") or "(table)", _status(c["status"]), c["value"], c["threshold"], c["level"]]
                for c in drift.get("checks", [])]  # fmt: skip
        parts.append(_table(["check", "column", "status", "value", "threshold", "level"], rows, raw=(2,)))
    for suite in results:
        rows = []
        for r in suite.results:
            e = _entry(_plain(r.to_json_dict()))
            status = "ok" if r.success else ("failed" if e["severity"] == "critical" else "warning")
            rows.append([e.get("column") or "(table)", e["expectation"], _status(status),
                         e.get("observed"), e.get("expected")])  # fmt: skip
        parts += [f"<h2>Every expectation: suite <code>{_e(suite.suite_name)}</code></h2>",
                  _table(["column", "expectation", "result", "observed", "expected"], rows, raw=(2,))]
    links = [f"<li><a href='{_e(p.relative_to(page_dir).as_posix())}'>{_e(p.relative_to(docs_dir).as_posix())}</a></li>"
             for p in sorted(docs_dir.glob("*/**/*.html"))] if docs_dir.is_dir() else []  # fmt: skip
    parts += ["<h2>GX Data Docs</h2>",
              "<p>Great Expectations' own pages (their styles and tables load from CDNs, so they need a network):</p>",
              f"<ul>{''.join(links)}</ul>"]  # fmt: skip
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>validation</title><style>{STYLE}</style>"
            f"</head><body>{''.join(parts)}</body></html>\n")  # fmt: skip


def _status(status: str) -> str:
    css = {"ok": "pass", "warn": "warn", "warning": "warn"}.get(status, "fail")
    return f"<span class='{css}'>{_e(status)}</span>"


def _table(head: list[str], rows: list[list[Any]], raw: tuple[int, ...] = ()) -> str:
    cells = "".join(
        "<tr>" + "".join(f"<td>{v if i in raw else _e(v)}</td>" for i, v in enumerate(row)) + "</tr>" for row in rows
    )
    return f"<table><tr>{''.join(f'<th>{h}</th>' for h in head)}</tr>{cells}</table>"


def _e(value: Any) -> str:
    """Escaped text; structures as compact JSON."""
    if isinstance(value, (dict, list)):
        value = json.dumps(value, default=str)
    return html.escape("" if value is None else str(value))
