"""Register: the pipeline run's MLflow run gets everything, and a new model version gets alias `challenger`.

The run is the flow run's (`retrain <date> <flow run name>`) or the DVC experiment's (`exp <name>`),
with the search run nested under it; a stage run alone gets its own (`register <project>`). It holds
everything needed to judge the model later: the flattened config as params, per-epoch losses and task
weights, the test metrics (a headline the runs table shows, as in reports/headline.json: `<task>.<metric>`
of the multi-task model, `delta_m.vs_stl`, `delta_m.vs_gbdt`; every other figure under a prefix:
`test_mtl/`, `test_served/`, `test_stl/`, `test_gbdt/`, `diff_vs_stl/`, `diff_vs_gbdt/`, `served_diff_vs_stl/`,
`served_diff_vs_gbdt/`, `delta_m/`, `cost/`, `n_test/`,
`train/`, `train_loss/`, `val_loss/`, `weights/`), the training and test data as dataset inputs, the
validation report, the evaluation
report and plots, the search summary, and the pyfunc model. The new version carries per-task metrics,
Δm and lineage (code commit, data hashes, params hash, validation, search) as tags, and its page in the
MLflow UI (description and `task.*` tags) is `mtlops.registry.version_page`'s.

Retry-safe: the outputs' fingerprint is a tag; if a version with that fingerprint already exists
(a retried flow, a rerun after a crash past registration) it is reused rather than duplicated.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from mtlops.errors import DataError
from mtlops.registry import version_page
from mtlops.registry.lineage import DELTA_M, METRIC
from mtlops.registry.store import CHALLENGER
from mtlops.tracking import parent_run

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion

    from mlflow import MlflowClient
    from mtlops.paths import Paths
    from mtlops.schema import Config

FINGERPRINT = "mtlops.fingerprint"
_MAX_PARAM = 6000  # MLflow's limit on a param value


# ---------------------------------------------------------------------------------------- flattening
def flatten(data: Any, prefix: str = "", sep: str = ".") -> dict[str, Any]:
    """Nested dicts (and lists of dicts) → `{"a.b.0.c": leaf}`; other lists stay whole."""
    out: dict[str, Any] = {}
    items: Iterable[tuple[Any, Any]]
    if isinstance(data, dict):
        items = data.items()
    elif isinstance(data, list) and data and all(isinstance(x, dict) for x in data):
        items = enumerate(data)
    else:
        return {prefix: data}
    for key, value in items:
        out.update(flatten(value, f"{prefix}{sep}{key}" if prefix else str(key), sep))
    return out


def _numbers(data: Any, sep: str = "/") -> dict[str, float]:
    """The numeric leaves of a report (bools and lists left out), for MLflow metrics."""
    return {
        k: float(v)
        for k, v in flatten(data, sep=sep).items()
        if isinstance(v, (int, float)) and not isinstance(v, bool)
    }


def params_of(cfg: Config) -> dict[str, str]:
    """The whole config as MLflow params (`train.lr`, `tasks.0.metric`, …)."""
    out = {}
    for key, value in flatten(cfg.model_dump(mode="json")).items():
        text = value if isinstance(value, str) else json.dumps(value)
        out[key] = text if len(text) <= _MAX_PARAM else text[: _MAX_PARAM - 1] + "…"
    return out


def version_metric_tags(metrics: dict[str, Any]) -> dict[str, str]:
    """`metric.<task>.<name>` for every test metric of the registered (served) model, every Δm
    (`delta_m.vs_stl`, `delta_m.served_vs_gbdt`, …), the primary names."""
    tags = {}
    for task, entry in metrics.get("tasks", {}).items():
        tags[f"{METRIC}{task}.primary"] = str(entry.get("metric"))
        for name, value in (entry.get("served") or entry.get("mtl") or {}).items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                tags[f"{METRIC}{task}.{name}"] = repr(float(value))
    for key, value in (metrics.get("delta_m") or {}).items():
        if value is not None:
            tags[f"{DELTA_M}{key}"] = repr(float(value))
    return tags


# ------------------------------------------------------------------------------------------ the stage
def fingerprint(cfg: Config, paths: Paths) -> str:
    """A hash of what the version is made of: checkpoint, preprocessor, metrics and the config."""
    digest = hashlib.sha256(f"{cfg.project.model_name}\0{cfg.section_hash()}".encode())
    served = sorted(p for p in paths.model_dir.rglob("*") if p.is_file())  # the network and what serves beside it
    for path in (*served, paths.preprocessor, paths.metrics):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:32]


def _require(paths: Paths) -> None:
    for path, stage in (
        (paths.metrics, "evaluate"),
        (paths.checkpoint, "train"),
        (paths.preprocessor, "prepare"),
        (paths.processed_meta, "prepare"),
        (paths.test_raw, "prepare"),
    ):
        if not path.is_file():
            raise DataError(f"{path}: not found; run `mtlops {stage}` first")


def _existing(client: MlflowClient, name: str, fp: str) -> ModelVersion | None:
    versions = [v for v in client.search_model_versions(f"name = '{name}'") if v.tags.get(FINGERPRINT) == fp]
    return max(versions, key=lambda v: int(v.version)) if versions else None


def register(cfg: Config, paths: Paths) -> dict[str, Any]:
    """Log the run, register a new version of `project.model_name`, point `challenger` at it."""
    from mlflow import MlflowClient
    from mtlops.io import write_json
    from mtlops.tracking import setup_mlflow

    _require(paths)
    experiment_id = setup_mlflow(cfg, paths)
    client = MlflowClient()
    name = cfg.project.model_name
    fp = fingerprint(cfg, paths)

    version = _existing(client, name, fp)
    reused = version is not None
    if version is None:
        version = _log_and_register(cfg, paths, client, experiment_id, fp)
    client.set_registered_model_alias(name, CHALLENGER, str(version.version))

    result = {
        "model_name": name,
        "version": str(version.version),
        "run_id": version.run_id,
        "model_uri": f"models:/{name}/{version.version}",
        "source": version.source,
        "alias": CHALLENGER,
        "reused": reused,
    }
    write_json(paths.registration, result)
    return result


def _log_and_register(
    cfg: Config, paths: Paths, client: MlflowClient, experiment_id: str, fp: str
) -> ModelVersion:
    import mlflow
    from mtlops.io import read_json
    from mtlops.registry.lineage import collect
    from mtlops.registry.model_card import log_card
    from mtlops.registry.pyfunc import log_model

    metrics = read_json(paths.metrics, "evaluation metrics")
    lineage_tags = collect(cfg, paths)
    parent = parent_run(cfg, paths)
    own = {"experiment_id": experiment_id, "run_name": f"register {cfg.project.name}"}
    run_args: dict[str, Any] = {"run_id": parent} if parent else own
    with mlflow.start_run(**run_args) as run:
        run_id = run.info.run_id
        mlflow.set_tags({**lineage_tags, FINGERPRINT: fp, "mtlops.stage": "register"})
        mlflow.log_params(params_of(cfg))
        _log_history(client, run_id, paths)
        mlflow.log_metrics(run_metrics(metrics))
        _log_datasets(paths)
        _log_reports(paths)
        mlflow.log_dict(cfg.model_dump(mode="json"), "config/params.yaml")
        info = log_model(cfg, paths)
        tags = {**lineage_tags, **version_metric_tags(metrics), FINGERPRINT: fp}
        version = mlflow.register_model(info.model_uri, cfg.project.model_name, tags=tags)
        version_page.write(client, version, _head(cfg, paths), metrics)
    log_card(client, client.get_model_version(version.name, version.version))  # registry/model_card.py
    return client.get_model_version(version.name, version.version)


def run_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """metrics.json as MLflow metrics: the headline (short names), then every figure under its group's prefix."""
    out: dict[str, Any] = {}
    for task, entry in metrics.get("tasks", {}).items():
        primary = entry["metric"]
        out[f"{task}.{primary}"] = (entry.get("mtl") or {}).get(primary)
        for model in ("mtl", "served", "stl", "gbdt"):
            out |= {f"test_{model}/{task}.{name}": v for name, v in (entry.get(model) or {}).items()}
        for diff_key in ("diff_vs_stl", "diff_vs_gbdt", "served_diff_vs_stl", "served_diff_vs_gbdt"):
            diff = entry.get(diff_key) or {}
            out[f"{diff_key}/{task}"] = diff.get("value")
            out |= {f"{diff_key}/{task}.{k}": diff.get(k) for k in ("ci_low", "ci_high")}
        out[f"n_test/{task}"] = entry.get("n_test")
    for key, value in (metrics.get("delta_m") or {}).items():  # the served model's Δm under a prefix
        out[f"delta_m/{key}" if key.startswith("served_") else f"delta_m.{key}"] = value
    for key, interval in (metrics.get("delta_m_ci") or {}).items():
        out |= {f"delta_m/{key}.{end}": value for end, value in interval.items()}
    for model, figures in (metrics.get("cost") or {}).items():
        out |= {f"cost/{model}.{name}": value for name, value in figures.items()}
    affinity = metrics.get("affinity") or {"tasks": [], "matrix": []}
    for source, row in zip(affinity["tasks"], affinity["matrix"]):
        out |= {f"affinity/{source}_to_{target}": v for target, v in zip(affinity["tasks"], row)}
    return {
        k: float(v)
        for k, v in out.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    }


def _log_datasets(paths: Paths) -> None:
    """The training split (the arrays the model learnt from) and the test split (raw rows) as run inputs."""
    import warnings

    import pandas as pd
    from mlflow.data.numpy_dataset import from_numpy  # mlflow.data gets these at run time: mypy can't see them
    from mlflow.data.pandas_dataset import from_pandas

    import mlflow
    from mtlops.data.prepare import load_split

    train = load_split(paths, "train")
    features = {k: v for k, v in train.items() if not k.startswith(("y_", "mask_"))}
    targets = {k: v for k, v in train.items() if k.startswith("y_")}
    test = pd.read_parquet(paths.test_raw)
    with warnings.catch_warnings():  # MLflow registers two identical sources for local paths and says so
        warnings.filterwarnings("ignore", message="The specified dataset source can be interpreted in multiple ways")
        source = str(paths.split_arrays("train"))
        train_set = from_numpy(features, source=source, targets=targets, name="train")
        test_set = from_pandas(test, source=str(paths.test_raw), name="test")
    mlflow.log_input(train_set, context="training")
    mlflow.log_input(test_set, context="evaluation")


def _log_history(client: MlflowClient, run_id: str, paths: Paths) -> None:
    """Per-epoch, per-task losses and task weights at step = epoch (`train_loss/<task>`, `weights/<task>`,
    `train/val_objective`, `train/seconds`)."""
    from mlflow.entities import Metric

    from mtlops.io import read_json

    if not paths.history.is_file():
        return
    report = read_json(paths.history, "training history")
    now = int(time.time() * 1000)
    rows: list[Metric] = []
    for row in report.get("history", []):
        step = int(row.get("epoch", len(rows)))
        figures = {k if isinstance(v, dict) else f"train/{k}": v for k, v in row.items() if k != "epoch"}
        for key, value in _numbers(figures).items():
            if math.isfinite(value):
                rows.append(Metric(key, value, now, step))
    for key in ("wall_time_s", "n_params", "best_epoch", "epochs_run"):
        if isinstance(report.get(key), (int, float)):
            rows.append(Metric(f"train/{key}", float(report[key]), now, 0))
    if rows:
        client.log_batch(run_id, metrics=rows)


def _log_reports(paths: Paths) -> None:
    """The reports a reviewer reads, under the run's artifacts (missing optional ones are skipped)."""
    import mlflow

    files = {
        "evaluation": [paths.metrics, paths.summary, paths.baselines_metrics],
        "training": [paths.history, paths.grouping],
        "search": [paths.search_summary],
        "data": [paths.processed_meta, paths.raw_meta, paths.root / "dvc.lock"],
    }
    for folder, items in files.items():
        for path in items:
            if path.is_file():
                mlflow.log_artifact(str(path), artifact_path=folder)
    for folder, path in (("evaluation/plots", paths.plots_dir), ("validation", paths.validation_dir)):
        if path.is_dir():
            mlflow.log_artifacts(str(path), artifact_path=folder)


def _head(cfg: Config, paths: Paths) -> str:
    """The version page's first line: the model that was trained (history.json's, else the config's)."""
    from mtlops.io import read_json

    history = read_json(paths.history) if paths.history.is_file() else {}
    arch = (history.get("architecture") or {}).get("name", cfg.model.architecture.name)
    weighting = (history.get("weighting") or {}).get("name", cfg.model.weighting.name)
    groups = [g["tasks"] for g in history.get("groups", [])]  # a composite: one network per group
    return version_page.head(cfg.project.name, arch, weighting, groups)
