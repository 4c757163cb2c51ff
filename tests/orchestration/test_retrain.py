"""`make run` refuses a cut-off it cannot apply before Prefect starts (a second's wait, not a flow run)."""

from __future__ import annotations

import shutil

import pytest
import yaml

from mtlops.errors import UserError
from mtlops.orchestration import retrain
from tests.helpers import synthetic_params
from tests.orchestration.helpers import REPO


@pytest.fixture
def no_prefect(monkeypatch):
    monkeypatch.setattr(retrain, "build_retrain_flow", lambda: pytest.fail("the flow started"))


def test_a_source_without_an_arrival_hook_is_refused_before_the_flow(tmp_path, no_prefect):
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(synthetic_params(), sort_keys=False))
    with pytest.raises(UserError, match=r"data\.source 'synthetic'"):
        retrain.run_retrain(params, cutoff="2013-02", quiet=True)


def test_a_malformed_cutoff_is_refused_before_the_flow_and_params_stay(tmp_path, no_prefect):
    params = tmp_path / "params.yaml"
    shutil.copy(REPO / "params.yaml", params)
    before = params.read_text()
    with pytest.raises(UserError, match="expected YYYY-MM-DD"):
        retrain.run_retrain(params, cutoff="June", quiet=True)
    assert params.read_text() == before


def test_the_run_ends_with_links_to_its_pages_in_mtlops_ui(tmp_path, monkeypatch):
    """The links name `mtlops ui`'s addresses (they open after the run), MLflow's in its training view."""
    from mtlops.paths import Paths

    for key in ("MLFLOW_TRACKING_URI", "PREFECT_UI_URL"):
        monkeypatch.delenv(key, raising=False)
    paths = Paths.at(tmp_path)
    paths.registration.parent.mkdir(parents=True)
    paths.registration.write_text('{"model_name": "m", "version": "2"}')
    result = {"mlflow_run": "abc", "mlflow_experiment": "3", "prefect_flow_run": "f-1", "stages": {},
              "promotion": {"version": "2"}}
    out = retrain.links(paths, result)
    assert out["MLflow run"] == "http://127.0.0.1:5000/#/experiments/3/runs/abc?workflowType=machine_learning"
    assert out["version"] == "http://127.0.0.1:5000/#/models/m/versions/2?workflowType=machine_learning"
    assert out["Prefect run"] == "http://127.0.0.1:4200/runs/flow-run/f-1"
    assert "MLflow run" not in retrain.links(paths, result | {"mlflow_run": None})  # a run that logged nothing
