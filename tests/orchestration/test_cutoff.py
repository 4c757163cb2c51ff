"""New data arrives through the source's `arrival` hook: flights moves its end date; a source without
the hook refuses a cut-off, naming data.source, and params.yaml stays as it was."""

from __future__ import annotations

import shutil
from datetime import date

import pytest
import yaml

from mtlops.errors import UserError
from mtlops.orchestration.cutoff import apply_cutoff
from tests.helpers import synthetic_params
from tests.orchestration.helpers import REPO


def test_flights_cutoff_moves_the_end_date_and_keeps_the_comments(tmp_path):
    params = tmp_path / "params.yaml"
    shutil.copy(REPO / "params.yaml", params)
    comments = [line for line in params.read_text().splitlines() if line.lstrip().startswith("#")]

    assert apply_cutoff(params, "2013-02") == {"data.flights.end": "2013-02-28"}
    text = params.read_text()
    assert yaml.safe_load(text)["data"]["flights"]["end"] == "2013-02-28"
    assert comments and [line for line in text.splitlines() if line.lstrip().startswith("#")] == comments

    apply_cutoff(params, "auto", today=date(2026, 4, 2))
    assert yaml.safe_load(params.read_text())["data"]["flights"]["end"] == "2013-03-31"


def test_a_source_without_the_hook_refuses_a_cutoff_naming_data_source(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(synthetic_params(), sort_keys=False))
    before = params.read_text()
    with pytest.raises(UserError, match=r"data\.source 'synthetic'.*--cutoff"):
        apply_cutoff(params, "2013-02")
    assert params.read_text() == before
