"""The GPU check: train flights arrays on a GPU in bf16 and print what the CUDA path does.

    bash benchmarks/gpu.sh                                  # on a CUDA machine with torch + numpy only
    python benchmarks/gpu_check.py --device cpu --steps small   # the dry run the test suite makes
    python benchmarks/gpu_check.py --prepare --root DIR     # here, once: DIR/data/processed -> the shipped file

Reads `benchmarks/data/flights_small.npz` (a seeded sample of the prepared flights splits, their meta.json
and the model params.yaml trains; written by `--prepare` from a project where `mtlops ingest && mtlops
prepare` ran). Imports numpy, torch and mtlops' modeling core only (`mtlops.models`, `.weighting`,
`.training`): no MLflow, Prefect, pandas or sklearn, and says so at the end.

1. Throughput: one epoch over the training rows tiled up to `--rows` (flights' training size by
   default), at each `--batch-sizes`, on `--device` (bf16 autocast on CUDA, `--amp`): samples/s, the
   GPU's busy fraction (`nvidia-smi` polled every 0.1 s while it trains) and peak memory.
2. Quality: the same model trained on the sample with early stopping on validation, once on `--device`
   and once on the CPU in fp32, scored on the test rows (AUC for binary tasks, MAE for regression,
   computed here in numpy) side by side: bf16 on the GPU should land within seed noise of the CPU run.

The model is params.yaml's (hard sharing, its encoder); `rtdl_num_embeddings` (torch only) is needed for
its piecewise-linear numeric embedding: without it the check uses the standard encoder and says so.
There is no ensemble option in mtlops yet, so none is trained. `--out FILE` writes the figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
DATA = HERE / "data" / "flights_small.npz"
MAX_BYTES = 5 * 1024 * 1024
SAMPLE = {"train": 100_000, "val": 12_000, "test": 12_000}
FLIGHTS_TRAIN_ROWS = 281_373  # the default run's training rows (Jan-Oct 2013)
SMALL: dict[str, Any] = {"rows": 4096, "batch_sizes": [256], "epochs": 2, "patience": 1, "sample": 3000}
FULL: dict[str, Any] = {"rows": FLIGHTS_TRAIN_ROWS, "batch_sizes": [1024, 8192], "epochs": 12, "patience": 3,
                        "sample": None}
# what a bare GPU box does not have, and the modeling core must not import
HEAVY = ("mlflow", "prefect", "optuna", "great_expectations", "lightgbm", "sklearn", "pandas", "pydantic", "yaml",
         "dvc", "typer", "scipy")


# ------------------------------------------------------------------------------------------ the data file
def prepare(root: Path, out: Path = DATA, seed: int = 0) -> None:
    """Sample `root`'s prepared splits into one compressed file (<= 5 MB) with their meta and the model."""
    sys.path.insert(0, str(HERE.parents[0] / "src"))
    from mtlops.config import load_config

    processed = root / "data" / "processed"
    if not (processed / "meta.json").is_file():
        sys.exit(f"error: {processed}/meta.json not found: run `mtlops ingest && mtlops prepare` in {root} first")
    cfg = load_config(root / "params.yaml")
    meta = json.loads((processed / "meta.json").read_text())
    model = {"architecture": cfg.model.architecture.name, "params": dict(cfg.model.architecture.params),
             "encoder": cfg.model.encoder.model_dump(), "seed": cfg.project.seed}
    rng = np.random.default_rng(seed)
    arrays: dict[str, np.ndarray] = {}
    for split, n in SAMPLE.items():
        with np.load(processed / f"{split}.npz") as npz:
            rows = len(npz["num"])
            keep = np.sort(rng.choice(rows, size=min(n, rows), replace=False))
            for key in npz.files:
                value = npz[key][keep]
                if key == "cat":  # ids fit a byte or two: the file stays small
                    value = value.astype(np.uint8 if value.max(initial=0) < 256 else np.uint16)
                arrays[f"{split}/{key}"] = value
    doc = {"meta": {"inputs": meta["inputs"], "tasks": meta["tasks"]}, "model": model,
           "source": f"{cfg.project.name}: a seeded sample of `mtlops prepare`'s splits",
           "rows": {s: len(arrays[f"{s}/num"]) for s in SAMPLE}}
    arrays["info_json"] = np.frombuffer(json.dumps(doc).encode(), dtype=np.uint8)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp.npz")
    np.savez_compressed(tmp, **arrays)  # type: ignore[arg-type]  # numpy reads **arrays as its keywords
    size = tmp.stat().st_size
    if size > MAX_BYTES:
        tmp.unlink()
        sys.exit(f"error: {out.name} would be {size / 2**20:.1f} MB, over 5 MB: lower SAMPLE")
    os.replace(tmp, out)
    print(f"wrote {out} ({size / 2**20:.2f} MB): rows {doc['rows']}, model {model['architecture']}")


def load(path: Path) -> tuple[dict[str, dict[str, np.ndarray]], dict]:
    if not path.is_file():
        sys.exit(f"error: {path} not found: run `python benchmarks/gpu_check.py --prepare --root <project>` here")
    with np.load(path, allow_pickle=False) as npz:
        info = json.loads(bytes(npz["info_json"]).decode())
        splits: dict[str, dict[str, np.ndarray]] = {s: {} for s in SAMPLE}
        for key in npz.files:
            if "/" in key:
                split, name = key.split("/", 1)
                value = npz[key]
                splits[split][name] = value.astype(np.int64) if name == "cat" else value
    return splits, info


def head(arrays: dict[str, np.ndarray], n: int | None) -> dict[str, np.ndarray]:
    return arrays if n is None else {k: v[:n] for k, v in arrays.items()}


def tile(arrays: dict[str, np.ndarray], rows: int) -> dict[str, np.ndarray]:
    index = np.arange(rows) % len(arrays["num"])
    return {k: v[index] for k, v in arrays.items()}


# ---------------------------------------------------------------------------------------------- the model
def build(info: dict, seed: int):
    from mtlops.models import ModelSpec, TaskSpec, build_model

    encoder = dict(info["model"]["encoder"])
    note = ""
    if encoder.get("numeric", "standard") != "standard":
        try:
            import rtdl_num_embeddings  # noqa: F401
        except ImportError:
            encoder["numeric"] = "standard"
            inputs = {**info["meta"]["inputs"], "num": {**info["meta"]["inputs"]["num"], "embedding": "standard"}}
            info = {**info, "meta": {**info["meta"], "inputs": inputs}}
            note = " (rtdl_num_embeddings missing: the standard numeric encoder instead of piecewise-linear)"
    torch.manual_seed(seed)
    spec = ModelSpec(
        inputs=info["meta"]["inputs"],
        tasks=[TaskSpec.from_meta(t, m) for t, m in info["meta"]["tasks"].items()],
        architecture=info["model"]["architecture"],
        arch_params=info["model"]["params"],
        encoder=encoder,
    )
    return build_model(spec), note


# ------------------------------------------------------------------------------------------------ metrics
def auc(y: np.ndarray, p: np.ndarray) -> float:
    """ROC AUC by ranks (ties share their mean rank): the Mann-Whitney statistic."""
    order = np.argsort(p, kind="mergesort")
    ranks = np.empty(len(p))
    sorted_p = p[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_p)) + 1]
    ends = np.r_[starts[1:], len(p)]
    for a, b in zip(starts, ends):
        ranks[order[a:b]] = (a + b + 1) / 2
    pos = y > 0.5
    n_pos, n_neg = pos.sum(), (~pos).sum()
    if not n_pos or not n_neg:
        return float("nan")
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def scores(info: dict, arrays: dict[str, np.ndarray], pred: dict[str, np.ndarray]) -> dict[str, tuple[str, float]]:
    out = {}
    for task, m in info["meta"]["tasks"].items():
        mask = arrays[f"mask_{task}"]
        y, p = arrays[f"y_{task}"][mask], np.asarray(pred[task])[mask]
        if m["type"] == "binary":
            out[task] = ("auc", auc(y, p))
        elif m["type"] == "regression":
            out[task] = ("mae", float(np.abs(y - p).mean()))
    return out


# ---------------------------------------------------------------------------------------------- GPU busy
class GpuBusy:
    """nvidia-smi's utilization.gpu (the share of time a kernel ran) every 0.1 s while the block runs."""

    def __init__(self, device: torch.device) -> None:
        self.samples: list[float] = []
        self.memory: list[float] = []
        self._proc: subprocess.Popen | None = None
        self.why = "" if device.type == "cuda" else "not a CUDA device"
        if device.type == "cuda" and not shutil.which("nvidia-smi"):
            self.why = "nvidia-smi not found"

    def __enter__(self) -> GpuBusy:
        if not self.why:
            visible = os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")[0].strip()  # an index or a UUID
            query = ["nvidia-smi", f"--id={visible or torch.cuda.current_device()}",
                     "--query-gpu=utilization.gpu,memory.used", "--format=csv,noheader,nounits", "-lms", "100"]
            self._proc = subprocess.Popen(query, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            self._thread = threading.Thread(target=self._read, daemon=True)
            self._thread.start()
        return self

    def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for line in self._proc.stdout:
            parts = [p.strip() for p in line.split(",")]
            if len(parts) == 2 and parts[0].replace(".", "").isdigit():
                self.samples.append(float(parts[0]) / 100)
                self.memory.append(float(parts[1]))

    def __exit__(self, *exc: object) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(timeout=10)
            self._thread.join(timeout=10)

    @property
    def busy(self) -> float | None:
        return float(np.mean(self.samples)) if self.samples else None

    def text(self) -> str:
        if self.busy is None:
            return f"GPU busy: n/a ({self.why or 'no samples'})"
        return f"GPU busy {self.busy:.0%} (mean of {len(self.samples)} samples of nvidia-smi)"


# ------------------------------------------------------------------------------------------------ the run
THREADS: int | None = None  # torch threads while training (--threads; None: torch's default)


def settings(device: torch.device, amp: str, **kw):
    from mtlops.training import TrainSettings

    return TrainSettings(device=str(device), amp=amp, progress=False, threads=THREADS, **kw)


def throughput(info: dict, train: dict[str, np.ndarray], device: torch.device, amp: str, rows: int,
               batch_size: int, seed: int) -> dict:
    from mtlops.training import fit
    from mtlops.weighting import build_weighting

    arrays = tile(train, rows)
    model, _ = build(info, seed)
    weighting = build_weighting("equal", {}, model.task_names)
    warm = settings(device, amp, epochs=1, batch_size=batch_size, seed=seed)
    fit(build(info, seed)[0], build_weighting("equal", {}, model.task_names), tile(train, 4 * batch_size), None, warm)
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats(device)
    with GpuBusy(device) as gpu:
        start = time.perf_counter()
        fit(model, weighting, arrays, None, settings(device, amp, epochs=1, batch_size=batch_size, seed=seed))
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
    return {"batch_size": batch_size, "rows": rows, "seconds": seconds, "samples_per_s": rows / seconds,
            "gpu_busy": gpu.busy, "gpu_busy_note": gpu.text(), "peak_memory_mib": peak,
            "nvidia_smi_memory_mib": max(gpu.memory) if gpu.memory else None}


def quality(info: dict, splits: dict, device: torch.device, amp: str, epochs: int, patience: int, sample: int | None,
            seed: int) -> dict:
    from mtlops.training import fit, predict
    from mtlops.weighting import build_weighting

    train, val, test = (head(splits[s], sample) for s in ("train", "val", "test"))
    model, note = build(info, seed)
    weighting = build_weighting("equal", {}, model.task_names)
    start = time.perf_counter()
    result = fit(model, weighting, train, val,
                 settings(device, amp, epochs=epochs, patience=patience, batch_size="auto", seed=seed))
    seconds = time.perf_counter() - start
    return {"device": str(device), "amp": amp, "epochs": result.epochs_run, "best_epoch": result.best_epoch,
            "seconds": seconds, "test": scores(info, test, predict(result.model, test, device=device)),
            "note": note}


def imported_beyond_the_core() -> list[str]:
    return sorted(m for m in HEAVY if sys.modules.get(m) is not None)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prepare", action="store_true", help="write the data file from --root's prepared splits")
    parser.add_argument("--root", default=".", help="with --prepare: a project where `mtlops prepare` ran")
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--amp", default=None, help="default: bf16 on CUDA, off elsewhere")
    parser.add_argument("--steps", choices=["small", "full"], default="full", help="small: the quick dry run")
    parser.add_argument("--rows", type=int, default=None, help="training rows per throughput epoch (tiled)")
    parser.add_argument("--batch-sizes", default=None, help="comma-separated, for the throughput epochs")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own)")
    parser.add_argument("--out", default=None, help="also write the figures here as JSON")
    args = parser.parse_args()
    global THREADS
    THREADS = args.threads
    if args.prepare:
        prepare(Path(args.root))
        return 0

    sys.path.insert(0, str(HERE.parents[0] / "src"))
    from mtlops.training import resolve_device

    plan: dict[str, Any] = {**(SMALL if args.steps == "small" else FULL)}
    if args.rows:
        plan["rows"] = args.rows
    if args.batch_sizes:
        plan["batch_sizes"] = [int(b) for b in args.batch_sizes.split(",")]
    device = resolve_device(args.device)
    amp = args.amp or ("bf16" if device.type == "cuda" else "off")
    splits, info = load(Path(args.data))
    seed = int(info["model"].get("seed", 0))
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    threads = THREADS or torch.get_num_threads()
    print(f"device {device} ({name}), amp {amp}, torch {torch.__version__}, torch threads {threads}; "
          f"data {args.data}: rows {info['rows']}; model {info['model']['architecture']} {info['model']['params']}")

    figures: dict = {"device": str(device), "device_name": name, "amp": amp, "throughput": [], "quality": []}
    for batch_size in plan["batch_sizes"]:
        t = throughput(info, splits["train"], device, amp, plan["rows"], batch_size, seed)
        figures["throughput"].append(t)
        peak = f", peak memory {t['peak_memory_mib']:.0f} MiB" if t["peak_memory_mib"] is not None else ""
        print(f"[throughput] batch {batch_size}: {t['samples_per_s']:,.0f} samples/s ({t['rows']:,} rows in "
              f"{t['seconds']:.2f} s); {t['gpu_busy_note']}{peak}")

    runs = [quality(info, splits, device, amp, plan["epochs"], plan["patience"], plan["sample"], seed)]
    runs.append(quality(info, splits, torch.device("cpu"), "off", plan["epochs"], plan["patience"], plan["sample"],
                        seed))
    figures["quality"] = runs
    for run in runs:
        print(f"[quality] {run['device']} amp {run['amp']}: {run['epochs']} epochs (best {run['best_epoch']}) "
              f"in {run['seconds']:.1f} s{run['note']}")
    print(f"[quality] test metrics   {'task':<12} {'metric':<6} {runs[0]['device']:>10} {'cpu':>10}   difference")
    for task, (metric, value) in runs[0]["test"].items():
        cpu = runs[1]["test"][task][1]
        print(f"[quality]                {task:<12} {metric:<6} {value:10.4f} {cpu:10.4f}   {value - cpu:+.4f}")

    beyond = imported_beyond_the_core()
    figures["imported_beyond_torch_numpy"] = beyond
    print(f"imports beyond torch + numpy + mtlops' core: {beyond or 'none'}")
    if args.out:
        Path(args.out).write_text(json.dumps(figures, indent=2))
    return 1 if beyond else 0


if __name__ == "__main__":
    sys.exit(main())
