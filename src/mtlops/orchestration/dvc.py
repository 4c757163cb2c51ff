"""Running a stage through DVC: `dvc repro --single-item <stage>`, so dvc.lock records every output
and, after a flow run, `dvc status` is clean and `git checkout <commit> && dvc repro` rebuilds a model."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mtlops.errors import UserError


class StageFailed(UserError):
    """A stage refused its input (its one-line `error:`): deterministic, not retried."""


class StageCrashed(RuntimeError):
    """A stage died another way (a traceback, a signal): possibly transient; the message has its last lines."""


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


def repro(stage: str, root: Path, echo: Callable[[str], None] | None = None) -> dict[str, Any]:
    """`dvc repro --single-item <stage>` in `root`, its output passed line by line to `echo` as it comes.

    Raises StageFailed (a UserError: the stage named what is wrong in its `error: ...` line; retrying
    cannot help) or StageCrashed (anything else, e.g. a traceback: may be transient).
    """
    from mtlops.processes import child_group, stop_tree

    tail: deque[str] = deque(maxlen=40)
    with child_group("run") as group:
        proc = group.popen(
            [sys.executable, "-m", "dvc", "repro", "--single-item", stage],
            cwd=root, env=subprocess_env() | {"PYTHONUNBUFFERED": "1"},
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
        )  # fmt: skip
        assert proc.stdout is not None, "started with stdout=PIPE"
        try:
            for line in proc.stdout:
                line = line.rstrip()
                tail.append(line)
                if echo is not None and line.strip():
                    echo(line)
            code = proc.wait()
        finally:
            if proc.poll() is None:  # interrupted while DVC ran: stop it and its stage now
                stop_tree(proc)
    if code != 0:
        errors = [line.removeprefix("error: ") for line in tail if line.startswith("error: ")]
        if errors:
            raise StageFailed(f"stage {stage!r}: {errors[-1]}")
        lines = "\n".join(line for line in list(tail)[-15:] if line.strip())
        raise StageCrashed(f"stage {stage!r} failed (dvc repro exit {code}):\n{lines}")
    return {"stage": stage, "skipped": any("didn't change" in line for line in tail), "runner": "dvc"}
