"""The grouping's candidate trainings in two worker processes choose what one after another chooses: the same
grouping.json (times aside), affinity matrix included — exhaustive (all at once) and affinity-proposed (the
all-task training first, then the rest)."""

from __future__ import annotations

import shutil

import pytest

from mtlops.config import with_overrides
from mtlops.paths import Paths
from tests.baselines.test_parallel import without_times
from tests.grouping.test_run import noise_project

pytestmark = pytest.mark.e2e


def test_parallel_grouping_equals_sequential(tmp_path, monkeypatch):
    from mtlops.grouping.run import group_tasks
    from mtlops.parallel import IN_WORKER
    from mtlops.stages import run_stages

    monkeypatch.delenv(IN_WORKER, raising=False)  # a real pool, though the suite's workers hold the cores
    overrides = {"train": {"epochs": 2, "threads": 1}, "search": {"epochs": 2}, "grouping": {"affinity_every": 2}}
    cfg, paths = noise_project(tmp_path / "one", n=600, overrides=overrides)
    run_stages(cfg, paths, ["ingest", "prepare", "baselines"])
    shutil.copytree(paths.root, tmp_path / "two")
    two = Paths.at(tmp_path / "two")

    for exhaustive_max_tasks, method, trained in ((4, "exhaustive", 7), (2, "affinity", 5)):
        grouping = {"exhaustive_max_tasks": exhaustive_max_tasks}
        one_doc = group_tasks(with_overrides(cfg, {"grouping": grouping, "resources": {"workers": 1}}), paths)
        two_doc = group_tasks(with_overrides(cfg, {"grouping": grouping, "resources": {"workers": 2}}), two)
        assert one_doc["method"] == method and len(one_doc["trainings"]) == trained
        assert one_doc["affinity"] is not None
        assert without_times(one_doc) == without_times(two_doc)
