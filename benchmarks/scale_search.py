"""The search across hosts on the team stack: trials/hour with 1 vs 2 worker processes, same budget.

    .venv/bin/python benchmarks/scale_search.py [--budget 8] [--epochs 3]

Starts a team stack (PostgreSQL, MLflow, Prefect) in a temp folder, prepares the tiny synthetic
project once, then for 1 and for 2 workers runs a fresh study on the stack's PostgreSQL: each worker
its own process, project copy and environment, only the storage URL shared (as separate hosts would).
Prints per setting the wall time, trials/hour and the trial count across workers, which must equal
the budget exactly. On a 2-core machine 2 workers share the cores, so expect well under 2x.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.helpers import make_project
from tests.stack.test_search_hosts import host

TINY_SPACE = {"width": [8, 16], "depth": [1, 2], "experts": [2, 3], "batch_size": [64, 128]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()

    from optuna.trial import TrialState

    from mtlops.baselines.run import run_baselines
    from mtlops.checks import load_checked
    from mtlops.data.ingest import ingest
    from mtlops.data.prepare import prepare
    from mtlops.paths import Paths
    from mtlops.search.storage import open_study
    from mtlops.stack.services import StackDir, down, up

    tmp = Path(tempfile.mkdtemp(prefix="scale_search_"))
    stack = StackDir(tmp / "stack")
    try:
        url = up(stack)["MTLOPS_SEARCH_STORAGE"]
        cfg, paths = make_project(tmp / "prepared", overrides={"baselines": {"gbdt": False}})
        ingest(cfg, paths)
        prepare(cfg, paths)
        run_baselines(cfg, paths)
        print(f"budget {args.budget} trials, {args.epochs} epochs each, tiny synthetic project, PostgreSQL storage")
        print(f"{'workers':>7} {'wall s':>8} {'trials/h':>9} {'trials':>6} {'exact':>5}")
        for workers in (1, 2):
            overrides = {"search": {"space": TINY_SPACE, "pruner": "none", "epochs": args.epochs,
                                    "n_trials": args.budget, "study_name": f"bench-{workers}-{int(time.time())}",
                                    "batch": 1, "workers": 1}}  # a host = one process taking one trial at a time
            copies = []
            for i in range(workers):
                root = tmp / f"w{workers}-{i}"
                shutil.copytree(tmp / "prepared", root, ignore=shutil.ignore_patterns("mlflow", "search"))
                copies.append((load_checked(root / "params.yaml", overrides=overrides), Paths.at(root)))
            started = time.perf_counter()
            procs = [host(c, p, url) for c, p in copies]
            codes = [proc.wait() for proc in procs]
            wall = time.perf_counter() - started
            trials = open_study(copies[0][0], copies[0][1], url).trials
            done = sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
            exact = codes == [0] * workers and done == args.budget
            print(f"{workers:>7} {wall:>8.1f} {done / wall * 3600:>9.0f} {done:>6} {'yes' if exact else 'NO':>5}")
    finally:
        down(stack)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
