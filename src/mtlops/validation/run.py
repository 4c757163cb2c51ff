"""The validate stage: the raw snapshot against its contract and the last accepted profile.

Writes `reports/validation/summary.json` (always: on failure it is the report), the page
`reports/validation/index.html` (readable offline) and the GX Data Docs in `reports/validation/data_docs/`;
replaces `data/profile/accepted.json` only when the snapshot passes.

The summary's `status` is `passed`, `failed` or `skipped` (`validation.enabled: false`: nothing was
checked, so `success` is null, not true; the promotion gate refuses such a model while
`promotion.require_validation` is true).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mtlops.errors import DataError
from mtlops.io import atomic_dir, write_json, write_text
from mtlops.validation import ValidationFailed

if TYPE_CHECKING:
    from mtlops.paths import Paths
    from mtlops.schema import Config

SKIPPED = "skipped"
DISABLED = "validation.enabled is false: the snapshot was not checked"


def validate(cfg: Config, paths: Paths) -> dict[str, Any]:
    """Validate the raw snapshot; return the summary, or raise ValidationFailed (summary written either way)."""
    start = time.perf_counter()
    summary: dict[str, Any] = {
        "success": False,
        "snapshot": _rel(paths.raw_snapshot, paths),
        "report": _rel(paths.validation_summary, paths),
    }
    if not cfg.validation.enabled:
        summary |= {"success": None, "status": SKIPPED, "enabled": False, "reason": DISABLED,
                    "drift": {"skipped": True, "reason": DISABLED}}
        write_json(paths.validation_summary, summary)
        return summary

    from mtlops.data.ingest import read_snapshot

    timings: dict[str, float] = {}
    try:
        df = read_snapshot(paths)
    except DataError as err:
        summary["error"] = str(err)
        write_json(paths.validation_summary, summary)
        raise
    timings["read_s"] = _since(start)
    summary |= {"rows": len(df), "columns": len(df.columns)}

    tick = time.perf_counter()
    import great_expectations as gx

    from mtlops.validation.engine import run_checkpoint
    from mtlops.validation.profile import categories_as_read, load_profile, new_days, profile_of, snapshot_days
    from mtlops.validation.report import render_html, summarize
    from mtlops.validation.suite import contract_suite, drift_suite

    df = categories_as_read(df, cfg)
    profile = load_profile(paths.accepted_profile)
    suites = [contract_suite(cfg)]
    arrived = new_days(df, cfg, profile) if profile is not None else None
    drift = drift_suite(cfg, profile, snapshot_days(df, cfg), arrived) if profile is not None else None
    if drift is not None:
        suites.append(drift)
    timings["setup_s"] = _since(tick)

    tick = time.perf_counter()
    with atomic_dir(paths.data_docs_dir) as docs:
        results = run_checkpoint(df, suites, docs)
    timings["validate_and_docs_s"] = _since(tick)

    outcome = summarize(results)
    checks = outcome.pop("drift_checks")
    summary |= outcome
    summary["drift"] = _drift_section(cfg, paths, profile, drift, checks)
    if arrived and not summary["drift"]["skipped"]:
        summary["drift"]["new_days"] = {k: arrived[k] for k in ("first", "last", "days")}
    summary["data_docs"] = _rel(paths.data_docs_dir / "index.html", paths)
    summary["page"] = _rel(paths.validation_report, paths)
    summary["gx_version"] = gx.__version__

    if summary["success"]:
        tick = time.perf_counter()
        write_json(paths.accepted_profile, profile_of(df, cfg))
        timings["profile_s"] = _since(tick)
    summary["profile_updated"] = summary["success"]
    summary["status"] = "passed" if summary["success"] else "failed"
    summary["timings"] = timings | {"total_s": _since(start)}
    write_json(paths.validation_summary, summary)
    write_text(paths.validation_report, render_html(summary, results, paths.data_docs_dir, paths.validation_dir))
    if not summary["success"]:
        raise ValidationFailed(summary)
    return summary


def _drift_section(
    cfg: Config, paths: Paths, profile: dict[str, Any] | None, suite: Any, checks: list[dict[str, Any]]
) -> dict[str, Any]:
    d = cfg.validation.drift
    off = [name for name in type(d).model_fields if getattr(d, name).level == "off"]
    if profile is None:
        return {"skipped": True, "reason": "no accepted profile yet (first validated snapshot)", "off": off}
    if suite is None:
        return {"skipped": True, "reason": "every drift check is off", "off": off}
    return {
        "skipped": False,
        "reference": _rel(paths.accepted_profile, paths),
        "reference_rows": profile["rows"],
        "reference_days": profile.get("days"),
        "warnings": sum(c["status"] == "warn" for c in checks),
        "failures": sum(c["status"] == "fail" for c in checks),
        "off": off,
        "checks": checks,
    }


def _rel(path: Path, paths: Paths) -> str:
    try:
        return str(path.relative_to(paths.root))
    except ValueError:
        return str(path)


def _since(t: float) -> float:
    return round(time.perf_counter() - t, 3)
