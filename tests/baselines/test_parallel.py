"""The baselines trained in two worker processes are the baselines trained one after another: the same report
(times aside) and the same model files, bit for bit."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mtlops.config import with_overrides
from mtlops.paths import Paths
from tests.helpers import make_project

pytestmark = pytest.mark.e2e

MTLOPS = [str(Path(sys.executable).with_name("mtlops"))]
if not Path(MTLOPS[0]).exists():  # an interpreter outside a venv
    MTLOPS = [sys.executable, "-m", "mtlops.cli"]

TIMES = {"wall_time_s", "seconds"}


def without_times(doc):
    if isinstance(doc, dict):
        return {k: without_times(v) for k, v in doc.items() if k not in TIMES}
    if isinstance(doc, list):
        return [without_times(v) for v in doc]
    return doc


def test_parallel_baselines_equal_sequential_ones(tmp_path, monkeypatch):
    """One after another in this process; in two workers under `mtlops baselines` (the spawned workers re-enter
    through the command's own entry point)."""
    from mtlops.baselines.run import run_baselines
    from mtlops.config import set_value
    from mtlops.data.ingest import ingest
    from mtlops.data.prepare import prepare
    from mtlops.parallel import IN_WORKER

    cfg, paths = make_project(tmp_path / "one", kind="mixed", overrides={"train": {"threads": 1}})
    ingest(cfg, paths)
    prepare(cfg, paths)
    shutil.copytree(paths.root, tmp_path / "two")
    two = Paths.at(tmp_path / "two")
    set_value(two.root / "params.yaml", "resources.workers", 2)

    run_baselines(with_overrides(cfg, {"resources": {"workers": 1}}), paths)
    env = {k: v for k, v in os.environ.items() if k not in (IN_WORKER, "MLFLOW_TRACKING_URI")}
    proc = subprocess.run([*MTLOPS, "baselines", "--params", str(two.root / "params.yaml")], env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stderr.count("epoch 2/2 · train loss") == len(cfg.tasks)  # each single-task network, once

    one_report, two_report = (json.loads(p.baselines_metrics.read_text()) for p in (paths, two))
    assert without_times(one_report) == without_times(two_report)
    assert list(one_report["tasks"]) == cfg.task_names  # the report keeps the tasks' order
    files = sorted(f.name for f in paths.baselines_dir.iterdir())
    assert files == sorted(f.name for f in two.baselines_dir.iterdir()) and len(files) == 2 * len(cfg.tasks)
    for name in files:  # byte for byte: the networks' files too (torch.save's archive carries no temp name)
        assert (paths.baselines_dir / name).read_bytes() == (two.baselines_dir / name).read_bytes(), name


def test_workers_beyond_the_cores_are_refused_naming_the_key(project):
    from mtlops.baselines.run import run_baselines
    from mtlops.parallel import TooManyWorkers, available_cores

    cfg, paths = project
    with pytest.raises(TooManyWorkers, match=r"^resources\.workers: "):
        run_baselines(with_overrides(cfg, {"resources": {"workers": available_cores() + 1}}), paths)
