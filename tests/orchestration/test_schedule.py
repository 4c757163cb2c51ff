"""The scheduled deployment's parameters: `cutoff=auto` exactly when the source can take a cut-off."""

from __future__ import annotations

import yaml

from mtlops.config import load_config
from mtlops.orchestration.schedule import deployment_parameters
from tests.helpers import synthetic_params
from tests.orchestration.helpers import REPO


def test_flights_runs_are_scheduled_with_an_auto_cutoff():
    params = REPO / "params.yaml"
    assert deployment_parameters(load_config(params), params) == {"params_file": str(params), "cutoff": "auto"}


def test_a_source_without_an_arrival_hook_is_scheduled_without_a_cutoff(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(synthetic_params(), sort_keys=False))
    assert deployment_parameters(load_config(params), params) == {"params_file": str(params)}
