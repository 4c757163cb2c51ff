"""The registry on the team stack's PostgreSQL vs the embedded sqlite: register + promote time, and
4 concurrent `mtlops register` processes against one server without a lost or duplicated version.

    .venv/bin/python benchmarks/scale_registry.py [--concurrent 4]

Trains the tiny synthetic project once (embedded stores), starts a team stack in a temp folder,
then times `register` + `promote --force` on a fresh sqlite store and on the stack's MLflow server,
and finally starts N register processes at once (each its own project copy, the stack shared) and
checks the registry holds exactly N new versions, numbered without gaps, one per process's run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.helpers import make_project  # noqa: E402

TRAINED = ["ingest", "validate", "prepare", "baselines", "search", "train", "evaluate"]


def _copy(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("mlflow", ".mtlops"))
    return dest


def _timed(root: Path, env: dict[str, str]) -> float:
    """Wall seconds of `mtlops register` then `mtlops promote --force` in their own process."""
    mtlops = str(Path(sys.executable).parent / "mtlops")
    started = time.perf_counter()
    for argv in (["register"], ["promote", "--force", "--reason", "benchmark"]):
        subprocess.run([mtlops, *argv, "-p", str(root / "params.yaml")], env=env, check=True,
                       stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrent", type=int, default=4)
    args = parser.parse_args()

    from mlflow import MlflowClient

    from mtlops.config import set_value
    from mtlops.paths import Paths
    from mtlops.stages import run_stages
    from mtlops.stack.services import StackDir, down, up

    tmp = Path(tempfile.mkdtemp(prefix="scale_registry_"))
    stack = StackDir(tmp / "stack")
    base = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "PREFECT_API", "MTLOPS_"))}
    try:
        overrides = {"baselines": {"gbdt": False}, "search": {"enabled": False}}
        cfg, paths = make_project(tmp / "trained", overrides=overrides)
        run_stages(cfg, paths, TRAINED)
        served = {**base, **up(stack)}
        sqlite_s = _timed(_copy(paths.root, tmp / "sqlite"), base)
        stack_s = _timed(_copy(paths.root, tmp / "stack-one"), served)
        print(f"register + promote, one process each: sqlite {sqlite_s:.1f} s, stack (PostgreSQL) {stack_s:.1f} s")

        client = MlflowClient(served["MLFLOW_TRACKING_URI"])
        os.environ.update({k: served[k] for k in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")})
        before = {int(v.version) for v in client.search_model_versions(f"name='{cfg.project.model_name}'")}
        roots = [_copy(paths.root, tmp / f"c{i}") for i in range(args.concurrent)]
        for i, root in enumerate(roots):  # a different model per copy (embedded stores while training)
            retuned = set_value(root / "params.yaml", "train.lr", 1e-3 * (i + 2))
            run_stages(retuned, Paths.at(root), ["train", "evaluate"])
        mtlops = str(Path(sys.executable).parent / "mtlops")
        started = time.perf_counter()
        procs = [subprocess.Popen([mtlops, "register", "-p", str(r / "params.yaml")], env=served,
                                  stdout=subprocess.DEVNULL) for r in roots]
        codes = [p.wait() for p in procs]
        wall = time.perf_counter() - started
        versions = client.search_model_versions(f"name='{cfg.project.model_name}'")
        new = sorted(int(v.version) for v in versions if int(v.version) not in before)
        runs = {v.run_id for v in versions if int(v.version) in new}
        ok = codes == [0] * args.concurrent and new == list(range(max(before) + 1, max(before) + 1 + args.concurrent))
        verdict = "no version lost or duplicated" if ok and len(runs) == len(new) else "MISMATCH"
        print(f"{args.concurrent} concurrent registers: {wall:.1f} s, exit codes {codes}, new versions {new}, "
              f"{len(runs)} distinct runs -> {verdict}")
    finally:
        down(stack)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
