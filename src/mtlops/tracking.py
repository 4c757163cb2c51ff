"""MLflow wiring shared by every stage that logs: the store, the experiment, the artifact folder.

Default: the embedded sqlite store `mlflow/mlflow.db` with artifacts in `mlflow/artifacts`;
MLFLOW_TRACKING_URI points everything at a server instead.
"""

from __future__ import annotations

import os
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
