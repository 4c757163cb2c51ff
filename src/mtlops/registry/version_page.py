"""The model version's page in the MLflow UI: a description and tags that answer, with nothing else open,
which version serves, why it was promoted, and how each task compares with its single-task network and
LightGBM.

The description is Markdown (MLflow renders it, tables included) in sections, each made by one function
here, so a later addition (a model card's link, a monitoring line) extends one place:

- `head`: what the version is (architecture, weighting, task groups);
- `task_table`: per task the shared network, the served model (metrics.json's `tasks[t]["served"]`, when
  there is one), the single-task network and LightGBM, the differences with their intervals, then Δm;
- `gate_section`: the last gate decision, its reasons one per line, and the version's time as champion.

Registration writes the page with the gate "not judged yet"; promotion re-renders the gate section from
the version's own `gate.*` tags (`refresh_gate`), for the version judged and for the champion it replaces.
Tags carry the same facts for the tag table and for scripts: `task.<task>` (the task's row as one line)
and `gate.reason.01`, `gate.reason.02`, … (one reason each, in order; `reasons_from_tags` reads them back,
and the JSON list `gate.reasons` older versions hold).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from mtlops.registry.lineage import GATE, REASON, reasons_from_tags

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion

    from mlflow import MlflowClient

TASK = "task."  # tag prefix: one readable line per task
GATE_HEADING = "### Promotion gate"
MAX_DESCRIPTION = 5000  # MLflow's model-version description column
TABLE_HEADER = ["task", "metric", "shared", "served", "single-task", "LightGBM",
                "shared vs single-task (95% CI)", "shared vs LightGBM (95% CI)", "flag"]  # fmt: skip
DELTA_LABELS = {"vs_stl": "vs single-task", "vs_gbdt": "vs LightGBM"}


def _number(value: Any, digits: int = 4) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return "—"
    return f"{value:.{digits}g}"


def _diff(diff: dict[str, Any] | None) -> str:
    """`+0.0091 [+0.0062, +0.012]`: the difference, positive = the shared network better."""
    if not diff or not isinstance(diff.get("value"), (int, float)):
        return "—"

    def signed(v: Any) -> str:
        text = _number(v, 3)
        return f"+{text}" if isinstance(v, (int, float)) and v > 0 else text

    out = signed(diff["value"])
    if isinstance(diff.get("ci_low"), (int, float)) and isinstance(diff.get("ci_high"), (int, float)):
        out += f" [{signed(diff['ci_low'])}, {signed(diff['ci_high'])}]"
    return out


def served_value(entry: dict[str, Any]) -> str:
    """The served model's primary metric, when metrics.json says which model serves the task (`served`:
    its metrics, or a number), followed by what serves it when named (`by`/`model`)."""
    served = entry.get("served")
    if isinstance(served, (int, float)) and not isinstance(served, bool):
        return _number(served)
    if not isinstance(served, dict):
        return "—"
    value = _number(served.get(entry.get("metric")))
    by = served.get("by") or served.get("model")
    return f"{value} ({by})" if by and value != "—" else value


def task_rows(metrics: dict[str, Any]) -> list[list[str]]:
    """One row per task in TABLE_HEADER's order (differences: positive = the shared network better)."""
    rows = []
    for task, entry in (metrics.get("tasks") or {}).items():
        metric = entry.get("metric")
        arrow = "↑" if entry.get("higher_is_better") else "↓"
        gbdt_high = (entry.get("diff_vs_gbdt") or {}).get("ci_high")
        worse_than_gbdt = isinstance(gbdt_high, (int, float)) and gbdt_high < 0  # the whole interval below 0
        flags = [f for f, on in (("negative transfer", entry.get("negative_transfer")),
                                 ("worse than LightGBM", worse_than_gbdt)) if on]  # fmt: skip
        rows.append([
            task, f"{metric} {arrow}",
            _number((entry.get("mtl") or {}).get(metric)), served_value(entry),
            _number((entry.get("stl") or {}).get(metric)), _number((entry.get("gbdt") or {}).get(metric)),
            _diff(entry.get("diff_vs_stl")), _diff(entry.get("diff_vs_gbdt")), ", ".join(flags),
        ])  # fmt: skip
    return rows


def delta_m_line(metrics: dict[str, Any]) -> str:
    """`Δm vs single-task +0.41 % [..] · vs LightGBM −0.20 % [..]`, every Δm metrics.json holds."""
    dm, ci = metrics.get("delta_m") or {}, metrics.get("delta_m_ci") or {}
    parts = []
    for key, value in dm.items():
        text = f"{DELTA_LABELS.get(key, key.replace('_', ' '))} {_signed_pct(value)}"
        bounds = ci.get(key) or {}
        if isinstance(bounds.get("ci_low"), (int, float)) and isinstance(bounds.get("ci_high"), (int, float)):
            text += f" [{_signed_pct(bounds['ci_low'], False)}, {_signed_pct(bounds['ci_high'], False)}]"
        parts.append(text)
    return ("Δm " + " · ".join(parts) + " (positive = the shared network better)") if parts else ""


def _signed_pct(value: Any, unit: bool = True) -> str:
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        return "—"
    return f"{value:+.2f}" + (" %" if unit else "")


def task_table(metrics: dict[str, Any]) -> str:
    """The per-task comparison on the test split, as a Markdown table, then the Δm line."""
    from mtlops.evaluation.report import markdown_table

    lines = ["### Per task (test split)", "", markdown_table(TABLE_HEADER, task_rows(metrics))]
    dm = delta_m_line(metrics)
    if dm:
        lines += ["", dm]
    return "\n".join(lines)


def task_tags(metrics: dict[str, Any]) -> dict[str, str]:
    """`task.<task>`: the task's row as one line, for the version's tag table."""
    out = {}
    for row in task_rows(metrics):
        task, metric, shared, served, stl, gbdt, vs_stl, vs_gbdt, flag = row
        line = (f"{metric} · shared {shared} · served {served} · single-task {stl} · LightGBM {gbdt} · "
                f"shared vs single-task {vs_stl} · shared vs LightGBM {vs_gbdt}")
        out[f"{TASK}{task}"] = line + (f" · {flag}" if flag else "")
    return out


def head(project: str, architecture: str, weighting: str, groups: list[list[str]]) -> str:
    """What the version is, in one line."""
    grouped = (f"; task groups {' | '.join(' + '.join(g) for g in groups)}" if len(groups) > 1
               else "; one shared trunk for every task")
    return f"**{project}**: {architecture} architecture, {weighting} weighting{grouped}."


def describe(head_line: str, metrics: dict[str, Any], gate: str | None = None) -> str:
    """The whole description: head, per-task table, gate section (not judged yet by default)."""
    gate = gate or gate_section({})
    return _fit("\n\n".join([head_line, task_table(metrics), gate]))


# ----------------------------------------------------------------------------------------------- the gate
def reason_tags(reasons: list[str]) -> dict[str, str]:
    """`gate.reason.01` … one reason each, numbered so that the tag table lists them in order."""
    return {f"{REASON}{i:02d}": str(r) for i, r in enumerate(reasons, start=1)}


def gate_section(tags: dict[str, str]) -> str:
    """The last gate decision from the version's `gate.*` tags: verdict, when, reasons one per line, tenure."""
    g = {k.removeprefix(GATE): v for k, v in tags.items() if k.startswith(GATE)}
    lines = [GATE_HEADING, ""]
    if not g.get("decision"):
        return "\n".join([*lines, "Not judged yet: `mtlops promote` runs the gate (the pipeline's last stage)."])
    before = g.get("champion_before")
    lines.append(f"**{g['decision']}** on {g.get('decided_at', '?')}; champion before: "
                 f"{'v' + before if before and before != 'None' else 'none'}.")
    if g.get("champion_from"):
        tenure = f"Champion from {g['champion_from']}"
        if g.get("champion_until"):
            tenure += f" until {g['champion_until']}, replaced by v{g.get('replaced_by', '?')}"
        else:
            tenure += " (serving while the `champion` alias is on this version)"
        lines += ["", tenure + "."]
    if g.get("forced_reason"):
        lines += ["", f"Override by {g.get('forced_by', '?')}: {g['forced_reason']}"]
    lines += ["", "Reasons:", ""]
    lines += [f"- {r}" for r in reasons_from_tags(tags)] or ["- (none recorded)"]
    return "\n".join(lines)


def _fit(text: str) -> str:
    return text if len(text) <= MAX_DESCRIPTION else text[: MAX_DESCRIPTION - 40] + "\n\n… (cut: see the tags)"


# ---------------------------------------------------------------------------------------------- writing
def write(client: MlflowClient, version: ModelVersion, head_line: str, metrics: dict[str, Any]) -> None:
    """At registration: the description (gate as the version's tags say) and the `task.*` tags."""
    for key, value in task_tags(metrics).items():
        client.set_model_version_tag(version.name, version.version, key, value)
    client.update_model_version(version.name, version.version,
                                description=describe(head_line, metrics, gate_section(version.tags or {})))


def record_reasons(client: MlflowClient, version: ModelVersion, reasons: list[str]) -> None:
    """The decision's reasons as `gate.reason.NN` tags; an earlier decision's extra lines (and the old JSON
    tag) go, so the tags hold exactly this decision's reasons."""
    fresh = reason_tags(reasons)
    for key in version.tags or {}:
        if (key.startswith(REASON) and key not in fresh) or key == f"{GATE}reasons":
            client.delete_model_version_tag(version.name, version.version, key)
    for key, value in fresh.items():
        client.set_model_version_tag(version.name, version.version, key, value)


def refresh_gate(client: MlflowClient, name: str, version: str) -> None:
    """Re-render the description's gate section from the version's current tags (after a decision or a
    change of champion); the rest of the description is kept."""
    current = client.get_model_version(name, version)
    text = current.description or ""
    kept = text.split(GATE_HEADING, 1)[0].rstrip()
    gate = gate_section(current.tags or {})
    client.update_model_version(name, version, description=_fit(f"{kept}\n\n{gate}" if kept else gate))
