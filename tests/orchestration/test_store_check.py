"""The tracking store is judged by a real write before any stage: a read-only store fails in seconds,
naming the store, not at the search stage as a raw sqlite3 traceback."""

from __future__ import annotations

import time

import pytest

from mtlops.orchestration.store_check import StoreNotWritable, check_tracking_store
from tests.helpers import make_project
from tests.orchestration.readonly import read_only


def test_a_writable_store_passes_and_a_read_only_one_is_named(tmp_path):
    cfg, paths = make_project(tmp_path / "proj")
    assert check_tracking_store(cfg, paths).endswith("mlflow.db")
    with read_only(paths.mlflow_dir):
        started = time.monotonic()
        with pytest.raises(StoreNotWritable, match=r"tracking store sqlite:///.*mlflow\.db is not writable"):
            check_tracking_store(cfg, paths)
        assert time.monotonic() - started < 10
