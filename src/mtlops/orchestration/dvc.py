"""Running a stage through DVC: `dvc repro --single-item <stage>`, so dvc.lock records every output
and, after a flow run, `dvc status` is clean and `git checkout <commit> && dvc repro` rebuilds a model."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from mtlops.errors import UserError


class StageFailed(UserError):
    """A stage exited with an error; the message carries its last lines."""


def is_dvc_project(root: Path) -> bool:
    return (root / "dvc.yaml").exists() and (root / ".dvc").is_dir()


def subprocess_env() -> dict[str, str]:
    """The venv's bin first on PATH, and MTLOPS_BIN at this install's `mtlops`, which dvc.yaml's
    `bin/mtlops <stage>` runs: the stages run the same code as the flow that started them."""
    bin_dir = Path(sys.executable).parent
    path = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"
    return {**os.environ, "PATH": path, "MTLOPS_BIN": str(bin_dir / "mtlops")}


def check_dvc_params(root: Path, params_file: str | Path) -> None:
    """DVC tracks params.yaml's sections per stage and refuses a section the file leaves out."""
    import yaml

    from mtlops.config import read_sections

    stages = yaml.safe_load((root / "dvc.yaml").read_text()).get("stages", {})
    wanted = {str(p).split(".")[0] for stage in stages.values() for p in stage.get("params", []) if isinstance(p, str)}
    present = read_sections(params_file)
    missing = sorted(wanted - present)
    if missing:
        raise UserError(f"{params_file}: sections {missing} are tracked by dvc.yaml but absent; "
                        "write them out (their defaults are in src/mtlops/schema.py) or run with --no-dvc")


def repro(stage: str, root: Path) -> dict[str, Any]:
    """`dvc repro --single-item <stage>` in `root`; raises StageFailed with the output's last lines."""
    proc = subprocess.run(
        [sys.executable, "-m", "dvc", "repro", "--single-item", stage],
        cwd=root,
        env=subprocess_env(),
        capture_output=True,
        text=True,
    )
    output = (proc.stdout + proc.stderr).strip()
    if proc.returncode != 0:
        tail = "\n".join(line for line in output.splitlines()[-15:] if line.strip())
        raise StageFailed(f"stage {stage!r} failed (dvc repro exit {proc.returncode}):\n{tail}")
    return {"stage": stage, "skipped": "didn't change" in output, "runner": "dvc"}
