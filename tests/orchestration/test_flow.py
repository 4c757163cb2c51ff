"""The retrain flow end to end: real Prefect (test harness), real DVC repo, real MLflow sqlite store; and
the flow's promise: the commit a version records rebuilds it, a DVC experiment's key holds or is refused.

Each project is its own folder (params, dvc.yaml, a copy of src/ so dvc.yaml's code deps resolve), so
stores never leak. The first three tests share one run of the flow (`flowed`: a tiny pipeline through DVC
costs ~40 s, mostly the stage processes' imports); the flow tests share one Prefect harness on one xdist worker.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from mtlops.config import deep_merge
from mtlops.registry.lineage import lineage, sha256_path
from tests.helpers import synthetic_params
from tests.orchestration.helpers import REPO, dvc, dvc_project, git, registered_versions

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("prefect")]


def _without_timings(metrics: dict) -> dict:
    """metrics.json less what differs by nature between two runs: the wall times in `cost`."""
    cost = metrics["cost"]
    return {**metrics, "cost": {model: {k: v for k, v in cost[model].items() if k != "wall_time_s"} for model in cost}}


@pytest.fixture(scope="module")
def flowed(tmp_path_factory, prefect_harness):
    """A clean checkout of a tiny DVC project after one `mtlops run` (the flow through DVC): (root, the run's result).

    One run serves the three tests below, in this order: the first reads it (and reruns with nothing to do),
    the second rebuilds it elsewhere, the last changes it (a commit and a DVC experiment)."""
    from mtlops.orchestration.retrain import run_retrain

    root = dvc_project(tmp_path_factory.mktemp("repro") / "a", synthetic_params())
    for ignore in (".gitignore", "reports/.gitignore"):  # as committed: DVC adds the second for its outputs
        (root / ignore).parent.mkdir(exist_ok=True)
        shutil.copy(REPO / ignore, root / ignore)
    shutil.copy(REPO / ".dvc" / "plots.html", root / ".dvc" / "plots.html")
    dvc(root, "config", "plots.html_template", "plots.html")
    git(root, "add", "-A")
    git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "a clean checkout")
    return root, run_retrain(root / "params.yaml", quiet=True)


def test_flow_end_to_end_through_dvc_leaves_dvc_status_clean(flowed):
    from mtlops.orchestration.retrain import run_retrain

    root, result = flowed
    assert all(not s["skipped"] for s in result["stages"].values()), result["stages"]
    assert list(result["stages"]) == ["ingest", "validate", "prepare", "baselines", "search", "grouping", "train",
                                      "evaluate", "register", "promote"]
    metrics = json.loads((root / "reports" / "metrics.json").read_text())
    assert set(metrics["tasks"]) == {"y1", "y2"} and "vs_stl" in metrics["delta_m"]
    promotion = json.loads((root / "reports" / "promotion.json").read_text())
    assert promotion["decision"]  # a recorded gate decision
    versions = registered_versions(root, "tiny-mtl")
    assert len(versions) == 1
    # registered as challenger; a passing gate moves it to champion (the first passing model does)
    expected = "champion" if promotion["promoted"] else "challenger"
    assert expected in versions[0].aliases

    # the flow recorded every output in dvc.lock: nothing to do for DVC now
    status = dvc(root, "status")
    assert "up to date" in status, status
    again = dvc(root, "repro")
    assert "didn't change" in again and "Running stage" not in again, again
    assert len(registered_versions(root, "tiny-mtl")) == 1

    # the pipeline's MLflow run tells the outcome on its own page; a run with nothing to do leaves no run
    from mlflow import MlflowClient

    uri = f"sqlite:///{root / 'mlflow' / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_run(result["mlflow_run"]).info.experiment_id
    [pipeline] = client.search_runs([experiment], "tags.`mtlops.pipeline` LIKE 'retrain %'")
    assert pipeline.info.run_id == result["mlflow_run"] and pipeline.info.status == "FINISHED"
    description = pipeline.data.tags["mlflow.note.content"]  # the run page's description: the run's summary
    assert "| y1 | mae ↓ |" in description and "**gate:" in description
    assert {"y1.mae", "y2.mae", "delta_m.vs_stl"} <= set(pipeline.data.metrics)
    assert pipeline.data.tags["mtlops.registered"] == "tiny-mtl v1"
    assert "summary/retrain.md" in {a.path for a in client.list_artifacts(pipeline.info.run_id, "summary")}

    # watchable: each stage's own lines are in its task's log, logged as they came (before the stage ended)
    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey, LogFilter, LogFilterFlowRunId

    with get_client(sync_client=True) as client:
        run = client.read_flow_run(uuid.UUID(result["prefect_flow_run"]))
        logs, page = [], None
        while page is None or len(page) == 200:  # the API hands out 200 a page
            page = client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run.id])), limit=200,
                                    offset=len(logs))
            logs += page
        artifact = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["retrain-summary"])))
    train_task = next(log.task_run_id for log in logs
                      if log.message.endswith("> bin/mtlops train") or log.message == "> mtlops train")
    train_logs = sorted((log.timestamp, log.message) for log in logs if log.task_run_id == train_task)
    epoch = next(t for t, m in train_logs if m.startswith("epoch 1/2 · train loss y1 ") and "· y2 " in m)
    locked = next(t for t, m in train_logs if m.startswith("Updating lock file"))
    assert epoch < locked  # logged while the stage ran, before DVC (once the stage had exited) updated dvc.lock
    assert any(log.message.startswith("trial 1/2 · ") and log.message.endswith(" · #0") for log in logs)
    assert artifact and "| y1 | mae ↓ |" in artifact[0].data and "**gate:" in artifact[0].data

    # a second run with nothing changed: every stage skipped, no new (empty) MLflow run
    idle = run_retrain(root / "params.yaml", quiet=True)
    assert all(s["skipped"] for s in idle["stages"].values()) and idle["mlflow_run"] is None
    mlflow_client = MlflowClient(tracking_uri=uri)
    assert len(mlflow_client.search_runs([experiment], "tags.`mtlops.pipeline` LIKE 'retrain %'")) == 1
    assert result["prefect_flow_run"] and idle["prefect_flow_run"] != result["prefect_flow_run"]


def test_the_registered_commit_rebuilds_the_model(flowed, tmp_path, monkeypatch):
    """clean checkout → flow → `git checkout <lineage.git_commit> && dvc repro` elsewhere → the same metrics."""
    root, _ = flowed
    version = registered_versions(root, "tiny-mtl")[0]
    tags = version.tags
    assert tags["lineage.git_commit"] == git(root, "rev-parse", "HEAD")
    assert tags["lineage.git_dirty"] == "false", tags.get("lineage.git_dirty_paths")
    assert git(root, "status", "--porcelain")  # the run did write tracked files: dvc.lock, reports/
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
    git(clone, "checkout", "-q", tags["lineage.git_commit"])
    monkeypatch.setenv("MTLOPS_BIN", str(Path(sys.executable).parent / "mtlops"))
    dvc(clone, "repro")
    rebuilt = json.loads((clone / "reports" / "metrics.json").read_text())
    original = json.loads((root / "reports" / "metrics.json").read_text())
    assert _without_timings(rebuilt) == _without_timings(original)


def test_an_experiments_set_param_is_honoured_or_refused_by_name(flowed, monkeypatch):
    """`dvc exp run -S` on a key the search chooses: refused, naming the way out; with `search.fixed`, honoured."""
    from mtlops.paths import Paths

    root, _ = flowed
    monkeypatch.setenv("MTLOPS_BIN", str(Path(sys.executable).parent / "mtlops"))
    git(root, "add", "-A")
    git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "the run's results")

    refused = subprocess.run([sys.executable, "-m", "dvc", "exp", "run", "-S", "train.lr=0.0123"],
                             cwd=root, capture_output=True, text=True, check=False)  # fmt: skip
    assert refused.returncode != 0 and "++search.fixed=[train.lr]" in refused.stdout + refused.stderr
    assert git(root, "diff", "--numstat", "params.yaml") == "1\t1\tparams.yaml"  # the one line -S set

    dvc(root, "exp", "run", "-S", "train.lr=0.0123", "-S", "++search.fixed=[train.lr]", "-n", "fixed-lr")
    history = json.loads((root / "reports" / "history.json").read_text())
    assert history["train"]["lr"] == 0.0123  # whichever trial won, the experiment's value holds
    version = max(registered_versions(root, "tiny-mtl"), key=lambda v: int(v.version))
    assert version.tags["lineage.dvc_experiment"] == "fixed-lr"
    ref = version.tags["lineage.git_commit"]
    assert ref.startswith("refs/exps/") and ref.endswith("/fixed-lr") and version.tags["lineage.git_dirty"] == "false"
    made = lineage(f"tiny-mtl/{version.version}", paths=Paths.at(root))["lineage"]["git_commit"]
    assert made == f"{ref} (commit {git(root, 'rev-parse', ref)})"


def test_bad_snapshot_fails_the_flow_at_validation_and_registers_nothing(tmp_path, prefect_harness):
    from mtlops.orchestration.flow import ValidationGateFailed
    from mtlops.orchestration.retrain import run_retrain

    params = deep_merge(synthetic_params(), {"validation": {"min_rows": 10_000_000}})
    root = dvc_project(tmp_path / "bad", params)
    with pytest.raises(ValidationGateFailed) as info:
        run_retrain(root / "params.yaml", quiet=True)
    assert "validation failed" in str(info.value)
    assert (root / "reports" / "validation" / "summary.json").exists()
    assert not (root / "data" / "processed").exists()
    assert not (root / "reports" / "registration.json").exists()
    assert registered_versions(root, "tiny-mtl") == []


def test_the_summary_artifact_has_the_per_task_table_the_gate_reasons_and_rounded_numbers():
    from mtlops.orchestration.flow import summary_markdown

    diff = {"value": 0.012345678, "ci_low": -0.00123456, "ci_high": 0.0234567}
    metrics = {"tasks": {"delayed": {"metric": "roc_auc", "higher_is_better": True, "mtl": {"roc_auc": 0.712345678},
                                     "stl": {"roc_auc": 0.7}, "gbdt": {"roc_auc": 0.71}, "diff_vs_stl": diff,
                                     "diff_vs_gbdt": diff, "negative_transfer": True, "n_test": 120}}}
    result = {"delta_m": {"vs_stl": -1.6666666666666652, "vs_gbdt": 2.0000000001},
              "promotion": {"decision": "refused", "version": "3", "champion": "2",
                            "reasons": ["FAIL: Δm vs single-task -1.67% < floor 0.00%"]},
              "stages": {"train": {"seconds": 12.3456, "skipped": False}},
              "overhead_seconds": 1.23456, "overhead_fraction": 0.0123}
    text = summary_markdown(result, metrics)
    assert "| delayed | roc_auc ↑ | 0.7123 | 0.7 | 0.71 | +0.0123 [-0.00123, 0.0235] |" in text
    assert "negative transfer" in text and "- FAIL: Δm vs single-task -1.67% < floor 0.00%" in text
    assert "Δm vs single-task: -1.67 %" in text and "vs LightGBM: 2 %" in text
    assert "6666" not in text and "| train | 12.3 |" in text
