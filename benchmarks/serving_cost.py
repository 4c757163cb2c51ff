"""What the served model adds per request over its networks alone (issue 24): LightGBM's trees and the blend.

    .venv/bin/python benchmarks/serving_cost.py [--root .] [--rows 100000] [--repeat 5]

Loads the trained model folder `data/models/mtl/` (the one `mtlops register` packages) and the prepared
test split, resampled to `--rows` rows, and times on one thread (best of `--repeat`, alternated):
the networks alone (`ServedModel.network`: what answered every task before serving choices) and the
served model (each task as `serving.json` says: networks, LightGBM, blends). Prints what serves each
task and the ratio. Both answer from prepared arrays: the raw-row preprocessing, the same for both,
is left out (docs/serving.md has its figure).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    from mtlops.data.prepare import load_split
    from mtlops.paths import Paths
    from mtlops.training import predict
    from mtlops.training.served import load_served

    torch.set_num_threads(1)
    paths = Paths.at(args.root)
    served = load_served(paths.model_dir)
    test = load_split(paths, "test")
    n = len(next(iter(test.values())))
    index = np.arange(args.rows) % n
    rows = {k: v[index] for k, v in test.items()}
    print(f"{paths.model_dir}: {args.rows:,} rows (the test split's {n:,}, repeated); one thread")
    for task, by in served.served_by.items():
        print(f"  {task}: {by.kind}" + (f" {by.weight}" if by.weight is not None else ""))

    timings: dict[str, list[float]] = {"networks alone": [], "served model": []}
    models = {"networks alone": served.network, "served model": served}
    predict(served, {k: v[:1000] for k, v in rows.items()})  # warm-up: LightGBM and torch load lazily
    for _ in range(args.repeat):
        for name, model in models.items():
            start = time.perf_counter()
            predict(model, rows)
            timings[name].append(time.perf_counter() - start)
    best = {name: min(t) for name, t in timings.items()}
    for name, seconds in best.items():
        print(f"{name:15s} {seconds:7.3f} s  ({args.rows / seconds:,.0f} rows/s)")
    print(f"served ÷ networks alone: {best['served model'] / best['networks alone']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
