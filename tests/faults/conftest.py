"""The fault-injection harness: tiny projects with their own stores, `mtlops` run as a real process.

Every case builds its own project in a temp dir (params.yaml, its data, `mlflow/` store, optionally a
git + DVC repo holding a copy of dvc.yaml and src/) and drives it the way a user does: the `mtlops`
command in a subprocess, in its own process group, so a case can SIGKILL/SIGTERM it and its children
and then look at what is left (files, registry aliases, processes).

- `fault_project(kind="mixed", overrides=None, dvc=False, name="proj")` (fixture, a factory) →
  `FaultProject`: `.run(*args)` → `Outcome` (exit code, output, first error line, seconds);
  `.start(*args)` → a running `Popen`; `.kill(proc, signal)`; `wait_for(predicate)`;
  `.stages(*names)` runs stages in-process (set-up); `.champion()` → the version holding `champion`
  (None when none); `.versions()` → the registered versions; `.snapshot()` → snapshot.json.
- `write_rows(path, df)`: a CSV written as given (repeated header names kept).
- Quick cases run in `make test`; slow ones are marked `faults_slow` (`make test-faults`).

Subprocesses get telemetry off, a private PREFECT_HOME (and 120 s for Prefect's temporary server to
start), no MLFLOW_TRACKING_URI, one thread per library (so a run's floating-point results do not
depend on the machine's core count), and the caller's PYTHONPATH (so a case can be replayed against
another checkout's `src/`).
"""

from __future__ import annotations

import csv
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import mixed_params, synthetic_params, write_mixed_csv

REPO = Path(__file__).resolve().parents[2]
MTLOPS = [str(Path(sys.executable).with_name("mtlops"))]
if not Path(MTLOPS[0]).exists():  # an interpreter outside a venv
    MTLOPS = [sys.executable, "-m", "mtlops.cli"]


@dataclass
class Outcome:
    """How one `mtlops` process ended."""

    code: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def error(self) -> str:
        """The first line a user reads about the failure: `error: ...`, else the last line of stderr."""
        lines = [line for line in self.stderr.splitlines() if line.strip()]
        for line in lines:
            if line.startswith("error:"):
                return line
        return lines[-1] if lines else ""


class FaultProject:
    """One project folder: its params file, data and stores, driven through the `mtlops` command."""

    def __init__(self, root: Path, home: Path) -> None:
        self.root = root
        self.params = root / "params.yaml"
        self.home = home

    # ------------------------------------------------------------------------------------- config
    def write_params(self, params: dict[str, Any]) -> None:
        self.params.write_text(yaml.safe_dump(params, sort_keys=False))

    def read_params(self) -> dict[str, Any]:
        return yaml.safe_load(self.params.read_text())

    def update_params(self, overrides: dict[str, Any]) -> None:
        from mtlops.config import deep_merge

        self.write_params(deep_merge(self.read_params(), overrides))

    def load(self):
        """(cfg, paths) as the stages see them."""
        from mtlops.checks import load_checked
        from mtlops.paths import Paths

        return load_checked(self.params), Paths.for_params(self.params)

    def stages(self, *names: str) -> dict[str, Any]:
        """Run stages in this process (set-up is cheaper so); the project's own MLflow store, nothing leaked."""
        from mtlops.stages import run_stages

        os.environ.pop("MLFLOW_TRACKING_URI", None)  # mlflow exports it: each project must use its own store
        try:
            return run_stages(*self.load(), names)
        finally:
            os.environ.pop("MLFLOW_TRACKING_URI", None)

    # ---------------------------------------------------------------------------------- processes
    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_TRACKING_URI", "PYTEST_"))}
        env.update({
            "MLFLOW_DISABLE_TELEMETRY": "true", "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "GX_ANALYTICS_ENABLED": "false", "DVC_NO_ANALYTICS": "1", "DO_NOT_TRACK": "1",
            "PREFECT_HOME": str(self.home), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
            "PYTHONUNBUFFERED": "1",
            # Prefect's temporary API server gets 20 s to start: too few on a shared 2-core machine
            "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
        })  # fmt: skip
        return env | (extra or {})

    def command(self, *args: str, params: bool = True) -> list[str]:
        return [*MTLOPS, *args, *(["--params", str(self.params)] if params else [])]

    def run(self, *args: str, cwd: Path | None = None, timeout: float = 300, params: bool = True,
            env: dict[str, str] | None = None) -> Outcome:
        """`mtlops <args> --params <this project's params>` to completion."""
        start = time.perf_counter()
        proc = subprocess.run(self.command(*args, params=params), cwd=cwd or self.root, env=self.env(env),
                              capture_output=True, text=True, timeout=timeout)
        return Outcome(proc.returncode, proc.stdout, proc.stderr, time.perf_counter() - start)

    def start(self, *args: str, cwd: Path | None = None, params: bool = True, log: str = "process.log",
              env: dict[str, str] | None = None) -> subprocess.Popen:
        """`mtlops <args>` started in its own process group (session); output goes to `root/<log>`."""
        out = (self.root / log).open("w")
        return subprocess.Popen(self.command(*args, params=params), cwd=cwd or self.root, env=self.env(env),
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    @staticmethod
    def kill(proc: subprocess.Popen, sig: int = signal.SIGKILL, timeout: float = 60) -> int:
        """Send `sig` to the process's whole group; its exit code (negative: the signal that ended it)."""
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        return proc.wait(timeout=timeout)

    # ------------------------------------------------------------------------------------- state
    def snapshot(self) -> dict[str, Any]:
        import json

        return json.loads((self.root / "data" / "raw" / "snapshot.json").read_text())

    def _registry(self):
        """A client of the project's store (None before any registration) and the model's name, read from the
        params as written: a case may have broken them on purpose."""
        from mlflow import MlflowClient
        from mtlops.paths import Paths

        db = Paths.for_params(self.params).mlflow_dir / "mlflow.db"
        uri = f"sqlite:///{db}"
        name = self.read_params()["project"]["model_name"]
        return (MlflowClient(tracking_uri=uri, registry_uri=uri) if db.exists() else None), name

    def champion(self) -> str | None:
        """The version that holds the `champion` alias of the project's model (None: no model or alias)."""
        client, name = self._registry()
        try:
            return str(client.get_model_version_by_alias(name, "champion").version) if client else None
        except Exception:  # no such model, no such alias, no tables yet
            return None

    def versions(self) -> list[str]:
        """The project's registered model versions, oldest first."""
        client, name = self._registry()
        try:
            found = client.search_model_versions(f"name='{name}'") if client else []
        except Exception:
            return []
        return sorted((str(v.version) for v in found), key=int)


def wait_for(predicate: Callable[[], Any], timeout: float = 120, every: float = 0.02,
             proc: subprocess.Popen | None = None) -> Any:
    """Poll until `predicate()` is truthy (returns it); fails on timeout, or when `proc` ends first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"the process ended (exit {proc.returncode}) before the awaited state")
        time.sleep(every)
    pytest.fail(f"not reached within {timeout} s")


def write_rows(path: Path, header: list[str], rows: list[list[Any]]) -> Path:
    """A CSV exactly as given: repeated or spaced header names are kept (pandas' writer would not)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _init_dvc(root: Path) -> None:
    shutil.copy(REPO / "dvc.yaml", root / "dvc.yaml")
    shutil.copytree(REPO / "src" / "mtlops", root / "src" / "mtlops", ignore=shutil.ignore_patterns("__pycache__"))
    for args in (["git", "init", "-q"], [sys.executable, "-m", "dvc", "init", "-q"],
                 [sys.executable, "-m", "dvc", "config", "core.analytics", "false"]):
        subprocess.run(args, cwd=root, check=True, capture_output=True)


@pytest.fixture
def fault_project(tmp_path: Path):
    """A factory: `fault_project(kind="mixed" | "synthetic", overrides=None, dvc=False, name="proj")`.

    `mixed`: a CSV source (source/mixed.csv, relative to the params file) with a binary, a multiclass
    and a masked regression task; `synthetic`: two regression tasks from the generator.
    """
    from mtlops.config import deep_merge

    home = tmp_path / "prefect_home"
    home.mkdir(exist_ok=True)

    def make(kind: str = "mixed", overrides: dict[str, Any] | None = None, dvc: bool = False,
             name: str = "proj") -> FaultProject:
        root = tmp_path / name
        root.mkdir(parents=True)
        if kind == "mixed":
            write_mixed_csv(root / "source" / "mixed.csv")
            params = mixed_params(Path("source/mixed.csv"))
        elif kind == "synthetic":
            params = synthetic_params()
        else:
            raise ValueError(kind)
        project = FaultProject(root, home)
        project.write_params(deep_merge(params, overrides or {}))
        if dvc:
            _init_dvc(root)
        return project

    return make
