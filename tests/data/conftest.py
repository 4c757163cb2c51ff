"""Fixtures for the data layer: one week of flights, ingested and prepared once per module."""

from __future__ import annotations

import pytest

from tests.data.helpers import flights_project


@pytest.fixture(scope="module")
def flights_week(tmp_path_factory):
    """(cfg, paths, ingest summary, prepare summary) for 2013-01-01..07, val/test = 2 days each."""
    from mtlops.data.ingest import ingest
    from mtlops.data.prepare import prepare

    cfg, paths = flights_project(tmp_path_factory.mktemp("flights"))
    return cfg, paths, ingest(cfg, paths), prepare(cfg, paths)
