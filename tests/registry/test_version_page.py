"""The model version's page in the MLflow UI answers, alone: which version serves, why it was promoted,
and how each task compares with its single-task network and LightGBM."""

from __future__ import annotations

import json

from mtlops.registry import version_page
from mtlops.registry.lineage import reasons_from_tags
from mtlops.registry.promote import promote
from mtlops.registry.register import register
from mtlops.registry.store import connect

METRICS = {
    "tasks": {
        "delayed": {"metric": "roc_auc", "higher_is_better": True, "mtl": {"roc_auc": 0.6992},
                    "stl": {"roc_auc": 0.6901}, "gbdt": {"roc_auc": 0.7076},
                    "diff_vs_stl": {"value": 0.0091, "ci_low": 0.006, "ci_high": 0.012},
                    "diff_vs_gbdt": {"value": -0.0083, "ci_low": -0.0112, "ci_high": -0.0057},
                    "served": {"roc_auc": 0.7101, "by": "blend"}},
        "arr_delay": {"metric": "mae", "higher_is_better": False, "mtl": {"mae": 26.9}, "stl": {"mae": 27.1},
                      "gbdt": {"mae": 26.2}, "negative_transfer": True,
                      "diff_vs_stl": {"value": 0.2, "ci_low": -0.1, "ci_high": 0.5}},
    },
    "delta_m": {"vs_stl": 0.41, "vs_gbdt": -0.2},
    "delta_m_ci": {"vs_stl": {"ci_low": 0.1, "ci_high": 0.7}},
}


def test_the_table_has_every_model_per_task_and_the_served_column_fills_when_metrics_say():
    rows = {row[0]: row for row in version_page.task_rows(METRICS)}
    _, metric, shared, served, stl, gbdt, vs_stl, vs_gbdt, flag = rows["delayed"]
    assert (metric, shared, served, stl, gbdt) == ("roc_auc ↑", "0.6992", "0.7101 (blend)", "0.6901", "0.7076")
    assert vs_stl == "+0.0091 [+0.006, +0.012]" and vs_gbdt.startswith("-0.0083 [-0.0112")
    assert flag == "worse than LightGBM"  # the whole interval vs LightGBM below zero
    assert rows["arr_delay"][1] == "mae ↓" and rows["arr_delay"][3] == "—"  # no `served` yet: a dash
    assert rows["arr_delay"][-1] == "negative transfer"
    table = version_page.task_table(METRICS)
    assert "| task | metric | shared | served | single-task | LightGBM |" in table
    assert "Δm vs single-task +0.41 % [+0.10, +0.70] · vs LightGBM -0.20 %" in table
    tags = version_page.task_tags(METRICS)
    assert tags["task.delayed"].startswith("roc_auc ↑ · shared 0.6992 · served 0.7101 (blend) · single-task 0.6901")


def test_reasons_are_one_tag_each_in_order_and_older_json_still_reads():
    reasons = [f"pass: check {i}" for i in range(12)]
    tags = version_page.reason_tags(reasons)
    assert list(tags)[:2] == ["gate.reason.01", "gate.reason.02"] and len(tags) == 12
    shuffled = dict(sorted(tags.items(), reverse=True))
    assert reasons_from_tags(shuffled) == reasons
    assert reasons_from_tags({"gate.reasons": json.dumps(["FAIL: a", "pass: b"])}) == ["FAIL: a", "pass: b"]
    section = version_page.gate_section({"gate.decision": "refused", "gate.decided_at": "2026-12-01T10:00:00+00:00",
                                         "gate.champion_before": "2", **tags})
    assert "**refused** on 2026-12-01T10:00:00+00:00; champion before: v2." in section
    assert "\n- pass: check 0\n- pass: check 1\n" in section and "Champion from" not in section


def test_registration_writes_the_page_and_promotion_fills_its_gate(fresh):
    cfg, paths = fresh
    name = cfg.project.model_name
    register(cfg, paths)
    client = connect(paths)
    registered = client.get_model_version(name, "1")
    metrics = json.loads(paths.metrics.read_text())
    assert "### Per task (test split)" in registered.description
    for task, entry in metrics["tasks"].items():
        row = next(line for line in registered.description.splitlines() if line.startswith(f"| {task} |"))
        stl, gbdt = entry["stl"][entry["metric"]], entry["gbdt"][entry["metric"]]
        assert f"| {stl:.4g} | {gbdt:.4g} |" in row  # single-task and LightGBM beside the shared model
        assert registered.tags[f"task.{task}"].startswith(entry["metric"])
    assert "Not judged yet" in registered.description

    out = promote(cfg, paths)
    page = client.get_model_version(name, "1").description
    assert page.startswith(registered.description.split("### Promotion gate")[0])  # head and table kept
    assert "Not judged yet" not in page and f"**{out['decision']}** on {out['decided_at']}" in page
    assert all(f"\n- {reason}" in page for reason in out["reasons"])  # the reasons, one line each
    assert "Champion from" in page
    assert len(page) <= version_page.MAX_DESCRIPTION
