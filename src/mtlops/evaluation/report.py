"""The per-task comparison a person reads: a text table for the terminal and reports/summary.md.

Both are rendered from reports/metrics.json alone, so `mtlops evaluate` and anyone holding that file
(a registered model's artifacts, an old commit) see the same table.
"""

from __future__ import annotations

import io
import math
from typing import Any

MODELS = (("mtl", "MTL"), ("served", "served"), ("stl", "STL"), ("gbdt", "GBDT"))
# The difference columns are signed so that positive = MTL better, whichever way the metric points: for a
# lower-is-better metric the value is STL − MTL, so the header names the direction, not a subtraction.
HEADER = ["task", "metric", "MTL", "STL", "GBDT", "MTL vs STL, better ↑ (CI)", "MTL vs GBDT, better ↑ (CI)", "n_test",
          "flag"]
# (b) the served model: each task answered by what was chosen for it on validation (`mtlops.serving`)
SERVED_HEADER = ["task", "served by", "served", "served vs STL, better ↑ (CI)", "served vs GBDT, better ↑ (CI)",
                 "gain vs MTL: val / test", "flag"]
# the flags: an interval entirely below zero; the shared network's, then the served model's
NEGATIVE_TRANSFER, BELOW_GBDT, BELOW_STL = "negative transfer", "below LightGBM", "below STL"


def fmt(value: float | None, digits: int = 4) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value + 0.0:.{digits}g}"  # + 0.0: no "-0" for a difference of exactly nothing


def fmt_diff(diff: dict[str, float | None] | None) -> str:
    value = (diff or {}).get("value")
    if diff is None or value is None:
        return "—"
    sign = "+" if value > 0 else ""
    out = f"{sign}{fmt(value, 3)}"
    if diff.get("ci_low") is not None and diff.get("ci_high") is not None:
        out += f" [{fmt(diff['ci_low'], 3)}, {fmt(diff['ci_high'], 3)}]"
    return out


def comparison_rows(metrics: dict[str, Any]) -> list[list[str]]:
    """One row per task: primary metric of each model, differences (positive = MTL better), flags."""
    rows = []
    for task, entry in metrics["tasks"].items():
        arrow = "↑" if entry["higher_is_better"] else "↓"
        values = [fmt((entry.get(key) or {}).get(entry["metric"])) for key, _ in MODELS if key != "served"]
        flag = ", ".join(f for f, key in ((NEGATIVE_TRANSFER, "negative_transfer"), (BELOW_GBDT, "below_gbdt"))
                         if entry.get(key))
        rows.append(
            [
                task,
                f"{entry['metric']} {arrow}",
                *values,
                fmt_diff(entry.get("diff_vs_stl")),
                fmt_diff(entry.get("diff_vs_gbdt")),
                str(entry.get("n_test", "")),
                flag,
            ]
        )
    return rows


def served_by_text(by: dict[str, Any] | None) -> str:
    """`served_by` in words: "shared (a+b)", "single-task network", "LightGBM", "blend 0.3 network + 0.7 LightGBM"."""
    if not by:
        return "—"
    kind, weight = by.get("kind"), by.get("weight")
    if kind == "blend" and weight is not None:
        return f"blend {weight:g} network + {1 - weight:.3g} LightGBM"
    if kind == "shared":
        group = by.get("group") or []
        return "shared network" + (f" ({'+'.join(group)})" if len(group) > 1 else " (alone: its single-task network)"
                                   if group else "")
    return {"single_task": "single-task network", "gbdt": "LightGBM"}.get(str(kind), str(kind))


def served_rows(metrics: dict[str, Any]) -> list[list[str]]:
    """(b) One row per task: what serves it, its primary metric, differences (positive = served better),
    the choice's gain over the shared network on validation / test (%), flags."""
    rows = []
    for task, entry in metrics["tasks"].items():
        gain = entry.get("served_gain") or {}
        flag = ", ".join(f for f, key in ((BELOW_STL, "served_below_stl"), (BELOW_GBDT, "served_below_gbdt"))
                         if entry.get(key))
        rows.append([
            task,
            served_by_text(entry.get("served_by")),
            fmt((entry.get("served") or {}).get(entry["metric"])),
            fmt_diff(entry.get("served_diff_vs_stl")),
            fmt_diff(entry.get("served_diff_vs_gbdt")),
            f"{_signed(gain.get('val'))} / {_signed(gain.get('test'))}",
            flag,
        ])
    return rows


def _signed(value: float | None) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{value:+.2f}%"


def _has_served(metrics: dict[str, Any]) -> bool:
    return any(entry.get("served") for entry in metrics["tasks"].values())


def _delta_line(metrics: dict[str, Any], prefix: str = "") -> str:
    dm = metrics.get("delta_m", {})
    ci = metrics.get("delta_m_ci", {})
    parts = []
    for key, label in ((f"{prefix}vs_stl", "vs single-task NN"), (f"{prefix}vs_gbdt", "vs LightGBM")):
        text = f"{fmt(dm.get(key))} %" if dm.get(key) is not None else "—"
        bounds = ci.get(key) or {}
        if bounds.get("ci_low") is not None and bounds.get("ci_high") is not None:
            text += f" [{fmt(bounds['ci_low'])}, {fmt(bounds['ci_high'])}]"
        parts.append(f"Δm {label}: {text}")
    return "   ".join(parts)


def _cost_rows(metrics: dict[str, Any]) -> list[list[str]]:
    cost = metrics.get("cost", {})
    labels = {"mtl": "MTL (one model)", "stl_sum": "STL (sum over tasks)", "gbdt_sum": "GBDT (sum over tasks)"}
    rows = []
    for key, label in labels.items():
        if key in cost:
            entry = cost[key] or {}
            seconds = entry.get("wall_time_s")
            params = entry.get("n_params")
            seconds_text = "—" if seconds is None else f"{seconds:.1f}"
            rows.append([label, seconds_text, "—" if params is None else f"{params:,}"])
    ratio = cost.get("mtl_over_stl_sum") or {}
    if any(v is not None for v in ratio.values()):
        rows.append(["MTL ÷ STL sum", *("—" if ratio.get(k) is None else f"{ratio[k]:.2f}×"
                                        for k in ("wall_time_s", "n_params"))])
    return rows


def format_table(metrics: dict[str, Any]) -> str:
    """The per-task comparison as plain text (a rich table without colour), then Δm and cost."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, title="MTL vs single-task baselines (test split)")
    for name in HEADER:
        table.add_column(name, justify="left" if name in ("task", "metric", "flag") else "right")
    for row in comparison_rows(metrics):
        table.add_row(*row)
    cost = Table(box=box.SIMPLE_HEAD, title="cost")
    for name in ("model", "train wall time (s)", "parameters"):
        cost.add_column(name, justify="left" if name == "model" else "right")
    for row in _cost_rows(metrics):
        cost.add_row(*row)
    buffer = io.StringIO()
    console = Console(file=buffer, width=160, color_system=None, force_terminal=False)
    console.print(table)
    console.print(_delta_line(metrics) + "   (positive = MTL better)")
    served = grouping_line(metrics.get("groups"))
    if served:
        console.print(served.replace("**", "").replace("`", ""))
    if _has_served(metrics):
        chosen = Table(box=box.SIMPLE_HEAD, title="served model: each task's choice on validation (test split)")
        for name in SERVED_HEADER:
            chosen.add_column(name, justify="left" if name in ("task", "served by", "flag") else "right")
        for row in served_rows(metrics):
            chosen.add_row(*row)
        console.print(chosen)
        console.print(_delta_line(metrics, "served_") + "   (positive = served better)")
    console.print(cost)
    return buffer.getvalue().rstrip() + "\n"


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def pair_effects(affinity: dict[str, Any], z_threshold: float = 2.0) -> list[tuple[str, str, float, str]]:
    """Each off-diagonal pair (i, j, Z_{i→j}, verdict): "helps"/"hurts" when the mean affinity lies more
    than `z_threshold` standard errors above/below zero, otherwise "neutral" (not told apart from noise)."""
    out = []
    names = affinity["tasks"]
    for i, source in enumerate(names):
        for j, target in enumerate(names):
            value, err = affinity["matrix"][i][j], affinity["stderr"][i][j]
            if i == j or value is None:
                continue
            verdict = "neutral"
            if err is not None and abs(value) > z_threshold * err:
                verdict = "helps" if value > 0 else "hurts"
            out.append((source, target, value, verdict))
    return out


def _affinity_section(affinity: dict[str, Any] | None) -> list[str]:
    if not affinity:
        return ["## Task affinity", "", "Not measured (`train.affinity_every: 0`).", ""]
    effects = pair_effects(affinity)
    rows = [[f"{i} → {j}", f"{value:+.3g}", verdict] for i, j, value, verdict in effects]
    helps = [f"`{i} → {j}`" for i, j, _, v in effects if v == "helps"]
    hurts = [f"`{i} → {j}`" for i, j, _, v in effects if v == "hurts"]
    return [
        "## Task affinity",
        "",
        "Z_{i→j} = 1 − L_j(after a look-ahead SGD step of the shared parameters on task i's loss) / L_j(before), "
        f"averaged over {affinity['measurements']} training steps (Fifty et al., NeurIPS 2021). Positive: "
        "training on i lowers j's loss. A pair helps or hurts when its mean lies more than 2 standard errors "
        "from zero.",
        "",
        markdown_table(["pair (i → j)", "affinity", "effect"], rows),
        "",
        f"Helps: {', '.join(helps) or 'none'}. Hurts: {', '.join(hurts) or 'none'}.",
        "",
    ]


def grouping_line(groups: list[list[str]] | None) -> str | None:
    """Which network served each task, in words (None for a model from before task grouping)."""
    if not groups:
        return None
    if len(groups) == 1:
        return "**Served by**: one network; every task shares its trunk."
    words = [" + ".join(f"`{t}`" for t in g) + " share a trunk" for g in groups if len(g) > 1]
    words += [f"`{g[0]}` alone (its single-task network)" for g in groups if len(g) == 1]
    return f"**Served by** (task grouping, `data/models/grouping.json`): {'; '.join(words)}."


def _grouping_lines(groups: list[list[str]] | None) -> list[str]:
    line = grouping_line(groups)
    return [line, ""] if line else []


def seed_noise_section(metrics: dict[str, Any]) -> list[str]:
    """Each task's spread over training seeds (`evaluation.seed_runs`) next to the half-width of the paired
    bootstrap interval vs the single-task model: training noise beside test-row noise."""
    noise = metrics.get("seed_noise")
    if not noise:
        return []
    rows = []
    for task, entry in noise["tasks"].items():
        diff = metrics["tasks"].get(task, {}).get("diff_vs_stl") or {}
        half = (diff["ci_high"] - diff["ci_low"]) / 2 if diff.get("ci_low") is not None and diff.get(
            "ci_high") is not None else None
        rows.append([task, entry["metric"], ", ".join(fmt(v) for v in entry["values"]), fmt(entry["spread"], 3),
                     fmt(entry["std"], 3), fmt(half, 3)])
    header = ["task", "metric", f"seeds {', '.join(map(str, noise['seeds']))}", "spread (max − min)", "std",
              "MTL vs STL interval ± (bootstrap)"]
    return [
        f"## Training-seed noise ({noise['runs']} other seeds)",
        "",
        "The same config, data and recipe trained again with other seeds, scored on the same test rows (the "
        "evaluated model's value first). The bootstrap interval measures test-row noise with the weights fixed; "
        "the spread measures what training itself varies: a change smaller than it is within training noise, "
        "and another CPU of the same kind gives results about that far apart.",
        "",
        markdown_table(header, rows),
        "",
    ]


def _served_section(metrics: dict[str, Any]) -> list[str]:
    if not _has_served(metrics):
        return []
    below = [t for t, e in metrics["tasks"].items() if e.get("served_below_gbdt")]
    return [
        "## Served model",
        "",
        "What the registered model answers with, chosen per task on the validation split (`serving` in "
        "params.yaml, docs/serving.md): by default the best blend of its network and its LightGBM unless a single "
        "model beats it by more than `serving.noise_band`. The gain is the choice's over the shared network in "
        "percent of its metric: on validation, where it was chosen, and on test (a smaller test gain is the "
        "choice's optimism).",
        "",
        markdown_table(SERVED_HEADER, served_rows(metrics)),
        "",
        _delta_line(metrics, "served_").replace("   ", "  \n"),
        "",
        "**Served below LightGBM** (interval entirely below zero): "
        + (", ".join(f"`{t}`" for t in below) if below else "none") + ".",
        "",
    ]


def summary_markdown(metrics: dict[str, Any], bootstrap: int, confidence: float) -> str:
    """reports/summary.md: the table, Δm both ways, cost, and how to read them."""
    flagged = [t for t, e in metrics["tasks"].items() if e.get("negative_transfer")]
    parts = [
        "# Evaluation: multi-task model vs single-task baselines",
        "",
        "Test split. Primary metric per task (↑ higher is better, ↓ lower is better). Differences are in the "
        "metric's units, signed so that **positive means the multi-task model is better** (for a ↓ metric: "
        "STL − MTL); brackets hold the "
        f"{confidence:.0%} paired percentile bootstrap interval ({bootstrap} resamples of test rows). The "
        "promotion gate makes the same comparison relative to the reference, in percent, on its own resamples "
        "(`promotion.bootstrap`).",
        "",
        markdown_table(HEADER, comparison_rows(metrics)),
        "",
        _delta_line(metrics).replace("   ", "  \n"),
        "",
        "Δm = 100/T · Σ_t s_t·(M_t − B_t)/|B_t| over the tasks' primary metrics "
        "(s_t = +1 when higher is better).",
        "",
        "**Negative transfer** (interval vs the single-task network entirely below zero): "
        + (", ".join(f"`{t}`" for t in flagged) if flagged else "none")
        + ". **Below LightGBM**: the interval vs LightGBM entirely below zero.",
        "",
        *_grouping_lines(metrics.get("groups")),
        *_served_section(metrics),
        "## Cost",
        "",
        markdown_table(["model", "train wall time (s)", "parameters"], _cost_rows(metrics)),
        "",
        *_affinity_section(metrics.get("affinity")),
        *seed_noise_section(metrics),
        "## All metrics",
        "",
    ]
    for task, entry in metrics["tasks"].items():
        names = list((entry.get("mtl") or {}).keys())
        rows = [[label, *(fmt((entry.get(key) or {}).get(n)) for n in names)] for key, label in MODELS]
        parts += [f"### {task}", "", markdown_table(["model", *names], rows), ""]
    parts += ["Plots: `reports/plots/` (per_task.png, training_curves.png, calibration_<task>.png, affinity.png).", ""]
    return "\n".join(parts)
