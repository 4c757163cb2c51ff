"""Lineage of a registered model, as data and as the page a person reads, and the git state it records.

Its promise end to end (the recorded commit rebuilds the model; a DVC experiment's key is honoured or
refused by name) is tested on the flow's own run: `tests/orchestration/test_flow.py`."""

from __future__ import annotations

import shutil

import pytest

from mtlops.registry.lineage import format_lineage, lineage
from tests.orchestration.helpers import REPO, git


def test_lineage_of_the_champion(served):
    cfg, paths, registration = served
    d = lineage(f"{cfg.project.model_name}@champion", paths=paths)
    assert d["version"] == registration["version"] and d["aliases"] == ["champion"]
    assert d["run"]["id"] == registration["run_id"] and d["run"]["status"] == "FINISHED"
    assert d["lineage"]["params_hash"] == cfg.section_hash()
    assert d["validation"]["success"] == "true"
    assert set(d["metrics"]) >= {"churn.roc_auc", "segment.accuracy", "amount.mae", "churn.primary"}
    assert "vs_stl" in d["delta_m"] and d["gate"]["decision"] == "promoted"

    text = format_lineage(d)
    assert f"{cfg.project.model_name} version {registration['version']}" in text
    assert cfg.section_hash() in text and registration["run_id"] in text
    assert "promotion gate:" in text and "    - note: no champion" in text
    assert lineage(f"{cfg.project.model_name}/1", paths=paths)["version"] == "1"


# ------------------------------------------------------------------------------ git state, real repos
def _commit_all(root) -> None:
    git(root, "add", "-A")
    git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "c")


@pytest.mark.parametrize("sub", ["", "project/"])
def test_git_state_names_changed_paths_exactly(tmp_path, sub):
    """A committed dvc.lock the run rewrote is a result, not a change of recipe: `git status --porcelain`
    prints it first as " M dvc.lock", whose leading space a trimmed output lost ("vc.lock", dirty).
    `dvc plots show`'s page (dvc_plots/) is ignored; names with spaces or accents come back verbatim."""
    from mtlops.registry.lineage import git_state

    repo = tmp_path / "repo"
    root = repo / sub
    root.mkdir(parents=True)
    git(repo, "init", "-q")
    shutil.copy(REPO / ".gitignore", repo / ".gitignore")
    (root / "dvc.yaml").write_text("stages:\n  s:\n    cmd: 'true'\n    outs:\n      - out.txt\n")
    for name in ("dvc.lock", "params.yaml", "old name.py"):
        (root / name).write_text("a\n")
    _commit_all(repo)
    assert git_state(root) == {"git_commit": git(repo, "rev-parse", "HEAD"), "git_dirty": "false"}

    (root / "dvc.lock").write_text("b\n")  # what every run does: " M dvc.lock", the first line
    (root / "out.txt").write_text("an output\n")
    (root / "dvc_plots").mkdir()
    (root / "dvc_plots" / "index.html").write_text("<html/>")
    assert git_state(root)["git_dirty"] == "false", git_state(root)

    (root / "params.yaml").write_text("b\n")
    (root / "données à voir.py").write_text("x = 1\n")
    git(repo, "mv", f"{sub}old name.py", f"{sub}new name.py")
    state = git_state(root)
    assert state["git_dirty"] == "true"
    assert state["git_dirty_paths"] == "données à voir.py, new name.py, old name.py, params.yaml"
