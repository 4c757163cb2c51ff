"""What sharing saves: one multi-task model for T tasks vs T single-task models, same trunk, same epochs.

    .venv/bin/python benchmarks/sharing.py [--root .] [--rows 50000] [--epochs 2] [--architecture hard]

Reads the prepared flights arrays under `--root`/data/processed (random arrays of the same shape
when they are not there, and it says so). Every model trains on the same rows for the same epochs
with the same settings; the single-task models are the same family with one task (what the
baselines stage trains). Target: MTL time <= 1.2/T of the single-task models' total.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from throughput import load_or_generate, take_rows


def train_once(meta, tasks, train, val, args) -> tuple[float, float]:
    from mtlops.models import ModelSpec, TaskSpec, build_model
    from mtlops.training import TrainSettings, fit
    from mtlops.weighting import build_weighting

    torch.manual_seed(0)
    model = build_model(ModelSpec(inputs=meta["inputs"], tasks=[TaskSpec.from_meta(t, meta["tasks"][t]) for t in tasks],
                                  architecture=args.architecture, arch_params=json.loads(args.params),
                                  encoder={"embedding_dim": 8}))
    settings = TrainSettings(epochs=args.epochs, batch_size=args.batch_size, device=args.device, progress=False,
                             patience=args.epochs)
    wall, cpu = time.perf_counter(), time.process_time()
    fit(model, build_weighting("equal", {}, tasks), train, val, settings)
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=str(Path(__file__).resolve().parents[1]))
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--architecture", default="hard")
    parser.add_argument("--params", default="{}", help="architecture params as JSON, e.g. '{\"tower_width\": 16}'")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    arrays, meta, source = load_or_generate(Path(args.root), args.rows)
    tasks = list(meta["tasks"])
    train = take_rows(arrays, args.rows)
    val = take_rows({k: v[::-1] for k, v in arrays.items()}, max(args.rows // 10, 1000))
    print(f"data: {source}")
    print(f"{args.architecture} sharing {args.params}, {len(tasks)} tasks {tasks}, "
          f"{args.rows:,} rows x {args.epochs} epochs, "
          f"device {args.device}, torch threads {torch.get_num_threads()}")

    train_once(meta, tasks[:1], take_rows(train, 2048), None, args)  # warm-up: first-call costs out
    mtl = train_once(meta, tasks, train, val, args)
    stl = {t: train_once(meta, [t], train, val, args) for t in tasks}
    for what, i in (("wall", 0), ("CPU", 1)):
        total = sum(s[i] for s in stl.values())
        per_task = "  ".join(f"{t} {s[i]:.2f}" for t, s in stl.items())
        print(f"[{what} time] MTL {mtl[i]:.2f} s   single-task: {per_task}  (total {total:.2f} s)   "
              f"MTL / total {mtl[i] / total:.2f}  (target <= 1.2/T = {1.2 / len(tasks):.2f})")


if __name__ == "__main__":
    main()
