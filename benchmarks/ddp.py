"""Data-parallel training: 1 vs N processes, samples/s and final validation metrics side by side in one run.

    .venv/bin/python benchmarks/ddp.py [--root .] [--rows 40000] [--processes 1 2] [--epochs 3] [--repeats 2]
    .venv/bin/python benchmarks/ddp.py --device cuda --bf16 --processes 1 2 4 --rows 150000   # a GPU machine

Reads the prepared flights arrays under `--root`/data/processed (from `mtlops prepare`; random arrays
of the same shape when they are not there, and it says so), takes `--rows` training rows, and trains
params.yaml's default model (hard sharing, `--weighting`) for `--epochs` epochs with global batches
of `--batch-size` rows, each process count through `mtlops.training.distributed.launch` (torchrun;
gloo on the CPU, nccl on CUDA), the counts interleaved `--repeats` times so load on the machine hits
all alike. Each rank runs `--threads` torch threads, so N ranks use N cores. Prints per count: the
best samples/s of the fit itself (torchrun's start-up apart, printed too), and the kept weights' validation
objective (mean masked loss), ROC AUC and MAE on the validation split
(measured after training, so the timed fit is training alone); with `nvidia-smi`, the mean and peak
GPU utilisation while training.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from throughput import build, load_or_generate, take_rows


def train_job(meta: dict, train: dict, settings: dict, weighting: str) -> dict:
    """One process's fit, timed without validation (rank 0's answer comes back; the model as its weights)."""
    from mtlops.training import TrainSettings, fit
    from mtlops.weighting import build_weighting

    model = build(meta)
    result = fit(model, build_weighting(weighting, {}, model.task_names), train, None, TrainSettings(**settings))
    return {"fit_s": result.wall_time_s, "epochs": result.epochs_run,
            "state": {k: v.detach().cpu() for k, v in result.model.state_dict().items()}}


def validation_metrics(meta: dict, state: dict, val: dict) -> dict[str, float]:
    """The validation objective (mean masked loss over tasks), ROC AUC of the binary tasks and MAE (raw
    scale) of the regression ones, on the labelled validation rows."""
    from sklearn.metrics import roc_auc_score

    from mtlops.training import evaluate_losses, predict
    from mtlops.training.data import TensorData, needed_keys

    model = build(meta)
    model.load_state_dict(state)
    losses = evaluate_losses(model, TensorData(val, needed_keys(model, val), torch.device("cpu")))
    predictions = predict(model.eval(), val)
    out = {"objective": float(np.mean([v for v in losses.values() if v is not None]))}
    for task, spec in meta["tasks"].items():
        labelled = val[f"mask_{task}"].astype(bool) if f"mask_{task}" in val else slice(None)
        y, p = val[f"y_{task}"][labelled], np.asarray(predictions[task])[labelled]
        if spec["type"] == "binary":
            out[f"{task} AUC"] = float(roc_auc_score(y, p))
        else:
            out[f"{task} MAE"] = float(np.mean(np.abs(y - p)))
    return out


class GpuUtilisation:
    """Polls `nvidia-smi` while training (None without it)."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True) if shutil.which("nvidia-smi") else None

    def _poll(self) -> None:
        while not self._stop.wait(0.5):
            out = subprocess.run(["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits"],
                                 capture_output=True, text=True, check=False).stdout.split()
            if out:
                self.samples.append(statistics.mean(float(x) for x in out))

    def __enter__(self) -> GpuUtilisation:
        if self._thread is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def summary(self) -> str:
        if not self.samples:
            return "n/a (no nvidia-smi)" if self._thread is None else "n/a (no sample)"
        return f"mean {statistics.mean(self.samples):.0f}%, peak {max(self.samples):.0f}%"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=str(Path(__file__).resolve().parents[1]))
    parser.add_argument("--rows", type=int, default=40_000)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=1024, help="global: split among the processes")
    parser.add_argument("--lr", type=float, default=0.002)
    parser.add_argument("--weighting", default="equal")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast (CUDA)")
    args = parser.parse_args()

    here = str(Path(__file__).resolve().parent)  # the launched processes import the job from this file as `ddp`
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [here, os.environ.get("PYTHONPATH")]))
    from ddp import train_job as job

    from mtlops.training.distributed import launch

    arrays, meta, source = load_or_generate(Path(args.root), args.rows)
    val_path = Path(args.root) / "data" / "processed" / "val.npz"
    if val_path.exists() and "prepared" in source:
        with np.load(val_path) as npz:
            val = {k: npz[k] for k in npz.files}
        train = take_rows(arrays, min(args.rows, len(arrays["num"])))
    else:  # random arrays: the last fifth is the validation split
        cut = len(arrays["num"]) * 4 // 5
        val = {k: v[cut:] for k, v in arrays.items()}
        train = take_rows({k: v[:cut] for k, v in arrays.items()}, args.rows)
    settings = dict(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, patience=args.epochs,
                    device=args.device, amp="bf16" if args.bf16 else "off", threads=args.threads, progress=False,
                    seed=0)
    print(f"data: {source}; {len(train['num']):,} training rows, {len(val['num']):,} validation rows")
    print(f"machine: {os.cpu_count()} CPU cores (shared with other jobs: compare the rows of one run, not runs), "
          f"torch {torch.__version__}, device {args.device}{' bf16' if args.bf16 else ''}, {args.threads} torch "
          f"thread(s) per process, global batch {args.batch_size}, {args.epochs} epochs, weighting {args.weighting}")

    runs: dict[int, list[dict]] = {n: [] for n in args.processes}
    for _ in range(args.repeats):
        for n in args.processes:
            started = time.perf_counter()
            with GpuUtilisation() as gpu:
                out = launch(job, meta, train, settings, args.weighting, processes=n, device=args.device,
                             threads=args.threads)
            out["launch_s"] = time.perf_counter() - started - out["fit_s"]
            out["gpu"] = gpu.summary()
            runs[n].append(out)

    rows = len(train["num"])
    base = None
    print(f"\n{'processes':>9} {'samples/s':>10} {'speed-up':>8} {'start-up s':>10}  validation (kept weights)"
          f"{'':>52}GPU")
    for n, outs in runs.items():
        best = min(outs, key=lambda o: o["fit_s"])
        rate = rows * best["epochs"] / best["fit_s"]
        base = base or rate
        shown = ", ".join(f"{k} {v:.4f}" for k, v in validation_metrics(meta, outs[0]["state"], val).items())
        print(f"{n:>9} {rate:>10,.0f} {rate / base:>7.2f}x {statistics.median(o['launch_s'] for o in outs):>10.1f}  "
              f"{shown}   {best['gpu']}")


if __name__ == "__main__":
    main()
