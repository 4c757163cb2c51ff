"""Which rule should pick what serves each task? Try several on the suite's kept runs (issue 24).

    .venv/bin/python benchmarks/suite.py --keep --work-dir /tmp/suite_keep --out /tmp/suite_keep_out
    .venv/bin/python benchmarks/serving_rules.py /tmp/suite_keep [--out reports/serving_rules.md]

For every finished run folder (`<table>-seed<N>/project`) it loads the trained shared network and the
baselines' models, predicts the validation and test splits once, and lets each rule choose per task
from the validation predictions alone (the same candidates `mtlops.serving.choice` offers). Each rule's
choice is then scored on the test split: Δm of the served model against LightGBM and against the
single-task network, per run; the table reports each table's mean over its seeds and the worst table.
Nothing is retrained and no project file is written, so a rule can be judged on every table before it
becomes a default (a default is chosen on the suite, never on one table).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

Spec = tuple[str, float | None]  # (kind, network weight of a blend)
Rule = Callable[[Any, dict[str, Any]], Spec]


def _load(project: Path) -> dict[str, Any]:
    """Validation and test predictions of every candidate, per target task."""
    from mtlops.config import load_config
    from mtlops.data.prepare import load_split
    from mtlops.io import read_json
    from mtlops.paths import Paths
    from mtlops.serving.build import _baseline_predictions
    from mtlops.training import predict
    from mtlops.training.served import load_served

    cfg = load_config(project / "params.yaml")
    paths = Paths.at(project, store_root=project)
    network = load_served(paths.model_dir).network
    report = read_json(paths.baselines_metrics, what="baselines").get("tasks", {})
    out: dict[str, Any] = {"cfg": cfg, "tasks": {}}
    splits = {s: load_split(paths, s) for s in ("val", "test")}
    shared = {s: predict(network, arrays) for s, arrays in splits.items()}
    for task in cfg.target_tasks:
        entry: dict[str, Any] = {"task": task}
        for s, arrays in splits.items():
            single, gbdt, _ = _baseline_predictions(cfg, paths, task, report.get(task.name) or {}, arrays)
            entry[s] = {"y": arrays[f"y_{task.name}"], "mask": arrays[f"mask_{task.name}"],
                        "shared": shared[s][task.name], "stl": single, "gbdt": gbdt}
        out["tasks"][task.name] = entry
    return out


def _pred(task: Any, part: dict[str, Any], spec: Spec) -> np.ndarray | None:
    from mtlops.task_types import task_type

    kind, w = spec
    if kind == "blend":
        if part["gbdt"] is None:
            return part["shared"]
        return task_type(task.type).blend(part["shared"], part["gbdt"], float(w))  # type: ignore[arg-type]
    return part[kind]


def _metric(task: Any, part: dict[str, Any], spec: Spec, rows: np.ndarray | None = None) -> float:
    """The primary metric on `rows` (all: None); NaN where undefined, as the serving choice scores."""
    from mtlops.serving.choice import _metric as metric_or_nan

    pred = _pred(task, part, spec)
    if pred is None:
        return math.nan
    return metric_or_nan(task, part["y"], pred, part["mask"] if rows is None else part["mask"] & rows, 10)


def _gain(task: Any, value: float, reference: float) -> float:
    """% better than `reference` (Δm's per-task term)."""
    from mtlops.metrics.delta_m import delta_m

    return delta_m({task.name: value}, {task.name: reference}, {task.name: task.higher_is_better})


# ------------------------------------------------------------------------------------------------ rules
ORDER = {"shared": 0, "stl": 1, "gbdt": 2, "blend": 3}
GRID = [round(k / 10, 6) for k in range(9, 0, -1)]


def _specs(entry: dict[str, Any], blends: list[float]) -> list[Spec]:
    part = entry["val"]
    out: list[Spec] = [("shared", None)]
    if part["stl"] is not None:
        out.append(("stl", None))
    if part["gbdt"] is not None:
        out.append(("gbdt", None))
        out += [("blend", w) for w in blends]
    return out


def banded(band: float, blends: list[float] = GRID, halves: bool = False) -> Rule:
    """The cheapest candidate within `band` % of the best on validation (`prefer: shared`'s rule, for the
    variants the pipeline has no setting for: other blend grids, and `halves`).
    `halves`: a candidate's score is its worse of the two halves of the validation rows (in their order,
    which is time order for a time split), so a win must hold on both."""

    def rule(task: Any, entry: dict[str, Any]) -> Spec:
        part = entry["val"]
        specs = _specs(entry, blends)
        n = len(part["mask"])
        parts = [None] if not halves else [np.arange(n) < n // 2, np.arange(n) >= n // 2]
        scores = [math.inf] * len(specs)
        for rows in parts:
            values = [_metric(task, part, s, rows) for s in specs]
            finite = [v for v in values if math.isfinite(v)]
            if not finite:
                continue
            top = max(finite) if task.higher_is_better else min(finite)
            scores = [min(s, _gain(task, v, top)) for s, v in zip(scores, values, strict=True)]
        scores = [s if math.isfinite(s) else math.nan for s in scores]
        finite = [k for k, s in enumerate(scores) if math.isfinite(s)]
        if not finite:
            return ("shared", None)
        top = max(scores[k] for k in finite)
        ok = [k for k in finite if scores[k] >= top - band]
        best = min(ok, key=lambda k: (ORDER[specs[k][0]], -scores[k]))
        return specs[best]

    return rule


def fixed_blend(w: float) -> Rule:
    def rule(task: Any, entry: dict[str, Any]) -> Spec:
        return ("blend", w) if entry["val"]["gbdt"] is not None else ("shared", None)

    return rule




def hedge_first(band: float, w: float = 0.5) -> Rule:
    """The `w` blend serves unless another candidate beats it on validation by more than `band` %: the
    hedge is the default answer, a single model (or another weight) must clearly win."""

    def rule(task: Any, entry: dict[str, Any]) -> Spec:
        part = entry["val"]
        if part["gbdt"] is None:
            return banded(band)(task, entry)
        specs: list[Spec] = [("blend", w), *[s for s in _specs(entry, GRID) if s != ("blend", w)]]
        values = [_metric(task, part, s) for s in specs]
        finite = [k for k, v in enumerate(values) if math.isfinite(v)]
        top = max(values[k] for k in finite) if task.higher_is_better else min(values[k] for k in finite)
        scores = {k: _gain(task, values[k], top) for k in finite}
        ok = [k for k in finite if scores[k] >= -band]
        return specs[min(ok)]

    return rule


def shrunk(factor: float) -> Rule:
    """The best blend weight on validation over 0..1 (1 = the network alone, 0 = LightGBM alone), moved
    `factor` of the way towards 0.5."""

    def rule(task: Any, entry: dict[str, Any]) -> Spec:
        part = entry["val"]
        if part["gbdt"] is None:
            return banded(0.5)(task, entry)
        grid = [round(k / 10, 6) for k in range(10, -1, -1)]
        values = [_metric(task, part, ("blend", w)) for w in grid]
        sign = 1 if task.higher_is_better else -1
        k = max(range(len(grid)), key=lambda i: sign * values[i] if math.isfinite(values[i]) else -math.inf)
        return ("blend", round(grid[k] + factor * (0.5 - grid[k]), 6))

    return rule


def pipeline(prefer: str, band: float, steps: int = 10) -> Rule:
    """mtlops' own rule (`mtlops.serving.choice.choose`) with these settings: the rows the default and the
    former rule get are the pipeline's code, not a copy of it."""
    from mtlops.serving.choice import candidates, choose

    def rule(task: Any, entry: dict[str, Any]) -> Spec:
        part = entry["val"]
        cands = candidates(task, part["shared"], part["stl"], part["gbdt"], steps)
        chosen = choose(task, part["y"], part["mask"], cands, band, 10, prefer)
        return ("stl" if chosen["kind"] == "single_task" else chosen["kind"], chosen["weight"])

    return rule


RULES: dict[str, Rule] = {
    "prefer shared, band 0.5 (the rule before)": pipeline("shared", 0.5),
    "band 0.25": pipeline("shared", 0.25),
    "band 0 (best on val)": pipeline("shared", 0.0),
    "band 0.5, both halves": banded(0.5, halves=True),
    "band 0.25, both halves": banded(0.25, halves=True),
    "blends 0.2-0.8 only, band 0.5": banded(0.5, blends=[0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2]),
    "fixed blend 0.5": fixed_blend(0.5),
    "fixed blend 0.7": fixed_blend(0.7),
    "best blend 0.1-0.9 always": pipeline("blend", math.inf),
    "best blend unless a single model beats it by 0.5 %": pipeline("blend", 0.5),
    "best blend unless a single model beats it by 0.25 %": pipeline("blend", 0.25),
    "best blend unless a single model beats it by 1 % (prefer: blend, the default)": pipeline("blend", 1.0),
    "best blend unless a single model beats it by 2 %": pipeline("blend", 2.0),
    "best blend unless a single model beats it by 5 %": pipeline("blend", 5.0),
    "best blend of 20 always": pipeline("blend", math.inf, 20),
    "blend 0.5 unless beaten by 0.5 %": hedge_first(0.5),
    "blend 0.5 unless beaten by 0.25 %": hedge_first(0.25),
    "best w, halfway to 0.5": shrunk(0.5),
    "best w, 3/4 to 0.5": shrunk(0.75),
}


# ------------------------------------------------------------------------------------------------ scoring
def score_run(loaded: dict[str, Any]) -> dict[str, Any]:
    """Per rule: test Δm of the served model vs LightGBM and vs the single-task network, and the choices."""
    from mtlops.metrics.delta_m import delta_m

    out = {}
    tasks = loaded["tasks"]
    higher = {t: e["task"].higher_is_better for t, e in tasks.items()}
    gbdt = {t: _metric(e["task"], e["test"], ("gbdt", None)) for t, e in tasks.items()}
    stl = {t: _metric(e["task"], e["test"], ("stl", None)) for t, e in tasks.items()}
    for name, rule in RULES.items():
        served, chosen = {}, {}
        for t, e in tasks.items():
            spec = rule(e["task"], e)
            chosen[t] = spec[0] if spec[1] is None else f"{spec[0]} {spec[1]}"
            served[t] = _metric(e["task"], e["test"], spec)
        gb = {t: v for t, v in gbdt.items() if math.isfinite(v)}
        st = {t: v for t, v in stl.items() if math.isfinite(v)}
        out[name] = {
            "vs_gbdt": delta_m({t: served[t] for t in gb}, gb, higher) if gb else math.nan,
            "vs_stl": delta_m({t: served[t] for t in st}, st, higher) if st else math.nan,
            "chosen": chosen,
        }
    return out


def _commit() -> str:
    out = subprocess.run(["git", "-C", str(Path(__file__).resolve().parent), "rev-parse", "--short=10", "HEAD"],
                         check=False, capture_output=True, text=True)
    return out.stdout.strip() or "?"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work", type=Path, help="the suite's --work-dir, run with --keep")
    parser.add_argument("--out", type=Path, help="write the table (markdown) and the figures (.json beside it)")
    parser.add_argument("--rules", help="only the rules whose name contains this text")
    args = parser.parse_args()
    if args.rules:
        for name in [n for n in RULES if args.rules not in n]:
            del RULES[name]
    runs = sorted(p.parent for p in args.work.glob("*-seed*/project/params.yaml"))
    if not runs:
        print(f"{args.work}: no kept runs (<table>-seed<N>/project); run benchmarks/suite.py --keep", file=sys.stderr)
        return 2
    per_table: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        table = run.parent.name.rsplit("-seed", 1)[0]
        try:
            scored = score_run(_load(run))
        except Exception as err:  # an unfinished run: say so and go on
            print(f"{run}: skipped ({type(err).__name__}: {err})", file=sys.stderr)
            continue
        per_table.setdefault(table, []).append(scored)
        print(f"{run.parent.name}: " + ", ".join(f"{n} {s['vs_gbdt']:+.2f}" for n, s in scored.items()), flush=True)
    lines = ["| rule | " + " | ".join(per_table) + " | worst | median | tables ≥ 0 | vs STL median |",
             "|---|" + "---|" * (len(per_table) + 4)]
    summary: dict[str, Any] = {}
    for name in RULES:
        means = {t: statistics.mean(r[name]["vs_gbdt"] for r in rs) for t, rs in per_table.items()}
        stl = {t: statistics.mean(r[name]["vs_stl"] for r in rs) for t, rs in per_table.items()}
        summary[name] = {"vs_gbdt": means, "vs_stl": stl, "chosen": {t: [r[name]["chosen"] for r in rs]
                                                                      for t, rs in per_table.items()}}
        vals = list(means.values())
        lines.append(f"| {name} | " + " | ".join(f"{v:+.2f}" for v in vals)
                     + f" | {min(vals):+.2f} | {statistics.median(vals):+.2f} | {sum(v >= 0 for v in vals)}/{len(vals)}"
                     + f" | {statistics.median(stl.values()):+.2f} |")
    text = "\n".join(lines)
    print("\nserved Δm vs LightGBM on test, % (mean over seeds)\n" + text)
    if args.out:
        seeds = sorted({run.parent.name.rsplit("-seed", 1)[1] for run in runs})
        head = [
            "# Serving rules on the benchmark suite",
            "",
            f"`benchmarks/serving_rules.py {args.work}` on the kept runs of `benchmarks/suite.py --keep` "
            f"({sum(len(r) for r in per_table.values())} runs: {len(per_table)} tables × seeds {', '.join(seeds)}); "
            f"{datetime.now(UTC):%Y-%m-%d}, commit `{_commit()}`.",
            "",
            "Each rule re-chooses what serves each task from the validation predictions of the trained shared "
            "network, single-task network and LightGBM (nothing retrained); the cell is the served model's Δm "
            "against LightGBM on the test split, in %, the mean over seeds (positive: served better). The last "
            "column is the median over tables of the served model's Δm against the single-task networks.",
            "",
        ]
        args.out.write_text("\n".join(head) + "\n" + text + "\n")
        args.out.with_suffix(".json").write_text(json.dumps(summary, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
