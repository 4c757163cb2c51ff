"""The modeling core runs on a bare GPU box (torch + numpy, nothing else installed), and the prepared GPU check
(`benchmarks/gpu.sh` → `benchmarks/gpu_check.py`) works there: its CPU dry run, with every other installed
package made absent (`tests/bare_gpu_box.py`), so CI proves the script before a GPU ever runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BARE = [sys.executable, str(REPO / "tests" / "bare_gpu_box.py")]
ENV = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1"}

CORE = """
import sys
import numpy as np, torch
from mtlops.models import ModelSpec, TaskSpec, build_model
from mtlops.training import TrainSettings, fit, load_model, predict, save_model
from mtlops.weighting import build_weighting
spec = ModelSpec(inputs={"num": {"dim": 3}, "cat": {"cardinalities": [4]}},
                 tasks=[TaskSpec("a", "binary"), TaskSpec("b", "regression", loss="huber")],
                 architecture="mmoe", arch_params={"experts": 2})
rng = np.random.default_rng(0)
arrays = {"num": rng.normal(size=(256, 3)).astype(np.float32), "cat": rng.integers(0, 4, (256, 1)),
          "y_a": (rng.random(256) < 0.3).astype(np.float32), "y_b": rng.normal(size=256).astype(np.float32)}
model = build_model(spec)
result = fit(model, build_weighting("gradnorm", {}, ["a", "b"]), arrays, arrays,
             TrainSettings(epochs=2, batch_size=64, device="cpu", progress=False, threads=1))
save_model(result.model, sys.argv[1])
print(sorted(predict(load_model(sys.argv[1]), arrays)))
for name in ("pydantic", "yaml", "pandas", "sklearn", "mlflow", "prefect", "optuna", "lightgbm", "rtdl_num_embeddings"):
    try:
        __import__(name)
    except ImportError:
        continue
    raise SystemExit(f"{name} imported on the bare box")
"""


def test_the_core_builds_trains_saves_and_loads_with_torch_and_numpy_alone(tmp_path):
    proc = subprocess.run([*BARE, "-c", CORE, str(tmp_path / "m.pt")], env=ENV, capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "['a', 'b']" in proc.stdout


def test_the_gpu_check_dry_run_passes_on_the_bare_box(tmp_path):
    """`gpu.sh --device cpu --steps small`: the throughput epoch, both quality runs, the metrics table and no
    import beyond the core; on a CPU the two runs are the same run, so the metrics agree exactly."""
    env = {**ENV, "PYTHON": " ".join(BARE), "OUT": str(tmp_path)}
    proc = subprocess.run(["sh", str(REPO / "benchmarks" / "gpu.sh"), "--device", "cpu", "--steps", "small",
                           "--threads", "1"], env=env, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    out = proc.stdout
    assert "[throughput] batch 256:" in out and "samples/s" in out and "GPU busy: n/a (not a CUDA device)" in out
    assert "imports beyond torch + numpy + mtlops' core: none" in out
    figures = json.loads((tmp_path / "gpu_check.json").read_text())
    assert figures["imported_beyond_torch_numpy"] == [] and figures["throughput"][0]["samples_per_s"] > 0
    gpu, cpu = figures["quality"]
    assert set(gpu["test"]) == {"delayed", "cancelled", "arr_delay"}
    assert gpu["test"] == cpu["test"]
    assert 0.5 < gpu["test"]["cancelled"][1] <= 1 and gpu["test"]["arr_delay"][0] == "mae"


def test_the_shipped_flights_sample_is_small():
    data = REPO / "benchmarks" / "data" / "flights_small.npz"
    assert data.stat().st_size <= 5 * 1024 * 1024
