"""The retrain flow end to end: real Prefect (test harness), real DVC repo, real MLflow sqlite store.

Each test builds its own project folder (params, dvc.yaml, a copy of src/ so dvc.yaml's code deps
resolve), so stores never leak; the flow tests share one Prefect harness on one xdist worker.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mtlops.config import deep_merge
from mtlops.orchestration import months, resolve_cutoff
from tests.helpers import synthetic_params

REPO = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("prefect")]


def dvc(root: Path, *args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=root, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


def dvc_project(root: Path, params: dict) -> Path:
    """A git + DVC repo holding this project's dvc.yaml, a copy of src/ and the given params."""
    root.mkdir(parents=True)
    shutil.copy(REPO / "dvc.yaml", root / "dvc.yaml")
    shutil.copytree(REPO / "src" / "mtlops", root / "src" / "mtlops", ignore=shutil.ignore_patterns("__pycache__"))
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    dvc(root, "init", "-q")
    dvc(root, "config", "core.analytics", "false")
    return root


def registered_versions(root: Path, name: str) -> list:
    from mlflow import MlflowClient

    uri = f"sqlite:///{root / 'mlflow' / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    try:
        found = client.search_model_versions(f"name='{name}'")
    except Exception:  # no such table / model yet
        return []
    # search results carry no aliases; fetch each version whole
    return [client.get_model_version(name, v.version) for v in found]


def test_flow_end_to_end_through_dvc_leaves_dvc_status_clean(tmp_path, prefect_harness):
    from mtlops.orchestration import run_retrain

    root = dvc_project(tmp_path / "proj", synthetic_params())
    result = run_retrain(root / "params.yaml", quiet=True)

    assert all(not s["skipped"] for s in result["stages"].values()), result["stages"]
    assert list(result["stages"]) == ["ingest", "validate", "prepare", "baselines", "search", "train",
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


def test_bad_snapshot_fails_the_flow_at_validation_and_registers_nothing(tmp_path, prefect_harness):
    from mtlops.orchestration import ValidationGateFailed, run_retrain

    params = deep_merge(synthetic_params(), {"validation": {"min_rows": 10_000_000}})
    root = dvc_project(tmp_path / "bad", params)
    with pytest.raises(ValidationGateFailed) as info:
        run_retrain(root / "params.yaml", quiet=True)
    assert "validation failed" in str(info.value)
    assert (root / "reports" / "validation" / "summary.json").exists()
    assert not (root / "data" / "processed").exists()
    assert not (root / "reports" / "registration.json").exists()
    assert registered_versions(root, "tiny-mtl") == []


def test_two_simulated_months_make_a_champion_then_a_gate_decision(tmp_path, prefect_harness):
    """Flights, January then February 2013: month one crowns a champion, month two is gated on new data."""
    from mtlops.orchestration import simulate

    root = tmp_path / "sim"
    root.mkdir()
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params = deep_merge(params, {
        "project": {"model_name": "sim-mtl", "experiment": "sim"},
        "split": {"val_days": 5, "test_days": 5, "max_train_rows": 3000},
        # January -> January+February nearly doubles the rows: growth is expected here, so warn only
        "validation": {"min_rows": 1000, "drift": {"row_count_change": {"threshold": 0.5, "level": "warn"}}},
        "train": {"epochs": 1, "batch_size": 512, "device": "cpu"},
        "baselines": {"gbdt_params": {"n_estimators": 10, "num_leaves": 7}},
        "search": {"enabled": False},
        "evaluation": {"bootstrap": 20},
        "promotion": {"delta_m_floor": -1000.0},
    })
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))

    rows = simulate(root / "params.yaml", start="2013-01", end="2013-02", through_dvc=False)

    assert [r["month"] for r in rows] == ["2013-01", "2013-02"]
    first, second = rows[0]["promotion"], rows[1]["promotion"]
    assert first["promoted"] and int(first["champion"]) == int(first["version"]) == 1
    assert int(second["version"]) == 2 and second["decision"] and second["reasons"]
    versions = {int(v.version): v for v in registered_versions(root, "sim-mtl")}
    assert set(versions) == {1, 2}
    assert any("decision" in key for key in versions[2].tags), versions[2].tags
    assert yaml.safe_load((root / "params.yaml").read_text())["data"]["flights"]["end"] == "2013-02-28"


def test_cutoffs_and_months():
    from datetime import date

    assert resolve_cutoff("2013-02") == "2013-02-28"
    assert resolve_cutoff("2013-07-04") == "2013-07-04"
    assert resolve_cutoff("auto", today=date(2026, 11, 23)) == "2013-10-31"
    assert resolve_cutoff("auto", today=date(2027, 1, 5)) == "2013-12-31"
    assert months("2013-11", "2014-01") == ["2013-11", "2013-12", "2014-01"]
    from mtlops.errors import UserError

    with pytest.raises(UserError, match="after"):
        months("2013-06", "2013-01")
    with pytest.raises(UserError, match="expected"):
        resolve_cutoff("June")
