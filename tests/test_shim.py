"""bin/mtlops, what dvc.yaml's stages run: it finds mtlops from a plain shell (no virtualenv activated)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from tests.helpers import synthetic_params

REPO = Path(__file__).resolve().parents[1]
PLAIN_PATH = "/usr/bin:/bin"  # a shell where nothing of the project's virtualenv is on PATH


def _project(root: Path) -> Path:
    (root / "bin").mkdir(parents=True)
    shutil.copy(REPO / "bin" / "mtlops", root / "bin" / "mtlops")
    (root / "params.yaml").write_text(yaml.safe_dump(synthetic_params(), sort_keys=False))
    return root


def _shim(root: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("MTLOPS_BIN", "DVC_ROOT")}
    return subprocess.run(
        [str(root / "bin" / "mtlops"), *args], cwd=root, capture_output=True, text=True, timeout=120,
        env={**clean, "PATH": PLAIN_PATH, **env},
    )  # fmt: skip


def test_the_projects_venv_is_found_from_a_plain_shell(tmp_path):
    root = _project(tmp_path / "proj")
    (root / ".venv").symlink_to(Path(sys.executable).parent.parent)  # what `make install` builds
    done = _shim(root, "model-name", DVC_ROOT=str(root))
    assert done.returncode == 0 and done.stdout.strip() == "tiny-mtl", done.stderr
    done = _shim(root, "model-name")  # run by hand: the project is the folder above bin/
    assert done.returncode == 0 and done.stdout.strip() == "tiny-mtl", done.stderr


def test_mtlops_bin_comes_first_and_a_missing_mtlops_is_named(tmp_path):
    root = _project(tmp_path / "proj")
    done = _shim(root, "model-name", MTLOPS_BIN=str(Path(sys.executable).parent / "mtlops"))
    assert done.returncode == 0 and done.stdout.strip() == "tiny-mtl", done.stderr
    done = _shim(root, "model-name")
    assert done.returncode == 127 and "make install" in done.stderr and "MTLOPS_BIN" in done.stderr
