"""Wall time of the data stages on the full flights data (336,776 rows): ingest, then prepare.

    .venv/bin/python benchmarks/data_prepare.py [--params params.yaml] [--repeat 3]

Runs in a temporary project folder (nothing under the repo's data/ changes) and prints the best and
median of `--repeat` runs per stage, with the rows and output sizes.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default=str(Path(__file__).resolve().parents[1] / "params.yaml"))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from mtlops.checks import load_checked
    from mtlops.data.ingest import ingest
    from mtlops.data.prepare import prepare
    from mtlops.paths import Paths

    cfg = load_checked(args.params)
    root = Path(tempfile.mkdtemp(prefix="mtlops-bench-"))
    paths = Paths.at(root)
    times: dict[str, list[float]] = {"ingest": [], "prepare": []}
    try:
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            snapshot = ingest(cfg, paths)
            t1 = time.perf_counter()
            summary = prepare(cfg, paths)
            t2 = time.perf_counter()
            times["ingest"].append(t1 - t0)
            times["prepare"].append(t2 - t1)
        processed_mb = sum(p.stat().st_size for p in paths.processed_dir.iterdir()) / 1e6
    finally:
        shutil.rmtree(root, ignore_errors=True)

    print(f"source {cfg.data.source}: {snapshot['rows']:,} rows, {len(snapshot['columns'])} columns, "
          f"snapshot {snapshot['bytes'] / 1e6:.1f} MB")
    print(f"splits {summary['rows']}, num dim {summary['inputs']['num']['dim']}, "
          f"cat cardinalities {summary['inputs']['cat']['cardinalities']}, processed {processed_mb:.1f} MB")
    for stage, ts in times.items():
        print(f"{stage:8s} best {min(ts):6.2f} s   median {statistics.median(ts):6.2f} s   ({len(ts)} runs)")


if __name__ == "__main__":
    main()
