"""Projects for the orchestration tests: a real git + DVC repo, and the versions a run registered."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def dvc(root: Path, *args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=root, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


def git(root: Path, *args: str) -> str:
    proc = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=True)
    return proc.stdout.strip()


def dvc_project(root: Path, params: dict) -> Path:
    """A git + DVC repo holding this project's dvc.yaml, its bin/mtlops, a copy of src/ and the given params."""
    root.mkdir(parents=True)
    shutil.copy(REPO / "dvc.yaml", root / "dvc.yaml")
    shutil.copytree(REPO / "bin", root / "bin")
    shutil.copytree(REPO / "src" / "mtlops", root / "src" / "mtlops", ignore=shutil.ignore_patterns("__pycache__"))
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    dvc(root, "init", "-q")
    dvc(root, "config", "core.analytics", "false")
    return root


def registered_versions(root: Path, name: str) -> list:
    from mlflow import MlflowClient

    uri = f"sqlite:///{root / 'mlflow' / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    try:
        found = client.search_model_versions(f"name='{name}'")
    except Exception:  # no such table / model yet
        return []
    # search results carry no aliases; fetch each version whole
    return [client.get_model_version(name, v.version) for v in found]
