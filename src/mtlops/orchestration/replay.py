"""`mtlops simulate`: replay monthly retraining. Each month more data arrives (the month is the run's
cut-off, through the source's `arrival` hook) and the test window moves forward with it.

Per month: first the monitor (`mtlops.monitoring`) checks the champion of the month before on the rows
that arrive this month — its drift verdict and its realised metric per task, where labels came with the
rows —, then the flow retrains: the challenger's and the champion's primary metric per task (both scored
by the gate on that month's test window), Δm vs single-task, the gate's decision, the champion after it,
and the month's wall time. The table is printed and written, with a plot of the per-task metric over the
months, to `reports/simulation.md` (+ `reports/simulation.png`), rewritten after every month so
a long replay can be watched and an interrupted one keeps what it did.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mtlops.errors import UserError, first_line
from mtlops.orchestration.dvc import StageFailed
from mtlops.orchestration.retrain import console, run_retrain

if TYPE_CHECKING:
    from mtlops.paths import Paths
    from mtlops.schema import Config


def months(start: str, end: str) -> list[str]:
    """Every 'YYYY-MM' from `start` to `end`, both included."""
    try:
        y, m = (int(p) for p in start.split("-"))
        y_end, m_end = (int(p) for p in end.split("-"))
    except ValueError:
        raise UserError(f"--from/--to: expected YYYY-MM, got {start!r} / {end!r}") from None
    out = []
    while (y, m) <= (y_end, m_end):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    if not out:
        raise UserError(f"--from {start} comes after --to {end}")
    return out


def simulate(params_file: str | Path = "params.yaml", start: str = "2013-06", end: str = "2013-12",
             through_dvc: bool | None = None) -> list[dict[str, Any]]:
    """The flow once per month; returns the rows of the table (also printed and in reports/simulation.md)."""
    from mtlops.checks import load_checked
    from mtlops.orchestration.flow import prepare_run
    from mtlops.orchestration.lock import run_lock
    from mtlops.orchestration.prefect_api import prefect_api
    from mtlops.paths import Paths
    from mtlops.processes import child_group

    cfg = load_checked(params_file)
    paths = Paths.for_params(params_file)
    wanted = months(start, end)
    rows: list[dict[str, Any]] = []
    began = time.perf_counter()
    # one lock and one Prefect API for the whole replay: no run slips in between two months
    with run_lock(paths.root) as stale, child_group("simulate") as group:
        prepare_run(cfg, paths, stale)
        with prefect_api(group):
            for month in wanted:
                tick = time.perf_counter()
                watched = monitor_month(params_file, month)
                try:
                    result = run_retrain(params_file, cutoff=month, through_dvc=through_dvc, quiet=True)
                    rows.append(month_row(month, paths, result, time.perf_counter() - tick) | {"monitor": watched})
                except StageFailed as err:  # the month's data or a stage refused: recorded; next month, as scheduled
                    print(f"{month}: {first_line(err)}")
                    rows.append(failed_row(month, err, time.perf_counter() - tick) | {"monitor": watched})
                write_report(cfg, paths, rows, time.perf_counter() - began, wanted)
    console().print(table_markdown(cfg, rows), markup=False, highlight=False)
    print(f"written: {paths.reports_dir / 'simulation.md'}")
    return rows


def monitor_month(params_file: str | Path, month: str) -> dict[str, Any]:
    """The champion so far on the rows arriving up to the end of `month`, before the month's retrain: its
    verdict and realised metric per task; a month without a champion (the first) says why, in short."""
    from mtlops.checks import load_checked
    from mtlops.monitoring.monitor import monitor
    from mtlops.paths import Paths

    try:
        result = monitor(load_checked(params_file), Paths.for_params(params_file), cutoff=month)
    except UserError as err:
        return {"verdict": f"— ({short_reason(err, 40)})", "realised": {}}
    return {"verdict": result["verdict"], "version": result["version"], "drift_share": result["features"]["share"],
            "realised": {t: h.get("realised") for t, h in result["tasks"].items()}}


def month_row(month: str, paths: Paths, result: dict[str, Any], seconds: float) -> dict[str, Any]:
    """One month from the run's own reports: per-task metrics of challenger and champion, Δm, the gate."""
    metrics = json.loads(paths.metrics.read_text())
    promotion = json.loads(paths.promotion.read_text()) if paths.promotion.exists() else {}
    scored = promotion.get("metrics") or {}
    return {
        "month": month,
        "challenger": scored.get("candidate") or metrics["primary"]["mtl"],
        "champion_before": scored.get("champion") or {},
        "delta_m": metrics.get("delta_m", {}),
        "promotion": result["promotion"],
        "seconds": round(seconds, 1),
    }


def failed_row(month: str, err: Exception, seconds: float) -> dict[str, Any]:
    """A month whose run failed: the table cell gets the reason, short; the whole message is printed above."""
    return {"month": month, "challenger": {}, "champion_before": {}, "delta_m": {},
            "promotion": {"decision": f"run failed: {short_reason(err)}", "version": None, "champion": None},
            "seconds": round(seconds, 1)}


def short_reason(err: Exception, limit: int = 80) -> str:
    """The error's first line without its parenthesised detail, cut at a word to `limit` characters."""
    reason = first_line(err).split(" (", 1)[0].replace("|", "/")  # a '|' would split the Markdown cell
    if len(reason) > limit:
        reason = reason[: limit - 1].rsplit(" ", 1)[0] + "…"
    return reason


def table_markdown(cfg: Config, rows: list[dict[str, Any]]) -> str:
    """The month-by-month table in Markdown (numbers rounded)."""

    tasks = cfg.target_names
    header = ["month"]
    for t in tasks:
        arrow = "↑" if cfg.task(t).higher_is_better else "↓"
        header += [f"{t} {cfg.task(t).metric} {arrow} challenger", f"{t} champion", f"{t} champion on arriving rows"]
    header += ["monitor (before retraining)", "Δm vs STL (%)", "gate", "champion after", "wall time (s)"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        promo = row["promotion"] or {}
        cells = [row["month"]]
        watched = row.get("monitor") or {}
        for t in tasks:
            cells += [_fmt(row["challenger"].get(t)), _fmt(row["champion_before"].get(t)),
                      _fmt((watched.get("realised") or {}).get(t))]
        cells.append(_monitor_cell(watched))
        version = f" (v{promo['version']})" if promo.get("version") is not None else ""
        cells += [_fmt(row["delta_m"].get("vs_stl"), 2), f"{promo.get('decision')}{version}",
                  f"v{promo.get('champion')}" if promo.get("champion") is not None else "—", f"{row['seconds']:.0f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_report(cfg: Config, paths: Paths, rows: list[dict[str, Any]], seconds: float, wanted: list[str]) -> Path:
    """reports/simulation.md and reports/plots/simulation.png from the months done so far."""
    from mtlops.io import write_text

    plot = paths.reports_dir / "simulation.png"  # not in reports/plots/: that is evaluate's DVC output
    plot_months(cfg, rows, plot)
    done = f"{len(rows)} of {len(wanted)} months" if len(rows) < len(wanted) else f"{len(rows)} months"
    text = "\n".join([
        f"# Monthly retraining replayed: {wanted[0]} to {wanted[-1]}",
        "",
        f"`mtlops simulate --from {wanted[0]} --to {wanted[-1]}` — {done}, {seconds / 60:.1f} min in all.",
        "Each month the cut-off moves to the month's end (new data arrives). First the monitor checks the champion",
        "on the month's arriving rows (`mtlops monitor`: its realised metric per task, the drift verdict); then the",
        "flow runs every stage, and the gate scores the challenger and the champion it had on that month's test",
        "window (the champion columns).",
        "",
        table_markdown(cfg, rows),
        "",
        f"![per-task metric over the months]({plot.relative_to(paths.reports_dir)})",
        "",
    ])
    target = paths.reports_dir / "simulation.md"
    write_text(target, text)
    return target


def plot_months(cfg: Config, rows: list[dict[str, Any]], target: Path) -> None:
    """One panel per task: the challenger's and the champion's primary metric by month."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mtlops.io import atomic_path

    tasks = cfg.target_names
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.2 * len(tasks), 3.2), squeeze=False)
    x = [row["month"] for row in rows]
    for ax, task in zip(axes[0], tasks):
        for key, label, style in (("challenger", "challenger", "o-"), ("champion_before", "champion", "s--")):
            ys = [row[key].get(task) for row in rows]
            ax.plot(x, [float("nan") if y is None else y for y in ys], style, label=label)
        ax.set_title(f"{task} ({cfg.task(task).metric})")
        ax.tick_params(axis="x", rotation=45)
        ax.grid(alpha=0.3)
    axes[0][0].legend()
    fig.tight_layout()
    with atomic_path(target) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def _monitor_cell(watched: dict[str, Any]) -> str:
    if not watched:
        return "—"
    if "version" not in watched:
        return str(watched.get("verdict")).replace("|", "/")
    return f"{watched['verdict']} (v{watched['version']}, {100 * watched['drift_share']:.0f}% features drifted)"


def _fmt(x: Any, digits: int = 4) -> str:
    return "—" if x is None else f"{x:.{digits}f}"
