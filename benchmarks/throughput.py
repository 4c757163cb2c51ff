"""Training throughput: mtlops' loop against a plain DataLoader(TensorDataset) loop, same model, same steps.

    .venv/bin/python benchmarks/throughput.py [--root .] [--steps 200] [--batch-size 1024] [--device cpu] [--with-cut]

Reads the prepared flights arrays under `--root`/data/processed (from `mtlops prepare`); when they
are not there it generates random arrays of the same shape and says so. Both loops train the same
hard-sharing model (params.yaml's defaults) with AdamW for `--steps` steps of `--batch-size` rows
and report samples per second (best of `--repeat` alternated runs); the ratio is the point. The
plain loop is what a typical script does: default AdamW, a dict per batch from the DataLoader's
tuple, one backward of the summed losses. `--device cuda` runs both on the GPU (AMP
as `--amp`, default auto = bf16 where supported) and prints GPU utilisation when torch can read it.

It also prints the share of the model's matmul limit: the CPU time per step of the model's matrix
products alone (each linear layer's forward x·Wᵀ + b and backward g·W, gᵀ·x at the step's shapes, on
random tensors), divided by the mtlops loop's CPU time per step; 1.0 would be a loop that does nothing
but those products. `--with-cut` adds a third loop: the trunk/branch cut every step, as gradient-based
weightings (GradNorm, PCGrad) need it and as every weighting paid before issue #28.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

FLIGHTS_SHAPE = {"rows": 281_373, "num": 29, "cat": [17, 4, 104, 34, 4, 7]}
FLIGHTS_TASKS = {
    "delayed": {"type": "binary", "dim": 1, "n_classes": None, "loss": "bce", "pos_weight": None},
    "cancelled": {"type": "binary", "dim": 1, "n_classes": None, "loss": "bce", "pos_weight": None},
    "arr_delay": {"type": "regression", "dim": 1, "n_classes": None, "loss": "huber", "pos_weight": None},
}


def load_or_generate(root: Path, rows: int) -> tuple[dict[str, np.ndarray], dict, str]:
    processed = root / "data" / "processed"
    if (processed / "train.npz").exists() and (processed / "meta.json").exists():
        import json

        meta = json.loads((processed / "meta.json").read_text())
        with np.load(processed / "train.npz") as npz:
            arrays = {k: npz[k] for k in npz.files}
        return arrays, meta, f"prepared data in {processed} ({len(arrays['num']):,} training rows)"
    rng = np.random.default_rng(0)
    n = max(rows, 10_000)
    arrays = {
        "num": rng.normal(size=(n, FLIGHTS_SHAPE["num"])).astype(np.float32),
        "cat": np.stack([rng.integers(0, c, n) for c in FLIGHTS_SHAPE["cat"]], axis=1).astype(np.int64),
    }
    for t, spec in FLIGHTS_TASKS.items():
        y = rng.random(n) < 0.2 if spec["type"] == "binary" else rng.normal(10, 40, n)
        arrays[f"y_{t}"] = y.astype(np.float32)
        arrays[f"mask_{t}"] = rng.random(n) < 0.97
    meta = {"inputs": {"num": {"dim": FLIGHTS_SHAPE["num"]}, "cat": {"cardinalities": FLIGHTS_SHAPE["cat"]}},
            "tasks": FLIGHTS_TASKS}
    return arrays, meta, f"NO prepared data under {processed}: random arrays of the flights shape ({n:,} rows)"


def take_rows(arrays: dict[str, np.ndarray], rows: int) -> dict[str, np.ndarray]:
    n = len(arrays["num"])
    index = np.arange(rows) % n
    return {k: v[index] for k, v in arrays.items()}


def build(meta: dict, seed: int = 0):
    from mtlops.models import ModelSpec, TaskSpec, build_model

    torch.manual_seed(seed)
    spec = ModelSpec(
        inputs=meta["inputs"],
        tasks=[TaskSpec.from_meta(t, m) for t, m in meta["tasks"].items()],
        architecture="hard",
        encoder={"embedding_dim": 8},
    )
    return build_model(spec)


def mtlops_loop(meta, arrays, args, device, cut: bool = False) -> tuple[float, float]:
    from mtlops.training import TrainSettings, fit
    from mtlops.weighting import build_weighting

    model = build(meta)
    weighting = build_weighting("equal", {}, model.task_names)
    if cut:
        weighting = _through_the_cut(weighting)
    settings = TrainSettings(epochs=1, batch_size=args.batch_size, lr=1e-3, device=str(device), amp=args.amp,
                             progress=False, seed=0, patience=10)
    wall, cpu = time.perf_counter(), time.process_time()
    fit(model, weighting, arrays, None, settings)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - wall, time.process_time() - cpu


def _through_the_cut(weighting):
    """The same weighting, made to take the trunk/branch cut every step (what a gradient-based method reads)."""

    class ThroughTheCut(type(weighting)):
        def backward(self, losses, model, cut=None, scale=None):
            return super().backward(losses, model, cut, scale)

    return ThroughTheCut(weighting.task_names, weighting.params)


def matmul_seconds(model, batch_size: int, repeat: int = 5, steps: int = 20) -> float:
    """CPU seconds per step of the model's matrix products alone: each linear layer's forward (x·Wᵀ + b) and
    backward (g·W for its input, gᵀ·x for its weight) at the step's shapes, on random tensors (best of `repeat`)."""
    from torch import nn

    layers = [(m.in_features, m.out_features) for m in model.modules() if isinstance(m, nn.Linear)]
    tensors = [(torch.randn(batch_size, i), torch.randn(o, i), torch.randn(o), torch.randn(batch_size, o))
               for i, o in layers]

    def once() -> None:
        for x, w, b, g in tensors:
            torch.addmm(b, x, w.t())
            g.mm(w)
            g.t().mm(x)

    once()
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        for _ in range(steps):
            once()
        best = min(best, (time.process_time() - start) / steps)
    return best


def dataloader_loop(meta, arrays, args, device) -> tuple[float, float]:
    from torch.utils.data import DataLoader, TensorDataset

    from mtlops.training import resolve_amp

    model = build(meta).to(device)
    model.set_target_stats(arrays)
    keys = list(arrays)
    loader = DataLoader(TensorDataset(*(torch.from_numpy(arrays[k]) for k in keys)),
                        batch_size=args.batch_size, shuffle=True)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    amp = resolve_amp(args.amp, device)
    model.train()
    wall, cpu = time.perf_counter(), time.process_time()
    for tensors in loader:
        batch = {k: t.to(device, non_blocking=True) for k, t in zip(keys, tensors)}
        with torch.autocast(device.type, dtype=amp, enabled=amp is not None):
            losses = model.losses(model(batch), batch)
        sum(losses.values()).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - wall, time.process_time() - cpu


def batching_only(arrays, args, device) -> tuple[float, float]:
    """Just drawing the batches (no model): mtlops' index_select path vs the DataLoader's per-row path."""
    from torch.utils.data import DataLoader, TensorDataset

    from mtlops.training.data import TensorData

    data = TensorData(arrays, list(arrays), device)
    start = time.process_time()
    for _ in data.batches(args.batch_size, torch.Generator().manual_seed(0)):
        pass
    ours = time.process_time() - start
    keys = list(arrays)
    loader = DataLoader(TensorDataset(*(torch.from_numpy(arrays[k]) for k in keys)),
                        batch_size=args.batch_size, shuffle=True)
    start = time.process_time()
    for tensors in loader:
        {k: t.to(device) for k, t in zip(keys, tensors)}
    return ours, time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=str(Path(__file__).resolve().parents[1]))
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--amp", default="auto")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3, help="alternate the loops this often; best of each")
    parser.add_argument("--with-cut", action="store_true", help="also time the loop through the trunk/branch cut")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from mtlops.training import resolve_amp, resolve_device

    device = resolve_device(args.device)
    rows = args.steps * args.batch_size
    all_rows, meta, source = load_or_generate(Path(args.root), rows)
    arrays = take_rows({k: v for k, v in all_rows.items() if k in ("num", "cat") or k[2:] in meta["tasks"]
                        or k[5:] in meta["tasks"]}, rows)
    print(f"data: {source}")
    print(f"device {device}, amp {resolve_amp(args.amp, device)}, torch threads {torch.get_num_threads()}, "
          f"{args.steps} steps x {args.batch_size} rows, model: hard sharing, {build(meta).n_params:,} params")

    warm = take_rows(arrays, 4 * args.batch_size)  # first-call costs (imports, allocator) out of the timing
    mtlops_loop(meta, warm, args, device)
    dataloader_loop(meta, warm, args, device)

    ours, plain, through_cut = [], [], []
    for _ in range(args.repeat):  # alternated, best of each: other load on the machine hits both alike
        with GpuUtilisation(device) as util_ours:
            ours.append(mtlops_loop(meta, arrays, args, device))
        with GpuUtilisation(device) as util_plain:
            plain.append(dataloader_loop(meta, arrays, args, device))
        if args.with_cut:
            through_cut.append(mtlops_loop(meta, arrays, args, device, cut=True))
    for what, i in (("wall", 0), ("CPU", 1)):
        a, b = min(r[i] for r in ours), min(r[i] for r in plain)
        print(f"[{what} time] mtlops loop {rows / a:10,.0f} samples/s ({a:.2f} s)" + util_ours.text * (i == 0)
              + f"   DataLoader loop {rows / b:10,.0f} samples/s ({b:.2f} s)" + util_plain.text * (i == 0)
              + f"   ratio {b / a:5.1f}x")
        if through_cut:
            c = min(r[i] for r in through_cut)
            print(f"[{what} time] mtlops loop through the cut {rows / c:10,.0f} samples/s ({c:.2f} s)"
                  f"   ratio {b / c:5.1f}x   (the loop without it: {c / a:4.2f}x as fast)")
    a, b = batching_only(arrays, args, device)
    print(f"[CPU time] batching alone: mtlops {rows / a:10,.0f} samples/s   DataLoader {rows / b:10,.0f} samples/s"
          f"   ratio {b / a:5.0f}x")
    if device.type == "cpu":
        step = min(r[1] for r in ours) / args.steps
        limit = matmul_seconds(build(meta), args.batch_size)
        print(f"[CPU time] the model's matmuls alone {limit * 1e3:.2f} ms/step, the mtlops loop {step * 1e3:.2f} "
              f"ms/step: share of the matmul limit {limit / step:.2f}")
    print("targets (issue #28): ratio >= 6x, matmul share >= 0.75 at one thread (CPU time is this process's own: "
          "it discounts other load on a shared machine, not all of it)")


class GpuUtilisation:
    """Mean of torch.cuda.utilization() sampled every 0.2 s while the block runs (needs NVML)."""

    def __init__(self, device: torch.device) -> None:
        self.device, self.samples, self.text = device, [], ""
        self._stop = None

    def __enter__(self) -> GpuUtilisation:
        if self.device.type == "cuda":
            import threading

            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.2):
            try:
                self.samples.append(torch.cuda.utilization(self.device))
            except Exception as err:  # no NVML
                self.text = f"  (GPU utilisation unavailable: {type(err).__name__})"
                return

    def __exit__(self, *exc: object) -> None:
        if self._stop is not None:
            self._stop.set()
            self._thread.join()
            if self.samples:
                self.text = f"  GPU utilisation {np.mean(self.samples):.0f}% (mean of {len(self.samples)} samples)"


if __name__ == "__main__":
    main()
