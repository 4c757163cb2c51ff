#!/bin/sh
# The GPU check (docs/performance.md): trains the shipped flights sample (benchmarks/data/flights_small.npz)
# on the GPU in bf16 and prints samples/s, the GPU's busy fraction, peak memory and the test metrics beside
# the same training on the CPU. Needs torch + numpy only (nvidia-smi for the busy fraction). From anywhere:
#   sh benchmarks/gpu.sh [benchmarks/gpu_check.py options]      e.g. --batch-sizes 1024,8192,32768
# PYTHON picks the interpreter (default python3); with OUT set the figures also go to $OUT/gpu_check.json.
set -eu
root=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
cd "$root"
if command -v nvidia-smi >/dev/null 2>&1; then
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
else
    echo "nvidia-smi not found: the GPU busy fraction will read n/a"
fi
export PYTHONPATH="$root/src${PYTHONPATH:+:$PYTHONPATH}"
# shellcheck disable=SC2086  # PYTHON may be a command with arguments
exec ${PYTHON:-python3} benchmarks/gpu_check.py --device cuda ${OUT:+--out "$OUT/gpu_check.json"} "$@"
