"""Reaching the model registry: which store, what a model reference means, errors a user can read."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mtlops.errors import UserError, first_line
from mtlops.paths import Paths
from mtlops.tracking import tracking_uri

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion

    from mlflow import MlflowClient

CHAMPION, CHALLENGER = "champion", "challenger"


class RegistryError(UserError):
    """A model, version or alias the registry does not have, or a model version that cannot load."""


def connect(paths: Paths | None = None, must_exist: bool = True) -> MlflowClient:
    """Point MLflow (tracking and registry) at the project's store and return a client.

    For reading (`must_exist`), a missing embedded store is an error, not a fresh empty database.
    """
    from mlflow import MlflowClient
    from mtlops.tracking import point_mlflow_at

    paths = paths or Paths.at(".")
    uri = tracking_uri(paths)
    if must_exist and uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).exists():
        raise RegistryError(f"no MLflow store at {uri} (register a model first, or set MLFLOW_TRACKING_URI)")
    point_mlflow_at(uri)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


@dataclass(frozen=True)
class ModelRef:
    """A registered model version by alias or number: `name@alias`, `name/3`, `name@3`, `models:/name@alias`."""

    name: str
    alias: str | None = None
    version: str | None = None

    @classmethod
    def parse(cls, ref: str) -> ModelRef:
        text = ref.removeprefix("models:/")
        if "@" in text:
            name, alias = text.rsplit("@", 1)
            number = alias.removeprefix("v")
            if name and number.isdigit():  # name@3 / name@v3: MLflow reserves such aliases for versions
                return cls(name, version=number)
            if name and alias:
                return cls(name, alias=alias)
        elif "/" in text:
            name, version = text.rsplit("/", 1)
            if name and version.isdigit():
                return cls(name, version=version)
        raise RegistryError(
            f"model reference {ref!r}: expected NAME@ALIAS, NAME/VERSION or models:/NAME@ALIAS"
        )

    @property
    def uri(self) -> str:
        return f"models:/{self.name}@{self.alias}" if self.alias else f"models:/{self.name}/{self.version}"

    def __str__(self) -> str:
        return f"{self.name}@{self.alias}" if self.alias else f"{self.name} v{self.version}"


def get_version(client: MlflowClient, ref: ModelRef) -> ModelVersion:
    """The model version a reference names; RegistryError (naming model and alias/version) if none."""
    from mlflow.exceptions import MlflowException

    try:
        if ref.alias:
            return client.get_model_version_by_alias(ref.name, ref.alias)
        assert ref.version is not None, "a ModelRef names an alias or a version"
        return client.get_model_version(ref.name, ref.version)
    except MlflowException as err:
        known = _known_versions(client, ref.name)
        raise RegistryError(f"model {ref.name!r} has no {_what(ref)} ({known})") from err


def find_alias(client: MlflowClient, name: str, alias: str) -> ModelVersion | None:
    """The version behind an alias, or None when the alias (or the model) does not exist."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def load_pyfunc(version: ModelVersion, check_requirements: bool = True):
    """Load a registered version's pyfunc; RegistryError when its artifacts cannot be loaded.

    `check_requirements=False` skips MLflow's comparison of the model's pinned requirements with every
    installed distribution (a scan of all package metadata, and warnings only).
    """
    import mlflow

    try:
        uri = f"models:/{version.name}/{version.version}"
        return mlflow.pyfunc.load_model(uri, suppress_warnings=not check_requirements)
    except Exception as err:  # any failure to rebuild the model means the version is unusable
        raise RegistryError(
            f"model {version.name!r} v{version.version} cannot be loaded from {version.source}: {first_line(err)}"
        ) from err


def _what(ref: ModelRef) -> str:
    return f"alias {ref.alias!r}" if ref.alias else f"version {ref.version}"


def _known_versions(client: MlflowClient, name: str) -> str:
    from mlflow.exceptions import MlflowException

    try:
        model = client.get_registered_model(name)
    except MlflowException:
        return "no such registered model"
    versions = sorted(int(v.version) for v in client.search_model_versions(f"name = '{name}'"))
    aliases = ", ".join(f"{a}→v{v}" for a, v in sorted(model.aliases.items())) or "none"
    return f"versions: {versions or 'none'}; aliases: {aliases}"


def run_artifact(run_id: str | None, path: str) -> Any:
    """A JSON or YAML (by suffix) artifact of a run, parsed, or None when the run has none at `path`;
    read without MLflow's progress bar (one bar per file otherwise fills a log)."""
    import os

    import mlflow

    if not run_id:
        return None
    before = os.environ.get("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR")
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    try:
        text = mlflow.artifacts.load_text(f"runs:/{run_id}/{path}")
        if path.endswith((".yaml", ".yml")):
            import yaml

            return yaml.safe_load(text)
        return json.loads(text)
    except Exception:  # absent (an older run, a stage that did not run) or unreadable: the caller says so
        return None
    finally:
        if before is None:
            os.environ.pop("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", None)
        else:
            os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = before
