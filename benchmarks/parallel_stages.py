"""The baselines and grouping stages one job after another and in `resources.workers` processes, side by side.

    .venv/bin/python benchmarks/parallel_stages.py --params PARAMS [--workers 2] [--set key=value ...] [--stages ...]

Takes the raw snapshot of the project of PARAMS (after `mtlops ingest` there), prepares it once with the
overrides in a temp folder, copies that twice, runs the stages on one copy with `resources.workers: 1` and on
the other with `--workers` (`search.workers` too, when `search` is among `--stages`), alternating stage by stage
so the machine's other load hits both alike, and prints each stage's wall time both ways and whether the
outputs are identical (reports with their times left out, model files byte for byte). `--set` overrides
params.yaml keys (YAML values), e.g. `--set split.max_train_rows=20000` for a small configuration.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

TIMES = {"wall_time_s", "seconds"}


def without_times(doc: Any) -> Any:
    if isinstance(doc, dict):
        return {k: without_times(v) for k, v in doc.items() if k not in TIMES}
    if isinstance(doc, list):
        return [without_times(v) for v in doc]
    return doc


def same_outputs(stage: str, one, two) -> bool:
    if stage == "baselines":
        reports = [json.loads(p.baselines_metrics.read_text()) for p in (one, two)]
        files = [sorted(p.baselines_dir.iterdir()) for p in (one, two)]
        same_files = [f.name for f in files[0]] == [f.name for f in files[1]] and all(
            a.read_bytes() == b.read_bytes() for a, b in zip(*files)
        )
        return same_files and without_times(reports[0]) == without_times(reports[1])
    if stage == "search":  # the trials each drew and how they ended
        keys = ("state", "delta_m", "architecture", "weighting", "val_delta_m", "epochs")
        trials = [[{k: t[k] for k in keys} for t in json.loads(p.search_summary.read_text())["trials"]]
                  for p in (one, two)]
        return trials[0] == trials[1]
    docs = [json.loads(p.grouping.read_text()) for p in (one, two)]
    return without_times(docs[0]) == without_times(docs[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--stages", nargs="+", default=["baselines", "grouping"])
    parser.add_argument("--set", nargs="*", default=[], help="key=value overrides of params.yaml")
    parser.add_argument("--keep", default=None, help="work in this folder and keep it (default: a temp folder)")
    args = parser.parse_args()

    from mtlops.checks import load_checked
    from mtlops.config import deep_merge
    from mtlops.parallel import IN_WORKER, available_cores
    from mtlops.paths import Paths
    from mtlops.stages import run_stage

    os.environ.pop(IN_WORKER, None)
    source = Path(args.params).resolve().parent
    overrides: dict[str, Any] = {}
    for item in args.set:
        key, value = item.split("=", 1)
        node = overrides
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = yaml.safe_load(value)
    with tempfile.TemporaryDirectory() as scratch:
        tmp = args.keep or scratch
        base = Path(tmp) / "prepared"  # the source's snapshot, prepared once with the overrides
        shutil.copytree(source / "data" / "raw", base / "data" / "raw")
        params = deep_merge(yaml.safe_load(Path(args.params).read_text()), overrides)
        (base / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        run_stage("prepare", load_checked(base / "params.yaml"), Paths.at(base))
        roots = []
        for name, workers in (("sequential", 1), ("parallel", args.workers)):
            root = Path(tmp) / name
            shutil.copytree(base, root)
            both = {"resources": {"workers": workers}, "search": {"workers": workers}}
            (root / "params.yaml").write_text(yaml.safe_dump(deep_merge(params, both), sort_keys=False))
            roots.append(root)
        print(f"cores available {available_cores()}, load average {os.getloadavg()[0]:.1f}; overrides {overrides}")
        print(f"{'stage':<10} {'1 worker':>10} {f'{args.workers} workers':>10} {'ratio':>7}  identical")
        for stage in args.stages:
            seconds = []
            for root in roots:
                cfg, paths = load_checked(root / "params.yaml"), Paths.at(root)
                os.environ.pop("MLFLOW_TRACKING_URI", None)
                start = time.perf_counter()
                run_stage(stage, cfg, paths)
                seconds.append(time.perf_counter() - start)
            same = same_outputs(stage, Paths.at(roots[0]), Paths.at(roots[1]))
            print(f"{stage:<10} {seconds[0]:9.1f}s {seconds[1]:9.1f}s {seconds[0] / seconds[1]:6.2f}x  {same}")
        print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
