"""Bad inputs and configs through the real `mtlops` command: what the user sees, how fast, and the champion.

    .venv/bin/python benchmarks/bad_inputs.py [--cases NAME ...]

Builds the tiny mixed project (800 rows; binary, multiclass, masked regression) in a temp folder,
trains it through every stage to a champion (version 1), then per case gives a private copy the bad
input and runs the command a user would. Prints one row per case: the command, its exit code, its
wall time, the first line of the error and the champion before → after. Run it with
`PYTHONPATH=<another checkout>/src` to see the same cases on other code.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.faults.conftest import FaultProject, write_rows
from tests.helpers import mixed_params, write_mixed_csv

SOURCE = Path("source") / "mixed.csv"


def _rows(p: FaultProject) -> pd.DataFrame:
    return pd.read_csv(p.root / SOURCE)


def _save(p: FaultProject, df: pd.DataFrame) -> None:
    df.to_csv(p.root / SOURCE, index=False)


def _extra_column(p: FaultProject, name: str) -> None:
    df = _rows(p)
    write_rows(p.root / SOURCE, [*df.columns, name], np.column_stack([df.to_numpy(object), df["x2"]]).tolist())


def _huge(p: FaultProject) -> None:
    df = _rows(p)
    df.loc[7, "x2"] = 1e300
    _save(p, df)


def _one_class_in_test(p: FaultProject) -> None:
    from mtlops.data.splits import split_frame

    df = _rows(p)
    parts, _ = split_frame(df, p.load()[0])
    _save(p, df.assign(churn=df["churn"].where(~df["id"].isin(parts["test"]["id"]), 0)))


def _few_labels(p: FaultProject) -> None:
    df = _rows(p)
    _save(p, df.assign(amount=df["amount"].where(np.random.default_rng(1).random(len(df)) < 0.1)))
    p.update_params({"validation": {"null_fraction": {"amount": 0.95}}})


def _score_file(p: FaultProject) -> None:
    rows = _rows(p).head(40).drop(columns=["churn", "segment", "amount"])
    rows.loc[3, "x2"] = 1e300
    rows.to_csv(p.root / "score.csv", index=False)


def _from_elsewhere(p: FaultProject) -> None:
    other = p.root.parent / "other"
    write_mixed_csv(other / SOURCE, n=500)  # the folder the command runs in has a file of the same name


def _search(p: FaultProject, **space) -> None:
    """The search on (the champion was trained without one), with this space."""
    p.update_params({"search": {"enabled": True, "n_trials": 2, "epochs": 2, "space": space}})


RUN = ("run", "--no-dvc")
# case → (class, how the input goes bad, the command, run from the folder beside the project)
CASES: dict[str, tuple[str, Callable[[FaultProject], None], tuple[str, ...], bool]] = {
    "search.space.width [64, 16] (#18.11), check": ("config", lambda p: _search(p, width=[64, 16]), ("check",), False),
    "search.space.width [64, 16] (#18.11), run": ("config", lambda p: _search(p, width=[64, 16]), RUN, False),
    "unknown architecture in search.space (#18.11)": (
        "config", lambda p: _search(p, architectures=["hard", "tabnet"]), RUN, False),
    "a column declared numeric and categorical": (
        "config", lambda p: p.update_params({"features": {"categorical": ["shop", "x3"]}}), RUN, False),
    "relative data path, run from another project's folder (#18.2)": ("data", _from_elsewhere, RUN, True),
    "CSV with two 'x1' columns (#18.5)": ("data", lambda p: _extra_column(p, "x1"), RUN, False),
    "CSV with 'x1' and ' X1' (#18.5)": ("data", lambda p: _extra_column(p, " X1"), RUN, False),
    "binary label with one class (#18.3)": ("data", lambda p: _save(p, _rows(p).assign(churn=0)), RUN, False),
    "one class in the test split (#18.3)": ("data", _one_class_in_test, RUN, False),
    "too few labels in a split (#18.3)": ("data", _few_labels, RUN, False),
    "1e300 in a feature (#18.4)": ("data", _huge, RUN, False),
    "predict on a row with 1e300 (#18.4)": (
        "data", _score_file, ("predict", "--input", "score.csv", "--output", "scored.csv"), False),
}


def _read(project: FaultProject) -> str:
    """What a command that succeeded read: the snapshot's rows and where from."""
    snapshot = project.snapshot() if (project.root / "data" / "raw" / "snapshot.json").exists() else {}
    return f"(ok; snapshot of {snapshot.get('rows')} rows from {snapshot.get('origin')})" if snapshot else "(ok)"


def _champion_project(work: Path) -> FaultProject:
    from mtlops.config import deep_merge
    from mtlops.stages import STAGE_NAMES

    root = work / "champion" / "proj"
    write_mixed_csv(root / SOURCE)
    project = FaultProject(root, work / "prefect_home")
    project.home.mkdir(parents=True)
    overrides = {"search": {"enabled": False},
                 "promotion": {"delta_m_floor": -100.0, "allow_tradeoff": ["churn", "segment", "amount"]}}
    project.write_params(deep_merge(mixed_params(str(SOURCE)), overrides))
    project.stages(*STAGE_NAMES)
    return project


def _resume(work: Path) -> str:
    """SIGKILL `mtlops train` after its first checkpoint, rerun it: the epoch it resumed from."""
    import json

    from mtlops.config import deep_merge

    root = work / "resume" / "proj"
    write_mixed_csv(root / SOURCE, n=12000)
    project = FaultProject(root, work / "prefect_home")
    overrides = {"search": {"enabled": False}, "train": {"epochs": 8, "patience": 8, "batch_size": 32}}
    project.write_params(deep_merge(mixed_params(str(SOURCE)), overrides))
    project.stages("ingest", "prepare")
    proc = project.start("train")
    deadline = time.monotonic() + 300
    while not any(root.glob("data/**/last.pt")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    FaultProject.kill(proc, signal.SIGKILL)
    again = project.run("train")
    history = json.loads((root / "reports" / "history.json").read_text()) if again.code == 0 else {}
    return (f"killed by SIGKILL, rerun: exit {again.code}, {again.seconds:.1f} s, resumed from epoch "
            f"{history.get('resumed_from_epoch', 'none (started afresh)')} of {history.get('epochs_run')}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="*", help="substrings of the cases to run (default: all)")
    parser.add_argument("--no-resume", action="store_true", help="skip the kill-and-resume case")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="mtlops-bad-inputs-") as tmp:
        work = Path(tmp)
        start = time.perf_counter()
        champion = _champion_project(work)
        print(f"champion project ready in {time.perf_counter() - start:.1f} s (version {champion.champion()})\n")
        print("| case | class | command | exit | seconds | first error line | champion before → after |")
        print("|---|---|---|---|---|---|---|")
        for name, (kind, damage, command, elsewhere) in CASES.items():
            if args.cases and not any(c in name for c in args.cases):
                continue
            root = work / name.replace(" ", "_").replace("/", "_") / "proj"
            shutil.copytree(champion.root, root)
            project = FaultProject(root, champion.home)
            damage(project)
            before = project.champion()
            out = project.run(*command, cwd=root.parent / "other" if elsewhere else None, timeout=1200)
            error = out.error.replace("|", "\\|")[:240] if out.code else _read(project)
            (root / "stderr.log").write_text(out.stderr)
            if out.code and not out.error.startswith("error:"):
                print(out.stderr[-4000:], file=sys.stderr)
            print(f"| {name} | {kind} | mtlops {' '.join(command)} | {out.code} | {out.seconds:.1f} | {error} | "
                  f"{before} → {project.champion()} (versions {', '.join(project.versions())}) |", flush=True)
        if not args.no_resume:
            print(f"\nresume after a kill: {_resume(work)}")


if __name__ == "__main__":
    main()
