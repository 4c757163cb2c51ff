"""Lineage of a registered model, as data and as the page a person reads; and its promise, end to end:
the recorded commit rebuilds the model (`git checkout <commit> && dvc repro`)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mtlops.registry.lineage import format_lineage, lineage, sha256_path
from tests.helpers import synthetic_params
from tests.orchestration.helpers import REPO, dvc, dvc_project, registered_versions


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


# ------------------------------------------------------------------------- reproduction, end to end
def _git(root, *args: str) -> str:
    proc = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=True)
    return proc.stdout.strip()


def _without_timings(metrics: dict) -> dict:
    """metrics.json less what differs by nature between two runs: the wall times in `cost`."""
    cost = metrics["cost"]
    return {**metrics, "cost": {model: {k: v for k, v in cost[model].items() if k != "wall_time_s"} for model in cost}}


@pytest.fixture(scope="module")
def flowed(tmp_path_factory, prefect_harness):
    """A clean checkout of a tiny DVC project after one `mtlops run` (the flow through DVC); its root."""
    from mtlops.orchestration.retrain import run_retrain

    root = dvc_project(tmp_path_factory.mktemp("repro") / "a", synthetic_params())
    for ignore in (".gitignore", "reports/.gitignore"):  # as committed: DVC adds the second for its outputs
        (root / ignore).parent.mkdir(exist_ok=True)
        shutil.copy(REPO / ignore, root / ignore)
    shutil.copy(REPO / ".dvc" / "plots.html", root / ".dvc" / "plots.html")
    dvc(root, "config", "plots.html_template", "plots.html")
    _git(root, "add", "-A")
    _git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "a clean checkout")
    run_retrain(root / "params.yaml", quiet=True)
    return root


@pytest.mark.e2e
@pytest.mark.xdist_group("prefect")
def test_the_registered_commit_rebuilds_the_model(flowed, tmp_path, monkeypatch):
    """clean checkout → flow → `git checkout <lineage.git_commit> && dvc repro` elsewhere → the same metrics."""
    root = flowed
    version = registered_versions(root, "tiny-mtl")[0]
    tags = version.tags
    assert tags["lineage.git_commit"] == _git(root, "rev-parse", "HEAD")
    assert tags["lineage.git_dirty"] == "false", tags.get("lineage.git_dirty_paths")
    assert _git(root, "status", "--porcelain")  # the run did write tracked files: dvc.lock, reports/
    # dvc.lock as registration saw it (the stages that made the model) is the run's artifact data/dvc.lock
    import mlflow.artifacts

    uri = f"sqlite:///{root / 'mlflow' / 'mlflow.db'}"
    lock = mlflow.artifacts.download_artifacts(run_id=version.run_id, artifact_path="data/dvc.lock", tracking_uri=uri)
    assert tags["lineage.dvc_lock"] == sha256_path(Path(lock))

    # MLflow: one run named after the flow run holds the version, the search run under it
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{root / 'mlflow' / 'mlflow.db'}")
    run = client.get_run(version.run_id)
    assert run.info.run_name.startswith("retrain ") and run.info.status == "FINISHED"
    children = client.search_runs([run.info.experiment_id], f"tags.`mlflow.parentRunId` = '{run.info.run_id}'")
    assert [c.data.tags["mtlops.stage"] for c in children] == ["search"]

    # DVC: a metrics table a terminal holds; plots that say what needs a network
    table = dvc(root, "metrics", "show")
    assert "delta_m.vs_stl" in table and max(map(len, table.splitlines())) < 120, table
    dvc(root, "plots", "show", "-o", str(tmp_path / "plots"))
    page = (tmp_path / "plots" / "index.html").read_text()
    assert 'id="offline"' in page and "<img" in page

    clone = tmp_path / "b"
    subprocess.run(["git", "clone", "-q", str(root), str(clone)], check=True)
    _git(clone, "checkout", "-q", tags["lineage.git_commit"])
    monkeypatch.setenv("MTLOPS_BIN", str(Path(sys.executable).parent / "mtlops"))
    dvc(clone, "repro")
    rebuilt = json.loads((clone / "reports" / "metrics.json").read_text())
    original = json.loads((root / "reports" / "metrics.json").read_text())
    assert _without_timings(rebuilt) == _without_timings(original)


@pytest.mark.e2e
@pytest.mark.xdist_group("prefect")
def test_an_experiments_set_param_is_honoured_or_refused_by_name(flowed, monkeypatch):
    """`dvc exp run -S` on a key the search chooses: refused, naming the way out; with `search.fixed`, honoured."""
    from mtlops.paths import Paths

    root = flowed
    monkeypatch.setenv("MTLOPS_BIN", str(Path(sys.executable).parent / "mtlops"))
    _git(root, "add", "-A")
    _git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "the run's results")

    refused = subprocess.run([sys.executable, "-m", "dvc", "exp", "run", "-S", "train.lr=0.0123"],
                             cwd=root, capture_output=True, text=True, check=False)  # fmt: skip
    assert refused.returncode != 0 and "++search.fixed=[train.lr]" in refused.stdout + refused.stderr
    assert _git(root, "diff", "--numstat", "params.yaml") == "1\t1\tparams.yaml"  # the one line -S set

    dvc(root, "exp", "run", "-S", "train.lr=0.0123", "-S", "++search.fixed=[train.lr]", "-n", "fixed-lr")
    history = json.loads((root / "reports" / "history.json").read_text())
    assert history["train"]["lr"] == 0.0123  # whichever trial won, the experiment's value holds
    version = max(registered_versions(root, "tiny-mtl"), key=lambda v: int(v.version))
    assert version.tags["lineage.dvc_experiment"] == "fixed-lr"
    ref = version.tags["lineage.git_commit"]
    assert ref.startswith("refs/exps/") and ref.endswith("/fixed-lr") and version.tags["lineage.git_dirty"] == "false"
    made = lineage(f"tiny-mtl/{version.version}", paths=Paths.at(root))["lineage"]["git_commit"]
    assert made == f"{ref} (commit {_git(root, 'rev-parse', ref)})"


# ------------------------------------------------------------------------------ git state, real repos
def _commit_all(root) -> None:
    _git(root, "add", "-A")
    _git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "c")


@pytest.mark.parametrize("sub", ["", "project/"])
def test_git_state_names_changed_paths_exactly(tmp_path, sub):
    """A committed dvc.lock the run rewrote is a result, not a change of recipe: `git status --porcelain`
    prints it first as " M dvc.lock", whose leading space a trimmed output lost ("vc.lock", dirty).
    `dvc plots show`'s page (dvc_plots/) is ignored; names with spaces or accents come back verbatim."""
    from mtlops.registry.lineage import git_state

    repo = tmp_path / "repo"
    root = repo / sub
    root.mkdir(parents=True)
    _git(repo, "init", "-q")
    shutil.copy(REPO / ".gitignore", repo / ".gitignore")
    (root / "dvc.yaml").write_text("stages:\n  s:\n    cmd: 'true'\n    outs:\n      - out.txt\n")
    for name in ("dvc.lock", "params.yaml", "old name.py"):
        (root / name).write_text("a\n")
    _commit_all(repo)
    assert git_state(root) == {"git_commit": _git(repo, "rev-parse", "HEAD"), "git_dirty": "false"}

    (root / "dvc.lock").write_text("b\n")  # what every run does: " M dvc.lock", the first line
    (root / "out.txt").write_text("an output\n")
    (root / "dvc_plots").mkdir()
    (root / "dvc_plots" / "index.html").write_text("<html/>")
    assert git_state(root)["git_dirty"] == "false", git_state(root)

    (root / "params.yaml").write_text("b\n")
    (root / "données à voir.py").write_text("x = 1\n")
    _git(repo, "mv", f"{sub}old name.py", f"{sub}new name.py")
    state = git_state(root)
    assert state["git_dirty"] == "true"
    assert state["git_dirty_paths"] == "données à voir.py, new name.py, old name.py, params.yaml"
