"""MLflow wiring shared by every stage that logs: the store, the experiment, the artifact folder, and
the one run a whole pipeline run (a flow run, a DVC experiment) logs into.

Default: the embedded sqlite store `mlflow/mlflow.db` with artifacts in `mlflow/artifacts`;
MLFLOW_TRACKING_URI points everything at a server instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mtlops.paths import Paths
    from mtlops.schema import Config


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
        experiment_id = mlflow.create_experiment(name, artifact_location=artifact_location)
    else:
        experiment_id = experiment.experiment_id
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


# ------------------------------------------------------------------------------- one run per pipeline run
PARENT_ENV = "MTLOPS_PARENT_RUN_ID"  # set by the flow for its stages (processes or not) while it runs
EXPERIMENT_TAG = "mtlops.dvc_experiment"


@contextmanager
def pipeline_run(cfg: Config, paths: Paths, name: str, tags: dict[str, str] | None = None) -> Iterator[str]:
    """One MLflow run for a whole pipeline run (a flow run), named `name`; yields its id.

    The stages find it through MTLOPS_PARENT_RUN_ID (their own processes inherit it): the search run
    nests under it and registration logs the model, metrics and reports into it. It ends FINISHED, or
    FAILED (KILLED on an interrupt) when the block raises.
    """
    from mlflow import MlflowClient

    experiment_id = setup_mlflow(cfg, paths)
    client = MlflowClient(tracking_uri(paths))
    run_id = client.create_run(experiment_id, run_name=name, tags={"mtlops.pipeline": name, **(tags or {})}).info.run_id
    previous = os.environ.get(PARENT_ENV)
    os.environ[PARENT_ENV] = run_id
    status = "KILLED"
    try:
        yield run_id
        status = "FINISHED"
    except Exception:
        status = "FAILED"
        raise
    finally:
        if previous is None:
            os.environ.pop(PARENT_ENV, None)
        else:
            os.environ[PARENT_ENV] = previous
        client.set_terminated(run_id, status=status)


def parent_run(cfg: Config, paths: Paths) -> str | None:
    """The run this pipeline run's stage runs belong under, or None (a stage run alone, a plain `dvc repro`).

    A flow's run (MTLOPS_PARENT_RUN_ID), else the DVC experiment's: found by its tag, or made on first
    use and named `exp <name>` (the experiment's stages are separate processes with only DVC's
    environment in common).
    """
    from mlflow import MlflowClient
    from mtlops.experiment import current

    if os.environ.get(PARENT_ENV):
        return os.environ[PARENT_ENV]
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
