"""A model card per registered version: one short page (Markdown and HTML) a reviewer reads in the MLflow UI.

Built from the registry alone — the version's run artifacts (`config/params.yaml`, `evaluation/metrics.json`,
`training/history.json`, `data/snapshot.json`, `data/meta.json`) and its tags (`gate.*`, `lineage.*`,
`validation.*`, `search.*`, `monitor.*`, `rollback.*`) — so any version's card can be rebuilt at any time.
Sections: what it predicts; the training data (window, rows); per task the primary metric of the shared
model, the served model (metrics.json's `served` when present, else the network that serves the task:
the shared one, or its single-task network when the grouping serves it alone), the single-task network
and LightGBM, with the paired intervals; Δm with intervals; the gate's decision as a table of reasons;
grouping and served-by; lineage; known limits.

`log_card(client, version)` writes `model_card/model_card.md` and `.html` into the version's run and ends
the version's description with a pointer to them; register calls it, promote (and so rollback) calls it
again so the card shows the gate's latest decision. Failing to write a card warns and tags
`model_card.error`: documentation never blocks a model.
"""

from __future__ import annotations

import html
import logging
import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion

    from mlflow import MlflowClient

log = logging.getLogger(__name__)

CARD_DIR = "model_card"
CARD_LINE = "Model card:"
Block = tuple  # ("h1" | "h2" | "p", text) | ("ul", [items]) | ("table", header, rows)


def _num(x: Any, digits: int = 4) -> str:
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
        return "—"
    return f"{x:.{digits}g}"


def _diff(d: dict | None) -> str:
    if not d or d.get("value") is None:
        return "—"
    text = f"{d['value']:+.3g}"
    if d.get("ci_low") is not None and d.get("ci_high") is not None:
        text += f" [{d['ci_low']:+.3g}, {d['ci_high']:+.3g}]"
    return text


def served_metric(task: str, entry: dict[str, Any], groups: list[list[str]]) -> tuple[Any, str]:
    """The served model's primary metric for a task, and which model that is."""
    metric = entry.get("metric")
    if entry.get("served"):
        return entry["served"].get(metric), "served"
    alone = len(groups) > 1 and [task] in groups
    if alone:
        return (entry.get("stl") or {}).get(metric), "= single-task (served alone)"
    return (entry.get("mtl") or {}).get(metric), "= shared"


def card_blocks(version: ModelVersion, aliases: list[str], config: dict | None, metrics: dict | None,
                history: dict | None, snapshot: dict | None, meta: dict | None) -> list[Block]:
    """The card's content, format-free (rendered as Markdown and as HTML)."""
    tags = dict(version.tags)
    name, number = version.name, str(version.version)
    blocks: list[Block] = [("h1", f"Model card: {name} v{number}"),
                           ("p", f"Aliases: {', '.join(aliases) or 'none'} · registered run {version.run_id} · "
                                 f"{version.description.split(CARD_LINE)[0].strip() if version.description else ''}")]

    tasks_cfg = (config or {}).get("tasks") or []
    rows = []
    for t in tasks_cfg:
        entry = ((metrics or {}).get("tasks") or {}).get(t["name"], {})
        arrow = "↑" if entry.get("higher_is_better", True) else "↓"
        column = ", ".join(t["column"]) if isinstance(t["column"], list) else t["column"]
        rows.append([t["name"], t["type"], column, f"{t.get('metric')} {arrow}", f"pred_{t['name']}…",
                     f"{100 * float(t.get('tolerance', 0)):g}%"])
    blocks += [("h2", "What it predicts"),
               ("table", ["task", "type", "label column", "metric", "output columns", "tolerance vs champion"], rows)]

    data = (config or {}).get("data") or {}
    dates = (snapshot or {}).get("date_range") or {}
    window = f"{dates.get('min')} .. {dates.get('max')} ({dates.get('column')})" if dates else "no date column"
    split_rows = (meta or {}).get("rows") or {}
    features = (config or {}).get("features") or {}
    blocks += [("h2", "Training data"), ("ul", [
        f"source: {(snapshot or {}).get('origin') or data.get('source', 'not recorded')}",
        f"window: {window}; cut-off (last day of data): {dates.get('max', 'n/a')}",
        f"rows: {(snapshot or {}).get('rows', 'not recorded')} in the snapshot; "
        + (", ".join(f"{k} {v}" for k, v in split_rows.items()) or "splits not recorded"),
        f"features: {len(features.get('numeric') or [])} numeric, {len(features.get('categorical') or [])} categorical"
        + (f", text {features['text']}" if features.get("text") else "")
        + (f", image {features['image']}" if features.get("image") else ""),
    ])]

    entries = (metrics or {}).get("tasks") or {}
    groups = (metrics or {}).get("groups") or [g["tasks"] for g in (history or {}).get("groups", [])] or []
    rows = []
    for task, entry in entries.items():
        metric = entry.get("metric")
        served, which = served_metric(task, entry, groups)
        rows.append([task, f"{metric} {'↑' if entry.get('higher_is_better') else '↓'}",
                     _num((entry.get("mtl") or {}).get(metric)), f"{_num(served)} ({which})",
                     _num((entry.get("stl") or {}).get(metric)), _num((entry.get("gbdt") or {}).get(metric)),
                     _diff(entry.get("diff_vs_stl")), _diff(entry.get("diff_vs_gbdt")),
                     " + ".join(entry.get("served_by") or []) or "—", str(entry.get("n_test", "—"))])
    blocks += [("h2", "Per-task metrics (test split, at registration)"),
               ("p", "Primary metric of each model; differences are signed so that positive means the shared model "
                     "is better, with their paired bootstrap interval."),
               ("table", ["task", "metric", "shared (MTL)", "served", "single-task net", "LightGBM",
                          "shared vs single-task", "shared vs LightGBM", "served by", "test rows"], rows)]
    dm, ci = (metrics or {}).get("delta_m") or {}, (metrics or {}).get("delta_m_ci") or {}
    blocks += [("h2", "Δm (%, over tasks)"), ("ul", [
        f"vs {label}: {_num(dm.get(key), 3)} [{_num((ci.get(key) or {}).get('ci_low'), 3)}, "
        f"{_num((ci.get(key) or {}).get('ci_high'), 3)}]" for key, label in (("vs_stl", "single-task"),
                                                                              ("vs_gbdt", "LightGBM"))])]

    decision = tags.get("gate.decision")
    blocks.append(("h2", "Promotion gate"))
    if decision:
        from mtlops.registry.lineage import reasons_from_tags

        reasons = reasons_from_tags(tags)  # gate.reason.NN, or an older version's JSON list
        head = (f"decision: **{decision}** at {tags.get('gate.decided_at')} "
                f"(champion before: v{tags.get('gate.champion_before')})")
        if tags.get("gate.forced_by"):
            head += f"; forced by {tags['gate.forced_by']}: {tags.get('gate.forced_reason')}"
        table = [[r.split(":", 1)[0], r.split(":", 1)[1].strip() if ":" in r else r] for r in reasons]
        blocks += [("p", head), ("table", ["outcome", "reason"], table)]
    else:
        blocks.append(("p", "not judged yet (the promote stage records its decision here)"))
    tenure = [f"{k.removeprefix('gate.')}: {tags[k]}" for k in ("gate.champion_from", "gate.champion_until",
                                                                "gate.replaced_by") if k in tags]
    tenure += [f"rolled back to (from v{tags['rollback.from']}) by {tags.get('rollback.by')} at "
               f"{tags.get('rollback.at')}: {tags.get('rollback.reason')}"] if "rollback.from" in tags else []
    if tenure:
        blocks.append(("ul", tenure))

    blocks.append(("h2", "Grouping and served-by"))
    if len(groups) > 1:
        blocks.append(("ul", [" + ".join(g) + (" share a trunk" if len(g) > 1 else " alone (its single-task network)")
                              for g in groups]))
    else:
        blocks.append(("p", "one network; every task shares its trunk"))

    lineage = {k: v for k, v in sorted(tags.items()) if k.startswith(("lineage.", "validation.", "search."))
               and k != "search.best_params"}
    blocks += [("h2", "Lineage"), ("table", ["fact", "value"], [[k, v] for k, v in lineage.items()])]

    limits = []
    flagged = [t for t, e in entries.items() if e.get("negative_transfer")]
    if flagged:
        limits.append(f"negative transfer (shared model significantly below the single-task network): {flagged}")
    behind = [t for t, e in entries.items() if ((e.get("diff_vs_gbdt") or {}).get("ci_high") or 0) < 0]
    if behind:
        limits.append(f"LightGBM is significantly better on: {behind}")
    allowed = ((config or {}).get("promotion") or {}).get("allow_tradeoff") or []
    if allowed:
        limits.append(f"tasks allowed to trade off below their single-task model: {allowed}")
    small = [t for t, e in entries.items() if isinstance(e.get("n_test"), int) and e["n_test"] < 1000]
    if small:
        limits.append(f"fewer than 1000 labelled test rows (wide intervals): {small}")
    if tags.get("monitor.verdict"):
        limits.append(f"last monitor verdict: {tags['monitor.verdict']} at {tags.get('monitor.at')} on "
                      f"{tags.get('monitor.window')} (MLflow run {tags.get('monitor.run_id')})")
    limits.append("seed noise: the same commit and seed on another CPU gives metrics that differ in the third decimal")
    limits.append("metrics come from one test window; the gate re-measures on the current one before promotion")
    blocks += [("h2", "Known limits"), ("ul", limits)]
    return blocks


def to_markdown(blocks: list[Block]) -> str:
    out = []
    for block in blocks:
        kind = block[0]
        if kind in ("h1", "h2"):
            out += [("# " if kind == "h1" else "## ") + block[1], ""]
        elif kind == "p":
            out += [block[1], ""]
        elif kind == "ul":
            out += [f"- {item}" for item in block[1]] + [""]
        elif kind == "table":
            header, rows = block[1], block[2]
            cell = lambda x: str(x).replace("|", "/").replace("\n", " ")  # noqa: E731
            out += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
            out += ["| " + " | ".join(cell(x) for x in row) + " |" for row in rows] + [""]
    return "\n".join(out)


def to_html(blocks: list[Block], title: str) -> str:
    e = html.escape
    parts = ["<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>", f"<title>{e(title)}</title>",
             "<style>body{font-family:system-ui,Helvetica,Arial,sans-serif;max-width:1100px;margin:2em auto;color:#222}"
             "table{border-collapse:collapse;margin:.5em 0 1.2em}th,td{border:1px solid #ccc;padding:.2em .5em;"
             "text-align:left}th{background:#f3f3f3}</style></head><body>"]
    for block in blocks:
        kind = block[0]
        if kind in ("h1", "h2", "p"):
            text = e(block[1]).replace("**", "")
            parts.append(f"<{kind}>{text}</{kind}>")
        elif kind == "ul":
            parts.append("<ul>" + "".join(f"<li>{e(str(i))}</li>" for i in block[1]) + "</ul>")
        elif kind == "table":
            head = "".join(f"<th>{e(str(h))}</th>" for h in block[1])
            body = "".join("<tr>" + "".join(f"<td>{e(str(x))}</td>" for x in row) + "</tr>" for row in block[2])
            parts.append(f"<table><tr>{head}</tr>{body}</table>")
    return "\n".join([*parts, "</body></html>"])


def build_card(client: MlflowClient, version: ModelVersion) -> tuple[str, str]:
    """(Markdown, HTML) of the version's card, from the registry alone (a missing report: "not recorded")."""
    from mtlops.registry.store import run_artifact

    run_id = version.run_id
    model = client.get_registered_model(version.name)
    aliases = sorted(a for a, v in model.aliases.items() if str(v) == str(version.version))
    blocks = card_blocks(version, aliases, run_artifact(run_id, "config/params.yaml"),
                         run_artifact(run_id, "evaluation/metrics.json"), run_artifact(run_id, "training/history.json"),
                         run_artifact(run_id, "data/snapshot.json"), run_artifact(run_id, "data/meta.json"))
    return to_markdown(blocks), to_html(blocks, f"Model card: {version.name} v{version.version}")


def log_card(client: MlflowClient, version: ModelVersion) -> str | None:
    """Write the card into the version's run and point the description at it; the artifact path, or None."""
    try:
        if not version.run_id:
            raise ValueError("the version has no run to hold its card")
        markdown, page = build_card(client, version)
        client.log_text(version.run_id, markdown, f"{CARD_DIR}/model_card.md")
        client.log_text(version.run_id, page, f"{CARD_DIR}/model_card.html")
        current = client.get_model_version(version.name, version.version).description or ""
        kept = current.split(f"\n\n{CARD_LINE}")[0].split(CARD_LINE)[0].rstrip()
        pointer = (f"{CARD_LINE} run {version.run_id}, artifacts `{CARD_DIR}/model_card.md` and "
                   f"`{CARD_DIR}/model_card.html` (what it predicts, per-task metrics of the four models, the gate's "
                   "reasons, lineage, known limits)")
        client.update_model_version(version.name, version.version, description=f"{kept}\n\n{pointer}".strip())
        return f"{CARD_DIR}/model_card.md"
    except Exception as err:  # documentation never blocks a model: say so on the version and in the log
        log.warning("model card for %s v%s not written: %s", version.name, version.version, err)
        client.set_model_version_tag(version.name, version.version, "model_card.error", str(err)[:500])
        return None
