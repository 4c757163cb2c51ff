"""Fixtures for the validation gate: the `mixed` snapshot (tests/helpers.py) and a validated baseline.

GX's import (seconds) happens once per worker; every case then runs the real suite in its own folder.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mtlops.validation.run import validate
from tests.helpers import mixed_params, write_mixed_csv
from tests.validation.helpers import project, write_snapshot


@pytest.fixture(scope="module")
def mixed(tmp_path_factory) -> tuple[dict[str, Any], pd.DataFrame]:
    """The mixed project's params and its clean rows (id key, x1..x3, shop, churn, segment, amount)."""
    csv = write_mixed_csv(tmp_path_factory.mktemp("source") / "mixed.csv")
    return mixed_params(csv), pd.read_csv(csv)


@pytest.fixture(scope="module")
def accepted(tmp_path_factory, mixed) -> Path:
    """The accepted profile left by validating the clean snapshot once (the drift reference)."""
    params, df = mixed
    cfg, paths = project(tmp_path_factory.mktemp("baseline"), params)
    write_snapshot(paths, df)
    validate(cfg, paths)
    return paths.accepted_profile


@pytest.fixture
def with_profile(accepted):
    """Put the accepted profile into a project folder, so the next validation runs the drift suite."""

    def put(paths) -> Path:
        paths.profile_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy(accepted, paths.accepted_profile)
        return paths.accepted_profile

    return put
