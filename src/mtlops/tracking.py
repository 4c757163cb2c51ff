"""MLflow wiring shared by every stage that logs: the store, the experiment, the artifact folder, and
the one run a whole pipeline run (a flow run, a DVC experiment) logs into.

Default: the embedded sqlite store `mlflow/mlflow.db` with artifacts in `mlflow/artifacts`;
MLFLOW_TRACKING_URI points everything at a server instead.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mtlops.paths import Paths
    from mtlops.schema import Config


# MLflow 3's UI opens an experiment in its GenAI view (Traces) unless the experiment says it trains models
EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}


def tracking_uri(paths: Paths) -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or paths.default_tracking_uri


def point_mlflow_at(uri: str) -> None:
    """Set MLflow's tracking and registry URI for this process without exporting it.

    MLflow writes the URI into the environment; left there, the next project in this process (or
    a subprocess it starts) would read it back as the user's choice and use this project's store.
    """
    import mlflow

    user_set = {k: os.environ[k] for k in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI") if k in os.environ}
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    for key in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        if key in user_set:
            os.environ[key] = user_set[key]
        else:
            os.environ.pop(key, None)


def setup_mlflow(cfg: Config, paths: Paths) -> str:
    """Point MLflow at the store and make sure the experiment exists; returns its id."""
    import mlflow

    uri = tracking_uri(paths)
    if uri.startswith("sqlite:///"):
        paths.mlflow_dir.mkdir(parents=True, exist_ok=True)
    point_mlflow_at(uri)
    name = cfg.project.experiment
    experiment = mlflow.get_experiment_by_name(name)
    if experiment is None:
        artifact_location = None
        if uri == paths.default_tracking_uri:
            artifact_location = (paths.mlflow_dir / "artifacts").as_uri()
        experiment_id = mlflow.create_experiment(name, artifact_location=artifact_location, tags=EXPERIMENT_KIND)
    else:
        experiment_id = experiment.experiment_id
        if EXPERIMENT_KIND.items() - experiment.tags.items():  # an experiment made before the tag existed
            mlflow.MlflowClient().set_experiment_tag(experiment_id, *next(iter(EXPERIMENT_KIND.items())))
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


# ------------------------------------------------------------------------------- one run per pipeline run
PARENT_ENV = "MTLOPS_PARENT_RUN_ID"  # an existing run the stages log into (set by hand or by a caller)
PIPELINE_ENV = "MTLOPS_PIPELINE_RUN"  # the flow's pipeline run, made on first use: {"name", "key", "tags"}
PIPELINE_KEY = "mtlops.pipeline_key"
EXPERIMENT_TAG = "mtlops.dvc_experiment"


@dataclass(frozen=True)
class PipelineRun:
    """The MLflow run of one pipeline run (a flow run), created by the first stage that logs into it.

    A run in which every stage is up to date (DVC skips them all) logs nothing and leaves no run behind.
    Stages are separate processes: they find the run by its `mtlops.pipeline_key` tag.
    """

    name: str
    key: str
    tags: dict[str, str]

    def find(self, cfg: Config, paths: Paths) -> str | None:
        """The run's id, or None while no stage has logged into it."""
        from mlflow import MlflowClient

        uri = tracking_uri(paths)
        if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).exists():
            return None
        client = MlflowClient(uri)
        experiment = client.get_experiment_by_name(cfg.project.experiment)
        if experiment is None:
            return None
        found = client.search_runs([experiment.experiment_id], f"tags.`{PIPELINE_KEY}` = '{self.key}'", max_results=1)
        return found[0].info.run_id if found else None

    def get(self, cfg: Config, paths: Paths) -> str:
        """The run's id; made now (RUNNING, named `name`) when no stage has made it yet."""
        from mlflow import MlflowClient

        run_id = self.find(cfg, paths)
        if run_id:
            return run_id
        experiment_id = setup_mlflow(cfg, paths)
        tags = {"mtlops.pipeline": self.name, PIPELINE_KEY: self.key, **self.tags}
        return MlflowClient(tracking_uri(paths)).create_run(experiment_id, run_name=self.name, tags=tags).info.run_id

    @classmethod
    def from_env(cls) -> PipelineRun | None:
        text = os.environ.get(PIPELINE_ENV)
        if not text:
            return None
        data = json.loads(text)
        return cls(data["name"], data["key"], dict(data.get("tags") or {}))


@contextmanager
def pipeline_run(cfg: Config, paths: Paths, name: str, tags: dict[str, str] | None = None) -> Iterator[PipelineRun]:
    """One MLflow run for a whole pipeline run (a flow run), named `name`, made when a stage first logs.

    The stages find it through MTLOPS_PIPELINE_RUN (their own processes inherit it): the search run
    nests under it and registration logs the model, metrics and reports into it. When the block ends the
    run, if one was made, ends FINISHED, or FAILED (KILLED on an interrupt) when the block raises.
    """
    from mlflow import MlflowClient

    run = PipelineRun(name, uuid.uuid4().hex, dict(tags or {}))
    previous = os.environ.get(PIPELINE_ENV)
    os.environ[PIPELINE_ENV] = json.dumps({"name": run.name, "key": run.key, "tags": run.tags})
    status = "KILLED"
    try:
        yield run
        status = "FINISHED"
    except Exception:
        status = "FAILED"
        raise
    finally:
        if previous is None:
            os.environ.pop(PIPELINE_ENV, None)
        else:
            os.environ[PIPELINE_ENV] = previous
        run_id = run.find(cfg, paths)
        if run_id:
            MlflowClient(tracking_uri(paths)).set_terminated(run_id, status=status)


def parent_run(cfg: Config, paths: Paths) -> str | None:
    """The run this pipeline run's stage runs belong under, or None (a stage run alone, a plain `dvc repro`).

    MTLOPS_PARENT_RUN_ID when set; else the flow's pipeline run (made now if this is the first stage that
    logs); else the DVC experiment's: found by its tag, or made on first use and named `exp <name>` (the
    experiment's stages are separate processes with only DVC's environment in common).
    """
    from mlflow import MlflowClient
    from mtlops.experiment import current

    if os.environ.get(PARENT_ENV):
        return os.environ[PARENT_ENV]
    pipeline = PipelineRun.from_env()
    if pipeline is not None:
        return pipeline.get(cfg, paths)
    exp = current()
    if exp is None:
        return None
    experiment_id = setup_mlflow(cfg, paths)
    client = MlflowClient(tracking_uri(paths))
    found = client.search_runs([experiment_id], f"tags.`{EXPERIMENT_TAG}` = '{exp.name}'", max_results=1)
    if found:
        return found[0].info.run_id
    run = client.create_run(experiment_id, run_name=f"exp {exp.name}", tags={EXPERIMENT_TAG: exp.name})
    client.set_terminated(run.info.run_id, status="FINISHED")  # a folder until registration logs into it
    return run.info.run_id
