"""Shared test setup: telemetry off, one torch thread per xdist worker, tiny project factories.

Each end-to-end test builds its own project folder (params.yaml, data/, mlflow/) under tmp_path,
so stores never leak between tests. The Prefect harness is one per session (fixture below).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.pop("MLFLOW_TRACKING_URI", None)
if os.environ.get("PYTEST_XDIST_WORKER"):  # xdist's workers hold the cores: stages run their jobs in order
    os.environ["MTLOPS_POOL_WORKER"] = "1"  # (mtlops.parallel.IN_WORKER; tests/test_parallel.py lifts it)

try:
    import torch

    torch.set_num_threads(1)
except ImportError:  # pragma: no cover
    pass

from tests.helpers import make_project


@pytest.fixture
def project(tmp_path: Path):
    """A tiny synthetic project (params.yaml + folders) in a temp dir: (cfg, paths)."""
    return make_project(tmp_path)


@pytest.fixture
def mixed_project(tmp_path: Path):
    """A tiny `file` project with a binary, a multiclass and a masked regression task: (cfg, paths)."""
    return make_project(tmp_path, kind="mixed")


@pytest.fixture(scope="session")
def prefect_harness(tmp_path_factory):
    """One Prefect test API per session, with PREFECT_HOME in a temp dir."""
    home = tmp_path_factory.mktemp("prefect_home")
    os.environ["PREFECT_HOME"] = str(home)
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield
