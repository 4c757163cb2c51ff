"""What measuring inter-task affinity costs: training time with the look-ahead hook every N steps vs without.

    .venv/bin/python benchmarks/affinity_overhead.py [--root .] [--rows 150000] [--every 0 50 20 10] [--repeats 2]

Reads the prepared flights arrays under `--root`/data/processed (random arrays of the same shape when
they are not there, and it says so) and trains the default model (hard sharing, equal weighting) for
one epoch per setting (after one untimed warm-up), the settings interleaved `--repeats` times so load
on the machine hits all alike. Prints each setting's median wall time, its overhead over no
measurement, and the matrix the most frequent setting measured. Target for `train.affinity_every`:
overhead below 15 %.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from throughput import load_or_generate, take_rows


def train_once(meta, tasks, train, val, args, every: int):
    from mtlops.models import ModelSpec, TaskSpec, build_model
    from mtlops.training import TrainSettings, fit
    from mtlops.training.affinity import TaskAffinity, affinity_from_history
    from mtlops.weighting import build_weighting

    torch.manual_seed(0)
    model = build_model(ModelSpec(inputs=meta["inputs"], tasks=[TaskSpec.from_meta(t, meta["tasks"][t]) for t in tasks],
                                  architecture=args.architecture, arch_params=json.loads(args.params),
                                  encoder={"embedding_dim": 8}))
    settings = TrainSettings(epochs=1, batch_size=args.batch_size, lr=args.lr, device=args.device, progress=False)
    hooks = {}
    if every:
        hook = TaskAffinity(tasks, every)
        hooks = {"step_hooks": [hook], "callbacks": [hook.end_epoch]}
    started = time.perf_counter()
    result = fit(model, build_weighting("equal", {}, tasks), train, val, settings, **hooks)
    return time.perf_counter() - started, affinity_from_history(result.history, tasks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=str(Path(__file__).resolve().parents[1]))
    parser.add_argument("--rows", type=int, default=150_000)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--lr", type=float, default=0.002)
    parser.add_argument("--every", type=int, nargs="+", default=[0, 50, 20, 10])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--architecture", default="hard")
    parser.add_argument("--params", default="{}", help="architecture params as JSON")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    arrays, meta, source = load_or_generate(Path(args.root), args.rows)
    tasks = list(meta["tasks"])
    train = take_rows(arrays, args.rows)
    val = take_rows({k: v[::-1] for k, v in arrays.items()}, max(args.rows // 10, 1000))
    steps = -(-len(next(iter(train.values()))) // args.batch_size)
    print(f"data: {source}; {args.architecture}, tasks {tasks}, {args.rows:,} rows = {steps} steps of "
          f"{args.batch_size}, 1 epoch, torch threads {torch.get_num_threads()}")
    train_once(meta, tasks, train, val, args, min(args.every))  # warm-up: first-call costs hit no setting
    times: dict[int, list[float]] = {e: [] for e in args.every}
    matrices = {}
    for _ in range(args.repeats):
        for every in args.every:
            seconds, matrices[every] = train_once(meta, tasks, train, val, args, every)
            times[every].append(seconds)
    base = statistics.median(times[0]) if 0 in times else None
    print(f"{'every':>6} {'measured steps':>15} {'wall s (median)':>16} {'overhead':>9}")
    for every in args.every:
        wall = statistics.median(times[every])
        measured = 0 if not every else -(-steps // every)
        overhead = f"{100 * (wall / base - 1):+.1f}%" if base else "-"
        print(f"{every or 'off':>6} {measured:>15} {wall:>16.2f} {overhead:>9}")
    densest = min((e for e in args.every if e), default=None)
    if densest:
        np.set_printoptions(precision=5)
        print(f"affinity (every {densest}; row i stepped on, column j affected), tasks {tasks}:")
        print(np.array(matrices[densest]["matrix"], dtype=float))


if __name__ == "__main__":
    main()
