"""The baselines trained in two worker processes are the baselines trained one after another: the same report
(times aside) and the same model files, bit for bit."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from mtlops.config import with_overrides
from mtlops.paths import Paths
from tests.helpers import make_project

pytestmark = pytest.mark.e2e

TIMES = {"wall_time_s", "seconds"}


def without_times(doc):
    if isinstance(doc, dict):
        return {k: without_times(v) for k, v in doc.items() if k not in TIMES}
    if isinstance(doc, list):
        return [without_times(v) for v in doc]
    return doc


def test_parallel_baselines_equal_sequential_ones(tmp_path, monkeypatch):
    from mtlops.baselines.run import run_baselines
    from mtlops.data.ingest import ingest
    from mtlops.data.prepare import prepare
    from mtlops.parallel import IN_WORKER

    monkeypatch.delenv(IN_WORKER, raising=False)  # a real pool, though the suite's workers hold the cores
    cfg, paths = make_project(tmp_path / "one", kind="mixed", overrides={"train": {"threads": 1}})
    ingest(cfg, paths)
    prepare(cfg, paths)
    shutil.copytree(paths.root, tmp_path / "two")
    two = Paths.at(tmp_path / "two")

    run_baselines(with_overrides(cfg, {"resources": {"workers": 1}}), paths)
    run_baselines(with_overrides(cfg, {"resources": {"workers": 2}}), two)

    one_report, two_report = (json.loads(p.baselines_metrics.read_text()) for p in (paths, two))
    assert without_times(one_report) == without_times(two_report)
    assert list(one_report["tasks"]) == cfg.task_names  # the report keeps the tasks' order
    files = sorted(f.name for f in paths.baselines_dir.iterdir())
    assert files == sorted(f.name for f in two.baselines_dir.iterdir()) and len(files) == 2 * len(cfg.tasks)
    for name in files:
        a, b = paths.baselines_dir / name, two.baselines_dir / name
        if name.endswith(".pt"):
            sa, sb = (torch.load(f, weights_only=False)["state_dict"] for f in (a, b))
            assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa), name
        else:
            assert a.read_bytes() == b.read_bytes(), name
