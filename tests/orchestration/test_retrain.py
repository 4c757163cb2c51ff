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
