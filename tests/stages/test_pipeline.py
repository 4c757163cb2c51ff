"""One pipeline, named the same everywhere: the stage table, the `mtlops` commands and dvc.yaml."""

from __future__ import annotations

import importlib
from pathlib import Path

import click
import pytest
import typer
import yaml

from mtlops.stages import STAGE_NAMES, run_stages, stage_function

REPO = Path(__file__).resolve().parents[2]
DVC_STAGES = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]


def test_table_cli_and_dvc_yaml_name_the_same_ten_stages_in_the_same_order():
    from mtlops.cli import app

    command = typer.main.get_command(app)
    listed = command.list_commands(click.Context(command))  # the order `mtlops --help` shows
    assert len(STAGE_NAMES) == 10
    assert [name for name in listed if name in STAGE_NAMES] == list(STAGE_NAMES)
    assert list(DVC_STAGES) == list(STAGE_NAMES)
    assert [stage["cmd"] for stage in DVC_STAGES.values()] == [f"bin/mtlops {name}" for name in STAGE_NAMES]


@pytest.mark.parametrize("name", STAGE_NAMES)
def test_each_stage_is_its_own_module_and_dvc_tracks_its_code(name):
    assert stage_function(name) is importlib.import_module(f"mtlops.stages.{name}").run
    deps = DVC_STAGES[name]["deps"]
    assert f"src/mtlops/stages/{name}.py" in deps
    missing = [d for d in deps if d.startswith("src/") and not (REPO / d).exists()]
    assert not missing, f"dvc.yaml stage {name!r} depends on code that is not there: {missing}"


def test_an_unknown_stage_is_refused_before_anything_runs(project):
    cfg, paths = project
    with pytest.raises(KeyError, match="trian"):
        run_stages(cfg, paths, ["ingest", "trian"])
    assert not paths.raw_snapshot.exists()
