"""What does a TabM trunk (k members sharing weights) cost per epoch against hard sharing? (issue 29)

    .venv/bin/python benchmarks/tabm_cost.py --rows 20000 --k 1,4,8 --repeats 2

Synthetic processed arrays (30 numeric columns, 2 categorical, a binary, a 5-class and a regression task),
one torch thread, the same width and depth (128 x 2, tower 32) for `hard` and `tabm` at each k. Each model
trains `--epochs` epochs per repeat; the repeats interleave the models, so the ratios to `hard` are fair
under a varying load even where the seconds are not. Prints parameters and seconds per epoch (median over
repeats) and the ratio to `hard`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np
import torch

from mtlops.models import ModelSpec, TaskSpec, build_model
from mtlops.training import TrainSettings, fit
from mtlops.weighting import build_weighting

TASKS = [TaskSpec("flag", "binary"), TaskSpec("kind", "multiclass", dim=5, n_classes=5),
         TaskSpec("value", "regression")]


def arrays(n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    num = rng.normal(size=(n, 30)).astype(np.float32)
    cat = rng.integers(0, 10, size=(n, 2))
    score = num[:, :5].sum(1) + cat[:, 0] * 0.2
    return {
        "num": num, "cat": cat,
        "y_flag": (score > 0).astype(np.float32), "mask_flag": np.ones(n, bool),
        "y_kind": np.digitize(score, [-2, -0.5, 0.5, 2]).astype(np.int64), "mask_kind": np.ones(n, bool),
        "y_value": (score + rng.normal(size=n)).astype(np.float32), "mask_value": np.ones(n, bool),
    }  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--k", default="1,4,8")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)
    inputs = {"num": {"dim": 30, "columns": [f"x{i}" for i in range(30)]},
              "cat": {"cardinalities": [10, 10], "columns": ["a", "b"]}}
    shape = {"width": 128, "depth": 2, "tower_width": 32}
    models = {"hard": ("hard", shape)} | {f"tabm k={k}": ("tabm", {**shape, "k": int(k)}) for k in args.k.split(",")}
    train, val = arrays(args.rows, 0), arrays(2000, 1)
    settings = TrainSettings(epochs=args.epochs, batch_size=512, device="cpu", progress=False, patience=100,
                             threads=1, ema_half_life=None)
    seconds: dict[str, list[float]] = {name: [] for name in models}
    params: dict[str, int] = {}
    for _ in range(args.repeats):
        for name, (arch, arch_params) in models.items():
            model = build_model(ModelSpec(inputs, list(TASKS), arch, arch_params, {"embedding_dim": 8}))
            params[name] = model.n_params
            weighting = build_weighting("equal", {}, model.task_names)
            start = time.perf_counter()
            fit(model, weighting, train, val, settings)
            seconds[name].append((time.perf_counter() - start) / args.epochs)
    base = statistics.median(seconds["hard"])
    print(f"{args.rows} rows, {args.epochs} epochs x {args.repeats} repeats, 1 thread")
    for name in models:
        per_epoch = statistics.median(seconds[name])
        print(f"  {name:10s} parameters {params[name]:>8,}  s/epoch {per_epoch:6.2f}  x hard {per_epoch / base:5.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
