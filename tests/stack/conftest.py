"""One real team stack (PostgreSQL, MLflow server, Prefect server) per test session, under a temp dir.

Tests that use it join the `stack` xdist group, so one worker starts it once.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mtlops.stack.services import StackDir, down, up


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[StackDir, dict[str, str]]]:
    d = StackDir(tmp_path_factory.mktemp("stack"))
    try:
        env = up(d)
        yield d, env
    finally:
        down(d)
