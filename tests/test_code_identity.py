"""Code identity: a change to what the code does gives the train checkpoints and the search study a new
fingerprint; a change to what it says (a comment, a docstring) or to code the stage never runs does not."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mtlops.code_identity import SRC, code_text, runs_code_hash, stage_code_hash, stage_modules
from mtlops.search.storage import OBJECTIVE
from tests.helpers import make_project

TRAINER = Path("training") / "trainer.py"


@pytest.fixture
def src(tmp_path) -> Path:
    """A private copy of the mtlops package (its files may be edited)."""
    copy = tmp_path / "src" / "mtlops"
    shutil.copytree(SRC, copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{path}: {old!r} not found"
    path.write_text(text.replace(old, new, 1))


def test_the_train_stage_runs_its_loop_and_not_the_registry():
    train = stage_modules("train")
    assert {"mtlops.training.trainer", "mtlops.training.resume", "mtlops.weighting.famo", "mtlops.schema"} <= train
    assert "mtlops.registry.serve" not in train and "mtlops.cli" not in train


def test_a_one_line_code_change_is_a_new_hash_a_comment_is_not(src):
    train, study = stage_code_hash("train", src), runs_code_hash(OBJECTIVE, src)
    assert (train, study) == (stage_code_hash("train"), runs_code_hash(OBJECTIVE))  # the copy is the same code

    _edit(src / TRAINER, "\nimport ", "\n# a comment, and blank lines, change nothing\n\n\nimport ")
    _edit(src / TRAINER, '"""', '"""A docstring edit changes nothing. ')
    _edit(src / "registry" / "serve.py", "\nimport ", "\nSERVED = 1\nimport ")  # code train never runs
    assert stage_code_hash("train", src) == train and runs_code_hash(OBJECTIVE, src) == study

    _edit(src / TRAINER, "\nimport ", "\nEXTRA = 1\nimport ")  # one line of code
    assert stage_code_hash("train", src) != train and runs_code_hash(OBJECTIVE, src) != study


def test_code_text_drops_comments_docstrings_and_blank_lines_only(tmp_path):
    path = tmp_path / "m.py"
    path.write_text('"""Module doc."""\n\nX = "# not a comment"  # a comment\n\n\n'
                    'def f():\n    """Doc\n    über two lines."""\n    return "kept"\n')
    assert code_text(path) == 'X = "# not a comment"\ndef f():\n    return "kept"'


def _fingerprints(src: Path, root: Path) -> dict[str, str]:
    """The train checkpoint fingerprint and the study name, computed by the code in `src` (a new process)."""
    script = (
        "import json, sys\n"
        "from mtlops.config import load_config\n"
        "from mtlops.paths import Paths\n"
        "from mtlops.search.storage import study_name\n"
        "from mtlops.training.resume import weights_fingerprint\n"
        "cfg = load_config(sys.argv[1]); paths = Paths.at(sys.argv[2])\n"
        "import mtlops; assert mtlops.__file__.startswith(sys.argv[3]), mtlops.__file__\n"
        "print(json.dumps({'train': weights_fingerprint(cfg, paths), 'study': study_name(cfg, paths)}))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(src.parent)}
    out = subprocess.run([sys.executable, "-c", script, str(root / "params.yaml"), str(root), str(src)],
                         env=env, capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_training_change_retrains_and_opens_a_new_study(src, tmp_path):
    """The fingerprints as the stages compute them, from the code that runs: a one-line change to a training
    module changes both (before #25 neither changed: the old weights were "resumed", the old study reused)."""
    make_project(tmp_path / "proj")
    before = _fingerprints(src, tmp_path / "proj")
    assert _fingerprints(src, tmp_path / "proj") == before  # stable: a rerun resumes
    _edit(src / TRAINER, "\nimport ", "\nEXTRA = 1\nimport ")
    after = _fingerprints(src, tmp_path / "proj")
    assert after["train"] != before["train"] and after["study"] != before["study"]
