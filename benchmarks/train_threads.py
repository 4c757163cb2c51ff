"""Torch threads for the final training: 1 against torch's default, on the benchmark suite's tables.

    .venv/bin/python benchmarks/train_threads.py --tables star,diamonds,hotel_rates --repeats 3

Why: the single-task baselines train one network per worker with one torch thread each
(`resources.workers`), while the train stage used torch's default (one thread per core) unless a params
file set `train.threads`, so the suite's "MTL s ÷ Σ STL s" compared two thread settings. Per table this
prepares a project once (ingest, validate, prepare; seed 42), trains once untimed, then trains the same
configured network
(`train.use_search: false`, a fixed number of epochs, no early stop, no cost guard) with `train.threads`
1 and null, alternating, `--repeats` times each, and prints seconds per epoch and their ratio (median).
The load is printed too: on a shared machine read the ratio, not the seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))


def _project(table: str, folder: Path):
    from suite import copy_params, tables

    from mtlops.config import load_config
    from mtlops.paths import Paths

    return load_config(copy_params(tables()[table], folder, 42)), Paths.at(folder, store_root=folder)


def _seconds_per_epoch(cfg, paths, threads: int | None, epochs: int) -> float:
    from mtlops.config import with_overrides
    from mtlops.stages import run_stage

    fixed = with_overrides(cfg, {"train": {"threads": threads, "use_search": False, "epochs": epochs,
                                           "patience": epochs, "max_cost_ratio": None},
                                 "grouping": {"enabled": False}, "serving": {"best_of_baselines": False}})
    for produced in ("models", "checkpoints"):  # a checkpoint of the same fingerprint would resume, not train
        shutil.rmtree(paths.root / "data" / produced, ignore_errors=True)
    start = time.perf_counter()
    run_stage("train", fixed, paths)
    return (time.perf_counter() - start) / epochs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tables", default="star,diamonds,hotel_rates")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--max-rows", type=int, help="a seeded sample of the snapshot's rows (quick checks)")
    args = parser.parse_args()
    from suite import subsample_snapshot

    from mtlops.stages import run_stage

    print(f"{os.cpu_count()} cores · load {[round(x, 1) for x in os.getloadavg()]} · {args.epochs} epochs × "
          f"{args.repeats} repeats per setting, alternating")
    print("| table | train rows | s/epoch, threads 1 | s/epoch, torch default | default ÷ 1 |")
    print("|---|---|---|---|---|")
    for table in args.tables.split(","):
        with tempfile.TemporaryDirectory(prefix=f"threads-{table}-") as tmp:
            cfg, paths = _project(table, Path(tmp))
            for stage in ("ingest", "validate", "prepare"):
                run_stage(stage, cfg, paths)
                if stage == "ingest" and args.max_rows:
                    subsample_snapshot(paths, args.max_rows)
            _seconds_per_epoch(cfg, paths, 1, 1)  # untimed: imports and first-call costs land on no setting
            times: dict[str, list[float]] = {"1": [], "default": []}
            for _ in range(args.repeats):
                times["1"].append(_seconds_per_epoch(cfg, paths, 1, args.epochs))
                times["default"].append(_seconds_per_epoch(cfg, paths, None, args.epochs))
            rows = json.loads(paths.processed_meta.read_text())["rows"]["train"]
            one, default = statistics.median(times["1"]), statistics.median(times["default"])
            print(f"| {table} | {rows:,} | {one:.3f} | {default:.3f} | {default / one:.2f} |", flush=True)
    print(f"load at the end {[round(x, 1) for x in os.getloadavg()]}")


if __name__ == "__main__":
    main()
