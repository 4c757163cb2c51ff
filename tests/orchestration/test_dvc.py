"""Before running stages through DVC: every params section dvc.yaml tracks must be in the file."""

from __future__ import annotations

import shutil

import pytest
import yaml

from mtlops.errors import UserError
from mtlops.orchestration.dvc import check_dvc_params, is_dvc_project
from tests.helpers import synthetic_params
from tests.orchestration.helpers import REPO


def test_a_section_dvc_tracks_but_the_file_leaves_out_is_named(tmp_path):
    shutil.copy(REPO / "dvc.yaml", tmp_path / "dvc.yaml")
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(synthetic_params(), sort_keys=False))
    check_dvc_params(tmp_path, params)  # the tiny project writes every tracked section

    trimmed = {k: v for k, v in synthetic_params().items() if k != "promotion"}
    params.write_text(yaml.safe_dump(trimmed, sort_keys=False))
    with pytest.raises(UserError, match=r"\['promotion'\].*--no-dvc"):
        check_dvc_params(tmp_path, params)


def test_a_dvc_project_needs_dvc_yaml_and_a_dvc_folder(tmp_path):
    assert not is_dvc_project(tmp_path)
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    assert not is_dvc_project(tmp_path)
    (tmp_path / ".dvc").mkdir()
    assert is_dvc_project(tmp_path)
