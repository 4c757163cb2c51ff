"""The tracking store takes a write before any stage touches a file: fail in seconds, not after the search.

`check_tracking_store` writes to the MLflow store the way register will (an experiment tag through
MLflow's own client, so any backend — sqlite, a server — is judged by what it really accepts) and, for
a local artifact root, writes and removes a probe file there.
"""

from __future__ import annotations

import logging
import os
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlparse

from mtlops.errors import UserError

if TYPE_CHECKING:
    from mtlops.paths import Paths
    from mtlops.schema import Config


class StoreNotWritable(UserError):
    """The tracking store (or its artifact folder) refuses writes."""


def check_tracking_store(cfg: Config, paths: Paths) -> str:
    """Raise StoreNotWritable naming the store unless MLflow can write to it; returns the store's URI."""
    from mtlops.tracking import setup_mlflow, tracking_uri

    uri = tracking_uri(paths)
    hint = "check its permissions, or point MLFLOW_TRACKING_URI at a writable store"
    from mlflow import MlflowClient  # (its import sets up MLflow's loggers: before we quiet them)

    mlflow_logger = logging.getLogger("mlflow")
    level = mlflow_logger.level
    mlflow_logger.setLevel(logging.CRITICAL)  # MLflow logs the database's traceback itself; we say it in one line
    try:
        experiment_id = setup_mlflow(cfg, paths)
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        client.set_experiment_tag(experiment_id, "mtlops.store_checked",
                                  time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        artifact_root = client.get_experiment(experiment_id).artifact_location
    except UserError:
        raise
    except Exception as err:  # sqlite3.OperationalError, MlflowException, OSError...: all say "cannot write"
        detail = re.sub(r"\s*\[SQL:.*", "", " ".join(str(err).split()))[:160]
        raise StoreNotWritable(f"tracking store {uri} is not writable ({detail}); {hint}") from None
    finally:
        mlflow_logger.setLevel(level)
    _check_artifact_root(artifact_root, uri, hint)
    return uri


def _check_artifact_root(location: str, uri: str, hint: str) -> None:
    parsed = urlparse(location)
    if parsed.scheme not in ("", "file"):
        return  # a remote artifact store: MLflow's server judges it
    folder = Path(unquote(parsed.path))
    probe = folder / f".mtlops-write-check-{os.getpid()}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise StoreNotWritable(f"artifact folder {folder} of tracking store {uri} is not writable "
                               f"({err.strerror or err}); {hint}") from None
