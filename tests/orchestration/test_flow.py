"""The retrain flow end to end: real Prefect (test harness), real DVC repo, real MLflow sqlite store.

Each test builds its own project folder (params, dvc.yaml, a copy of src/ so dvc.yaml's code deps
resolve), so stores never leak; the flow tests share one Prefect harness on one xdist worker.
"""

from __future__ import annotations

import json

import pytest

from mtlops.config import deep_merge
from tests.helpers import synthetic_params
from tests.orchestration.helpers import dvc, dvc_project, registered_versions

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("prefect")]


def test_flow_end_to_end_through_dvc_leaves_dvc_status_clean(tmp_path, prefect_harness):
    from mtlops.orchestration.run import run_retrain

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
    from mtlops.orchestration.flow import ValidationGateFailed
    from mtlops.orchestration.run import run_retrain

    params = deep_merge(synthetic_params(), {"validation": {"min_rows": 10_000_000}})
    root = dvc_project(tmp_path / "bad", params)
    with pytest.raises(ValidationGateFailed) as info:
        run_retrain(root / "params.yaml", quiet=True)
    assert "validation failed" in str(info.value)
    assert (root / "reports" / "validation" / "summary.json").exists()
    assert not (root / "data" / "processed").exists()
    assert not (root / "reports" / "registration.json").exists()
    assert registered_versions(root, "tiny-mtl") == []
