"""`mtlops monitor`: the champion between two retrains — its inputs' drift, its predictions' drift and, where
labels have arrived, each task's realised metric against the one recorded when it was promoted.

Reads the registry (the champion, its run's `config/params.yaml` and `data/snapshot.json`, its recorded
metrics), the champion's source (and `--rows`); writes `reports/monitor/` (report.html — one page that
renders offline —, monitor.json, figures/*.png) and an MLflow run `monitor <model> v<version> <date>`
holding them, whose metrics are logged against the champion's model (MLflow 3 `model_id`: they show on
the version's model page) and whose id the version keeps in its `monitor.*` tags.
The rules are in `drift`, `health` and `verdict` beside this file; this module gathers and records.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mtlops.errors import UserError
from mtlops.metrics.compare import Comparison
from mtlops.monitoring.drift import column_drift, feature_drift
from mtlops.monitoring.verdict import decide

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion

    from mlflow import MlflowClient
    from mtlops.monitoring.drift import Drift
    from mtlops.monitoring.health import TaskHealth
    from mtlops.paths import Paths
    from mtlops.schema import Config, TaskConfig

MONITOR = "monitor."  # version tag prefix: verdict, run_id, at, window


def champion_config(client: MlflowClient, version: ModelVersion, cfg: Config) -> tuple[Config, dict | None, list[str]]:
    """The config the version was made with (its run's `config/params.yaml`), its snapshot facts, notes.

    A version whose config no longer validates (an older schema) is read with today's config, noted."""
    from mtlops.config import validate
    from mtlops.registry.store import run_artifact

    notes = []
    data = run_artifact(version.run_id, "config/params.yaml")
    try:
        if not isinstance(data, dict):
            raise UserError("not logged")
        champ_cfg = validate(data, source=f"v{version.version}'s config/params.yaml", params_dir=cfg.params_dir)
    except UserError as err:  # an old or missing record: today's config, said so
        notes.append(f"v{version.version}'s logged config unusable ({err}); read with today's params")
        champ_cfg = cfg
    snapshot = run_artifact(version.run_id, "data/snapshot.json")
    if snapshot is None:
        notes.append(f"v{version.version}'s run has no data/snapshot.json: its cut-off is unknown")
    return champ_cfg, snapshot, notes


def recorded_metric(version: ModelVersion, task: TaskConfig) -> float | None:
    """The task's primary metric recorded at promotion (`gate.metric.<task>`), else at registration."""
    for key in (f"gate.metric.{task.name}", f"metric.{task.name}.{task.metric}"):
        try:
            value = float(version.tags[key])
        except (KeyError, ValueError):
            continue
        if math.isfinite(value):
            return value
    return None


def recorded_rows(client: MlflowClient, version: ModelVersion) -> dict[str, int]:
    """Labelled test rows per task behind the recorded metrics (the version's run: `n_test/<task>`)."""
    metrics = client.get_run(version.run_id).data.metrics if version.run_id else {}
    return {k.removeprefix("n_test/"): int(v) for k, v in metrics.items() if k.startswith("n_test/") and v > 0}


def monitor(cfg: Config, paths: Paths, rows: str | Path | None = None, cutoff: str | None = None,
            version: str | int | None = None, today: date | None = None, log_run: bool = True) -> dict[str, Any]:
    """Monitor the champion (or `version`) on the arriving rows; returns (and writes) the result with its verdict."""
    import numpy as np

    from mtlops.data.contract import encode_labels
    from mtlops.metrics.compare import PairedResamples
    from mtlops.monitoring.health import task_health
    from mtlops.monitoring.rows import champion_window
    from mtlops.registry.measure import TestRows, output_frame, predictions
    from mtlops.registry.store import CHAMPION, ModelRef, connect, get_version, load_pyfunc

    clock = _Clock()
    client = connect(paths)
    name = cfg.project.model_name
    champion = get_version(client, ModelRef(name, version=str(version)) if version else ModelRef(name, alias=CHAMPION))
    champ_cfg, snapshot, notes = champion_config(client, champion, cfg)
    window = champion_window(champ_cfg, snapshot, cfg.monitor, Path(rows) if rows else None, cutoff, today)
    notes += window.notes
    clock.lap("rows")

    who = f"champion v{champion.version}"
    model = load_pyfunc(champion, check_requirements=False)
    current_out = output_frame(model, window.current, champ_cfg, who, "the arriving rows")
    reference_out = output_frame(model, window.reference, champ_cfg, who, "the reference rows")
    preds = predictions(model, TestRows(window.current, {}), champ_cfg, who, frame=current_out)
    clock.lap("score")

    features = champ_cfg.features
    skipped = [c for c in (features.text, features.image) if c]
    if skipped:
        notes.append(f"not tested for drift (text/image): {skipped}")
    missing = [c for c in [*features.numeric, *features.categorical] if c not in window.current.columns]
    if missing:
        raise UserError(f"monitor: the arriving rows ({window.origin}) lack feature column(s) {missing}")
    drift = feature_drift(window.reference, window.current, features.numeric, features.categorical, cfg.monitor)
    prediction_drift = [column_drift(c, reference_out[c], current_out[c], cfg.monitor) for c in current_out.columns]
    clock.lap("drift")

    resamples = PairedResamples(len(window.current), cfg.monitor.bootstrap, cfg.project.seed)
    test_rows = recorded_rows(client, champion)
    health: dict[str, TaskHealth] = {}
    for champ_task in champ_cfg.target_tasks:  # an auxiliary task is never served
        task = cfg.task(champ_task.name) if champ_task.name in cfg.task_names else champ_task  # today's tolerance
        if all(c in window.current.columns for c in champ_task.columns):
            y, mask = encode_labels(window.current, champ_task)
        else:
            y, mask = np.zeros(len(window.current)), np.zeros(len(window.current), dtype=bool)
        health[task.name] = task_health(task, y, mask, preds[task.name], recorded_metric(champion, task), resamples,
                                        cfg.monitor, cfg.evaluation.calibration_bins, test_rows.get(task.name),
                                        cfg.project.seed)
    verdict = decide(drift, prediction_drift, health)
    clock.lap("health")
    result = {
        "model_name": name,
        "version": str(champion.version),
        "verdict": verdict.state,
        "exit_code": verdict.exit_code,
        "reasons": verdict.reasons,
        "notes": notes,
        "checked_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "window": {"origin": window.origin, "champion_end": window.champion_end, "cutoff": window.cutoff,
                   "source_changed": window.source_changed,
                   "arriving_rows": len(window.current), "reference_rows": len(window.reference)},
        "features": {"share": drift.share, "threshold": drift.threshold, "drifted": drift.drifted,
                     "columns": [_drift_json(d) for d in drift.features]},
        "predictions": [_drift_json(d) for d in prediction_drift],
        "tasks": {t: _health_json(h) for t, h in health.items()},
        "policy": cfg.monitor.model_dump(mode="json"),
        "report": str(monitor_dir(paths) / "report.html"),
        "seconds": clock.laps,
    }
    _write(paths, result, window, reference_out, current_out)
    clock.lap("report")
    if log_run:
        result["mlflow_run_id"] = _log(cfg, paths, client, champion, result)
        clock.lap("mlflow")
        _write(paths, result, window, reference_out, current_out)
    return result


class _Clock:
    """Seconds per phase (what a monitor costs, in its own record)."""

    def __init__(self) -> None:
        import time

        self._now, self._last = time.perf_counter, time.perf_counter()
        self.laps: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = self._now()
        self.laps[name] = round(now - self._last, 3)
        self._last = now


def _number(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


def _drift_json(d: Drift) -> dict[str, Any]:
    return {"column": d.column, "kind": d.kind, "test": d.test, "statistic": _number(d.statistic),
            "threshold": d.threshold, "drifted": d.drifted, "reference_rows": d.reference_rows,
            "current_rows": d.current_rows, "note": d.note}


def _health_json(h: TaskHealth) -> dict[str, Any]:
    out: dict[str, Any] = {"metric": h.metric, "higher_is_better": h.higher_is_better, "labelled": h.labelled,
                           "recorded": _number(h.recorded), "verdict": h.verdict, "text": h.text}
    if isinstance(h.evidence, Comparison):
        change = h.evidence.change
        out |= {"realised": _number(h.evidence.candidate), "change": _number(change.value),
                "change_ci_low": _number(change.ci_low), "change_ci_high": _number(change.ci_high)}
    else:
        out["why_not_judged"] = h.evidence
    return out


def monitor_dir(paths: Paths) -> Path:
    return paths.reports_dir / "monitor"


def _write(paths: Paths, result: dict[str, Any], window, reference_out, current_out) -> None:
    """reports/monitor/: report.html, monitor.json, figures/ — replaced whole (a reader never sees a mix)."""
    from mtlops.io import atomic_dir
    from mtlops.monitoring.report import figures, html_page

    with atomic_dir(monitor_dir(paths)) as tmp:
        pngs = figures(result, reference_out, current_out)
        (tmp / "figures").mkdir()
        for fname, data in pngs.items():
            (tmp / "figures" / fname).write_bytes(data)
        (tmp / "report.html").write_text(html_page(result, pngs), encoding="utf-8")
        (tmp / "monitor.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _log(cfg: Config, paths: Paths, client: MlflowClient, version: ModelVersion, result: dict[str, Any]) -> str:
    """The monitoring run: report, figures and figures' numbers, linked to the version both ways."""
    import mlflow
    from mtlops.tracking import setup_mlflow

    experiment_id = setup_mlflow(cfg, paths)
    day = result["checked_at"][:10]
    tags = {"mtlops.stage": "monitor", "mtlops.monitor.model": version.name,
            "mtlops.monitor.version": str(version.version), "mtlops.monitor.verdict": result["verdict"]}
    metrics = {"monitor/drift_share": result["features"]["share"],
               "monitor/arriving_rows": result["window"]["arriving_rows"]}
    metrics |= {f"monitor/drift.{c['column']}": c["statistic"] for c in result["features"]["columns"]
                if c["statistic"] is not None}
    for task, h in result["tasks"].items():
        metrics |= {f"monitor/{task}.{k}": h[k] for k in ("realised", "change", "change_ci_low", "change_ci_high")
                    if h.get(k) is not None}
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"monitor {version.name} v{version.version} {day}",
                          tags=tags) as run:
        mlflow.log_metrics({k: float(v) for k, v in metrics.items()}, model_id=getattr(version, "model_id", None))
        mlflow.log_artifacts(str(monitor_dir(paths)), artifact_path="monitor")
        run_id = run.info.run_id
    for key, value in {"verdict": result["verdict"], "run_id": run_id, "at": result["checked_at"],
                       "window": result["window"]["origin"]}.items():
        client.set_model_version_tag(version.name, version.version, f"{MONITOR}{key}", str(value)[:5000])
    return run_id
