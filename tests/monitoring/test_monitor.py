"""`mtlops monitor` on a real champion in a real MLflow store, with arriving rows generated on the spot.

Same distribution → no drift; a shifted feature → that feature drifts; labels permuted → the task is
degraded; the page renders offline and the run is in MLflow, linked to the version.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from tests.helpers import write_mixed_csv
from tests.registry.conftest import copy_project


@pytest.fixture
def champion_copy(served, tmp_path):
    """A private copy of the served project with its store (the monitor writes tags and runs)."""
    _, paths, _ = served
    return copy_project(paths.root, tmp_path / "proj", with_store=True)


def arriving(tmp_path, seed: int, n: int = 1500, change=None):
    path = write_mixed_csv(tmp_path / f"arriving_{seed}.csv", n=n, seed=seed)
    if change:
        df = pd.read_csv(path)
        change(df)
        df.to_csv(path, index=False)
    return path


def test_same_distribution_no_drift_shifted_feature_drifts(champion_copy, tmp_path):
    from mtlops.monitoring.monitor import monitor

    cfg, paths = champion_copy
    same = monitor(cfg, paths, rows=arriving(tmp_path, seed=11), log_run=False)
    columns = {c["column"]: c for c in same["features"]["columns"]}
    assert not any(c["drifted"] for c in columns.values()), columns
    assert same["verdict"] == "ok", "\n".join(same["reasons"])
    assert not any("config" in note for note in same["notes"]), same["notes"]  # read from the version's run

    def shift(df):
        df["x1"] = df["x1"] + 1.5
        df["shop"] = "d"

    shifted = monitor(cfg, paths, rows=arriving(tmp_path, seed=12, change=shift), log_run=False)
    columns = {c["column"]: c for c in shifted["features"]["columns"]}
    assert columns["x1"]["drifted"] and columns["shop"]["drifted"]
    assert not columns["x2"]["drifted"] and not columns["x3"]["drifted"]
    assert shifted["features"]["drifted"]  # 2 of 4 features >= drift_share 0.5
    assert shifted["verdict"] in ("drifted", "degraded")
    assert shifted["exit_code"] in (3, 4)


def test_permuted_labels_degrade_the_task_and_the_run_is_recorded(champion_copy, tmp_path):
    from mtlops.monitoring.monitor import monitor, monitor_dir
    from mtlops.registry.store import CHAMPION, connect

    cfg, paths = champion_copy

    def permute(df):
        df["churn"] = np.random.default_rng(0).permutation(df["churn"].to_numpy())

    result = monitor(cfg, paths, rows=arriving(tmp_path, seed=13, change=permute))
    churn = result["tasks"]["churn"]
    assert churn["verdict"] == "worse" and churn["change_ci_high"] < -cfg.task("churn").tolerance, churn
    assert result["verdict"] == "degraded" and result["exit_code"] == 4
    assert any(r.startswith("degraded: task 'churn'") for r in result["reasons"])

    page = (monitor_dir(paths) / "report.html").read_text()
    assert "degraded" in page and "data:image/png;base64," in page
    assert "http://" not in page and "https://" not in page and "<script" not in page  # renders offline
    assert json.loads((monitor_dir(paths) / "monitor.json").read_text())["mlflow_run_id"] == result["mlflow_run_id"]

    client = connect(paths)
    version = client.get_model_version_by_alias(cfg.project.model_name, CHAMPION)
    assert version.tags["monitor.verdict"] == "degraded" and version.tags["monitor.run_id"] == result["mlflow_run_id"]
    run = client.get_run(result["mlflow_run_id"])
    assert run.data.tags["mtlops.monitor.version"] == str(version.version)
    files = {f.path for f in client.list_artifacts(run.info.run_id, "monitor")}
    assert {"monitor/report.html", "monitor/monitor.json", "monitor/figures"} <= files
    assert run.data.metrics["monitor/churn.change"] < 0


def test_the_command_exits_with_the_verdicts_code_and_names_a_missing_file(champion_copy, tmp_path):
    from tests.test_cli import run

    _, paths = champion_copy

    def permute(df):
        df["churn"] = np.random.default_rng(1).permutation(df["churn"].to_numpy())

    rows = arriving(tmp_path, seed=14, change=permute)
    proc = run("monitor", "--params", str(paths.root / "params.yaml"), "--rows", str(rows), "--no-events")
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert "degraded (exit 4)" in proc.stdout and "report: " in proc.stdout
    missing = run("monitor", "--params", str(paths.root / "params.yaml"), "--rows", str(tmp_path / "nope.csv"))
    assert missing.returncode == 1 and "nope.csv: file of arriving rows not found" in missing.stderr
