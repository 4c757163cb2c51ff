"""The registry on the team stack's PostgreSQL vs the embedded sqlite: register + promote time, and
4 concurrent flow runs (`mtlops run`) against one server without a lost or duplicated version.

    .venv/bin/python benchmarks/scale_registry.py [--concurrent 4]

Trains the tiny synthetic project once (embedded stores), starts a team stack in a temp folder,
then times `register` + `promote --force` on a fresh sqlite store and on the stack's MLflow server.
Finally it starts N `mtlops run` processes at once, each its own copy of the tiny project (a different
learning rate each, so N different models) with the stack's environment (MLflow, Prefect), and checks
that the registry holds exactly N new versions, numbered without gaps, one per flow's run, and that each
project's registration.json names its own one.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.helpers import make_project

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
    from mtlops.config import deep_merge
    from mtlops.paths import Paths
    from mtlops.stack.services import StackDir, down, up
    from mtlops.stages import run_stages

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

        uri = served["MLFLOW_TRACKING_URI"]
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        os.environ.update({k: served[k] for k in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")})
        name = cfg.project.model_name
        before = {int(v.version) for v in client.search_model_versions(f"name='{name}'")}
        flow = {**overrides, "train": {"epochs": 2}, "evaluation": {"bootstrap": 10},
                "promotion": {"delta_m_floor": -1000.0}}
        roots = []
        for i in range(args.concurrent):  # a different model per copy
            _, c_paths = make_project(tmp / f"c{i}", overrides=deep_merge(flow, {"train": {"lr": 1e-3 * (i + 2)}}))
            roots.append(c_paths.root)
        mtlops = str(Path(sys.executable).parent / "mtlops")
        started = time.perf_counter()
        procs = [subprocess.Popen([mtlops, "run", "-p", str(r / "params.yaml")], env=served, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True) for r in roots]
        outputs = [p.communicate()[0] for p in procs]
        codes = [p.returncode for p in procs]
        wall = time.perf_counter() - started
        for code, output in zip(codes, outputs):
            if code:
                print(f"a flow run failed (exit {code}):\n" + "\n".join(output.splitlines()[-15:]))
        versions = client.search_model_versions(f"name='{name}'")
        new = sorted(int(v.version) for v in versions if int(v.version) not in before)
        runs = {v.run_id for v in versions if int(v.version) in new}
        claimed = sorted(int(json.loads(Paths.at(r).registration.read_text())["version"]) for r in roots
                         if Paths.at(r).registration.exists())
        first = max(before, default=0) + 1
        expected = list(range(first, first + args.concurrent))
        ok = codes == [0] * args.concurrent and new == expected == claimed and len(runs) == len(new)
        print(f"{args.concurrent} concurrent flow runs: {wall:.1f} s, exit codes {codes}; versions expected "
              f"{expected}, found {new}, claimed by the runs {claimed}, {len(runs)} distinct runs -> "
              f"{'no version lost or duplicated' if ok else 'MISMATCH'}")
    finally:
        down(stack)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
