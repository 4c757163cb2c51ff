"""A fresh clone's `dvc repro` registers a clean version, and a one-line change to training code retrains
and registers a new version under the new commit (#25: the checkpoint fingerprint ignored code, so the
finished weights were "resumed" with no epoch run; a committed dvc.lock made every version dirty).

A tiny project in a real git + DVC repo; its stages run the repository's own copy of `src/` (PYTHONPATH),
so an edit there is the code that runs, as in a checkout installed with `pip install -e .`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import synthetic_params
from tests.orchestration.helpers import REPO, dvc_project, registered_versions

pytestmark = [pytest.mark.faults, pytest.mark.faults_slow]

OVERRIDES = {"search": {"enabled": False}, "baselines": {"gbdt": False}}


def _git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@t", *args],
                          capture_output=True, text=True, check=True)
    return done.stdout.strip()


def _repro(root: Path) -> None:
    """`dvc repro` as a user runs it, the stages on this checkout's src/."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_TRACKING_URI", "PYTEST_"))}
    env.update(PYTHONPATH=str(root / "src"), MTLOPS_BIN=str(Path(sys.executable).with_name("mtlops")),
               DVC_NO_ANALYTICS="1", MLFLOW_DISABLE_TELEMETRY="true", GX_ANALYTICS_ENABLED="false",
               OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PREFECT_HOME=str(root.parent / "prefect"))
    done = subprocess.run([sys.executable, "-m", "dvc", "repro"], cwd=root, env=env, capture_output=True,
                          text=True, timeout=1200, check=False)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]


def _newest(root: Path):
    return max(registered_versions(root, "tiny-mtl"), key=lambda v: int(v.version))


def test_a_fresh_clone_registers_clean_and_a_one_line_training_change_retrains(tmp_path):
    origin = dvc_project(tmp_path / "origin", {**synthetic_params(), **OVERRIDES})
    for ignore in (".gitignore", "reports/.gitignore"):
        (origin / ignore).parent.mkdir(exist_ok=True)
        shutil.copy(REPO / ignore, origin / ignore)
    _repro(origin)  # the project as its author committed it: with dvc.lock and the reports
    _git(origin, "add", "-A")
    _git(origin, "commit", "-qm", "a project with its dvc.lock")

    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(origin), str(clone)], check=True)
    _repro(clone)  # no DVC cache here: every stage runs, dvc.lock is rewritten (" M dvc.lock")
    assert " M dvc.lock" in subprocess.run(["git", "-C", str(clone), "status", "--porcelain"], capture_output=True,
                                           text=True, check=True).stdout
    first = _newest(clone)
    assert first.tags["lineage.git_commit"] == _git(clone, "rev-parse", "HEAD")
    assert first.tags["lineage.git_dirty"] == "false", first.tags.get("lineage.git_dirty_paths")

    trainer = clone / "src" / "mtlops" / "training" / "trainer.py"
    text = trainer.read_text()
    trainer.write_text(text.replace("\nimport ", "\nONE_LINE_CHANGE = 1\nimport ", 1))  # code, not a comment
    _git(clone, "commit", "-qam", "a one-line change to training code")
    _repro(clone)

    history = json.loads((clone / "reports" / "history.json").read_text())
    assert history["epochs_run"] > 0 and not history.get("resumed_from_epoch"), \
        {k: history.get(k) for k in ("epochs_run", "resumed_from_epoch")}
    second = _newest(clone)
    assert int(second.version) == int(first.version) + 1
    assert second.tags["lineage.git_commit"] == _git(clone, "rev-parse", "HEAD") != first.tags["lineage.git_commit"]
    assert second.tags["lineage.git_dirty"] == "false", second.tags.get("lineage.git_dirty_paths")
