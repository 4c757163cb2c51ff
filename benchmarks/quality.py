"""Is the shared model at least as good as each task alone, over seeds? The issue-13 table for any params file.

    .venv/bin/python benchmarks/quality.py [--params params.yaml] [--seeds 3] [--skip-search] [--json out.json]

For each seed (project.seed, project.seed + 1, ...) runs the real stages ingest → evaluate in a fresh
temporary project (nothing is written beside the params file; the params file's own seed is replaced
in memory). The seed drives the random split, the baselines, the search and training alike, so the
spread covers all of them. `--skip-search` sets search.enabled false: the configured model and recipe
alone. Prints, from each run's reports/metrics.json (mean ± sd over seeds):

- per task: the primary test metric of the multi-task model (MTL), its single-task network (STL) and
  LightGBM (GBDT), and how many runs flagged the task: its paired bootstrap interval vs STL lies
  entirely below zero (evaluate's `negative_transfer`);
- Δm vs LightGBM and vs STL (percent, positive = MTL better);
- training wall time of the one MTL model vs the sum of the single-task networks' (metrics.json `cost`,
  from reports/history.json and reports/baselines.json) and the whole run's wall time.
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

STAGES = ["ingest", "validate", "prepare", "baselines", "search", "grouping", "train", "evaluate"]
MODELS = ("mtl", "stl", "gbdt")


def run_seed(params: Path, seed: int, skip_search: bool, keep: Path | None) -> dict[str, Any]:
    """One run of the stages under `seed`; its metrics.json plus the run's wall time."""
    from mtlops.checks import load_checked
    from mtlops.io import read_json
    from mtlops.paths import Paths
    from mtlops.stages import run_stages

    overrides: dict[str, Any] = {"project": {"seed": seed}}
    if skip_search:
        overrides["search"] = {"enabled": False}
    cfg = load_checked(params, overrides=overrides)
    with tempfile.TemporaryDirectory(prefix=f"quality_{cfg.project.name}_{seed}_") as tmp:
        root = keep / f"seed{seed}" if keep else Path(tmp)
        paths = Paths.at(root, store_root=root)
        start = time.perf_counter()
        run_stages(cfg, paths, names=STAGES)
        report = read_json(paths.metrics)
    return {
        "seed": seed,
        "search": cfg.search.enabled,
        "run_wall_s": round(time.perf_counter() - start, 1),
        "metrics": report,
    }


def mean_sd(values: list[float | None]) -> tuple[float, float]:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return math.nan, math.nan
    return statistics.fmean(finite), statistics.stdev(finite) if len(finite) > 1 else 0.0


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean and sd over seeds of every figure in the table."""
    reports = [r["metrics"] for r in runs]
    tasks = {}
    for name, entry in reports[0]["tasks"].items():
        metric = entry["metric"]
        row: dict[str, Any] = {"metric": metric, "higher_is_better": entry["higher_is_better"]}
        for model in MODELS:
            row[model] = mean_sd([(r["tasks"][name].get(model) or {}).get(metric) for r in reports])
        row["negative_transfer_runs"] = sum(bool(r["tasks"][name].get("negative_transfer")) for r in reports)
        tasks[name] = row
    cost = {
        "mtl_wall_s": mean_sd([r["cost"]["mtl"]["wall_time_s"] for r in reports]),
        "stl_sum_wall_s": mean_sd([r["cost"]["stl_sum"]["wall_time_s"] for r in reports]),
        "mtl_over_stl_sum": mean_sd(
            [_ratio(r["cost"]["mtl"]["wall_time_s"], r["cost"]["stl_sum"]["wall_time_s"]) for r in reports]
        ),
        "run_wall_s": mean_sd([r["run_wall_s"] for r in runs]),
    }
    return {
        "tasks": tasks,
        "delta_m": {base: mean_sd([r["delta_m"][base] for r in reports]) for base in ("vs_gbdt", "vs_stl")},
        "negative_transfer_per_run": [
            sum(bool(e.get("negative_transfer")) for e in r["tasks"].values()) for r in reports
        ],
        "cost": cost,
    }


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _fmt(pair: tuple[float, float], digits: int = 4) -> str:
    mean, sd = pair
    if not math.isfinite(mean):
        return "n/a"
    return f"{mean:.{digits}g} ± {sd:.2g}"


def _signed(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.3f}"


def table(summary: dict[str, Any], title: str) -> str:
    n = summary["n_seeds"]
    lines = [
        f"## {title}",
        "",
        "| task | metric | MTL | single-task NN | LightGBM | runs with interval vs STL < 0 |",
        "|---|---|---|---|---|---|",
    ]
    for name, row in summary["tasks"].items():
        arrow = "↑" if row["higher_is_better"] else "↓"
        lines.append(
            f"| {name} | {row['metric']} {arrow} | {_fmt(row['mtl'])} | {_fmt(row['stl'])} | "
            f"{_fmt(row['gbdt'])} | {row['negative_transfer_runs']} of {n} |"
        )
    dm, cost = summary["delta_m"], summary["cost"]
    lines += [
        "",
        f"Δm vs LightGBM: {_fmt(dm['vs_gbdt'], 3)} %   Δm vs single-task: {_fmt(dm['vs_stl'], 3)} %",
        f"tasks whose interval vs STL lies entirely below zero, per run: {summary['negative_transfer_per_run']}",
        (
            f"training wall time: MTL {_fmt(cost['mtl_wall_s'], 3)} s vs Σ single-task "
            f"{_fmt(cost['stl_sum_wall_s'], 3)} s (ratio {_fmt(cost['mtl_over_stl_sum'], 2)}); "
            f"whole run {_fmt(cost['run_wall_s'], 3)} s"
        ),
        f"({n} seeds: {summary['seeds']}; mean ± sd; search {'on' if summary['search'] else 'off'})",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--seeds", type=int, default=3, help="runs, seeds project.seed, project.seed + 1, ...")
    parser.add_argument("--skip-search", action="store_true", help="search.enabled false: the recipe alone")
    parser.add_argument("--json", type=Path, help="also write every run's metrics and the summary here")
    parser.add_argument("--keep", type=Path, help="keep each run's project under this folder (seed<N>/)")
    args = parser.parse_args()
    if args.seeds < 1:
        parser.error("--seeds must be at least 1")

    from mtlops.checks import load_checked

    first = load_checked(args.params).project.seed
    seeds = [first + i for i in range(args.seeds)]
    runs = []
    for seed in seeds:
        runs.append(run_seed(args.params, seed, args.skip_search, args.keep))
        dm = runs[-1]["metrics"]["delta_m"]
        print(
            f"seed {seed}: Δm vs LightGBM {_signed(dm['vs_gbdt'])} %, vs single-task {_signed(dm['vs_stl'])} % "
            f"({runs[-1]['run_wall_s']} s)",
            flush=True,
        )
    summary = {
        "params": str(args.params),
        "seeds": seeds,
        "n_seeds": len(seeds),
        "search": runs[0]["search"],
        **summarise(runs),
    }
    print()
    print(table(summary, str(args.params)))
    if args.json:
        from mtlops.io import write_json
        from mtlops.metrics.per_task import json_safe

        write_json(args.json, json_safe({"summary": summary, "runs": runs}))


if __name__ == "__main__":
    main()
