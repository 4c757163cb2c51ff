"""A trained tiny project, built once per session through the real stages, copied per test.

Every test that changes registry state works on its own copy (its own `mlflow/` store under the
copy's root); read-only tests share one project whose model is registered and champion.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.helpers import make_project

STAGES = ["ingest", "validate", "prepare", "baselines", "search", "grouping", "train", "evaluate"]


def _own_store() -> None:
    """`mlflow.set_tracking_uri` exports MLFLOW_TRACKING_URI, and `mtlops.tracking.tracking_uri` obeys
    that variable: left alone, every project after the first in this process would use the first
    one's store. Each project here must use the store under its own root."""
    os.environ.pop("MLFLOW_TRACKING_URI", None)


@pytest.fixture(autouse=True)
def own_store():
    _own_store()
    yield
    _own_store()


@pytest.fixture(scope="session")
def trained(tmp_path_factory) -> Path:
    """Root of a `mixed` project (binary, multiclass, masked regression) after evaluate; no store."""
    from mtlops.stages import run_stages

    _own_store()
    root = tmp_path_factory.mktemp("registry") / "trained"
    # a 2-epoch model on 480 rows may trail the single-task baselines: the gate's single-task checks
    # are notes here (every task may trade off), and tests that judge them set the policy they need
    # the network serves every task (serving.best_of_baselines: false), so the tests that change its heads on
    # purpose change what is registered; serving choices have their own tests (tests/serving)
    overrides = {
        "search": {"enabled": False},
        "promotion": {"delta_m_floor": -100.0, "allow_tradeoff": ["churn", "segment", "amount"], "bootstrap": 200},
        "serving": {"best_of_baselines": False},
    }
    cfg, paths = make_project(root, kind="mixed", overrides=overrides)
    run_stages(cfg, paths, STAGES)
    return root


def copy_project(src: Path, dst: Path, with_store: bool = False):
    from mtlops.config import load_config
    from mtlops.paths import Paths

    shutil.copytree(src, dst, ignore=None if with_store else shutil.ignore_patterns("mlflow"))
    return load_config(dst / "params.yaml"), Paths.at(dst)


@pytest.fixture
def fresh(trained, tmp_path):
    """(cfg, paths): a private copy of the trained project with an empty MLflow store."""
    return copy_project(trained, tmp_path / "proj")


@pytest.fixture(scope="session")
def served(trained, tmp_path_factory):
    """(cfg, paths, registration): the trained model registered and promoted to champion. Read-only."""
    from mtlops.registry.promote import promote
    from mtlops.registry.register import register

    _own_store()
    cfg, paths = copy_project(trained, tmp_path_factory.mktemp("served") / "proj")
    registration = register(cfg, paths)
    decision = promote(cfg, paths)
    assert decision["promoted"], decision["reasons"]
    return cfg, paths, registration


@pytest.fixture(scope="module")
def champion(served):
    """(cfg, paths, the champion loaded through MLflow's registry, the test split's raw rows)."""
    import pandas as pd

    import mlflow
    from mtlops.registry.store import connect

    cfg, paths, _ = served
    connect(paths)
    model = mlflow.pyfunc.load_model(f"models:/{cfg.project.model_name}@champion")
    return cfg, paths, model, pd.read_parquet(paths.test_raw)
