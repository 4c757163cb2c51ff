"""params.yaml keeps its form when a tool sets one key: `dvc exp run -S` (DVC's own YAML writer) and
`mtlops.config.set_value` (what `--cutoff` uses) change the line of that key and nothing else.

DVC re-serialises every list and string of the file when it applies `-S`: a file in any other style
comes back rewritten whole (and stays so in the workspace when the experiment fails).
"""

from __future__ import annotations

import difflib
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _changed_lines(before: Path, after: Path) -> list[str]:
    diff = difflib.unified_diff(before.read_text().splitlines(), after.read_text().splitlines(), lineterm="", n=0)
    return [line for line in diff if line[:1] in "+-" and not line.startswith(("+++", "---"))]


@pytest.mark.parametrize(
    ("key", "value", "line"),
    [("train.lr", "0.0005", "  lr: 0.0005"), ("data.flights.end", "'2013-09-30'", "    end: '2013-09-30'")],
)
def test_dvc_set_param_changes_one_line(tmp_path, key, value, line):
    from dvc.utils.hydra import apply_overrides

    copy = tmp_path / "params.yaml"
    shutil.copy(REPO / "params.yaml", copy)
    apply_overrides(copy, [f"{key}={value}"])
    changed = _changed_lines(REPO / "params.yaml", copy)
    assert len(changed) == 2 and changed[1][1:].split("#")[0].rstrip() == line, changed


def test_set_value_changes_one_line(tmp_path):
    from mtlops.config import set_value

    copy = tmp_path / "params.yaml"
    shutil.copy(REPO / "params.yaml", copy)
    set_value(copy, "data.flights.end", "2013-09-30")
    changed = _changed_lines(REPO / "params.yaml", copy)
    assert len(changed) == 2 and changed[1].startswith("+    end: '2013-09-30'"), changed


def test_a_flow_style_list_would_be_rewritten(tmp_path):
    """The check can fail: the old form (`key: [a, b]`) does not survive DVC's writer."""
    from dvc.utils.hydra import apply_overrides

    params = tmp_path / "params.yaml"
    params.write_text("data:\n  key: [flight_id]\ntrain:\n  lr: 0.002\n")
    before = tmp_path / "before.yaml"
    shutil.copy(params, before)
    apply_overrides(params, ["train.lr=0.001"])
    assert len(_changed_lines(before, params)) > 2
