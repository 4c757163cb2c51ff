"""Model cards and rollback on a real MLflow store: the card lists every task with its four models and the
gate's reasons, the version's description points at it; rollback moves `champion` back and records why."""

from __future__ import annotations

import mlflow
from mtlops.registry.lineage import reasons_from_tags
from mtlops.registry.promote import promote
from mtlops.registry.register import register
from mtlops.registry.store import connect
from tests.registry.helpers import aliases, degrade


def _card(client, name: str, version: str) -> str:
    run_id = client.get_model_version(name, version).run_id
    return mlflow.artifacts.load_text(f"runs:/{run_id}/model_card/model_card.md")


def test_the_card_lists_every_task_with_its_four_models_and_the_gates_reasons(served):
    cfg, paths, registration = served
    client = connect(paths)
    name, version = cfg.project.model_name, registration["version"]
    card = _card(client, name, version)
    table = card.split("## Per-task metrics")[1].split("##")[0]
    for task in cfg.task_names:
        (row,) = [line for line in table.splitlines() if line.startswith(f"| {task} |")]
        cells = [c.strip() for c in row.strip("|").split("|")]
        shared, served_cell, stl, gbdt = cells[2], cells[3], cells[4], cells[5]
        assert "—" not in (shared, stl, gbdt) and not served_cell.startswith("—"), row
        assert served_cell.startswith(shared)  # one network serves every task here: served = shared
    predicts = card.split("## What it predicts")[1].split("##")[0]
    for task in cfg.tasks:  # from the config logged with the version
        assert f"| {task.name} | {task.type} | {task.column} | {task.metric} " in predicts, predicts
    assert "rows: 800 in the snapshot; train" in card
    assert "## Δm" in card and "vs single-task" in card
    gate = card.split("## Promotion gate")[-1].split("##")[0]  # the card's own section
    reasons = reasons_from_tags(client.get_model_version(name, version).tags)  # gate.reason.NN
    assert "decision: **promoted**" in gate
    rows = [line for line in gate.splitlines() if line.startswith(("| pass |", "| note |", "| FAIL |"))]
    assert len(rows) == len(reasons)
    for section in ("## What it predicts", "## Training data", "## Grouping and served-by", "## Lineage",
                    "## Known limits", "lineage.git_commit", "seed noise"):
        assert section in card
    page = mlflow.artifacts.load_text(f"runs:/{registration['run_id']}/model_card/model_card.html")
    assert "<table>" in page and "http" not in page.replace("http-equiv", "")
    description = client.get_model_version(name, version).description
    assert "Model card:" in description and "model_card/model_card.md" in description
    assert description.count("Model card:") == 1  # promote rewrote the card, not the pointer twice


def test_rollback_moves_champion_back_and_records_who_when_why(fresh):
    from mtlops.errors import UserError
    from mtlops.registry.rollback import rollback

    cfg, paths = fresh
    name = cfg.project.model_name
    register(cfg, paths)
    promote(cfg, paths)  # v1 champion
    degrade(paths.checkpoint, {"churn": 1e-4})
    register(cfg, paths)
    second = promote(cfg, paths, force=True, reason="ship v2")  # v2 champion, replacing v1
    assert aliases(connect(paths), name)["champion"] == "2" and second["promoted"]

    try:
        rollback(cfg, paths, reason="  ")
    except UserError as err:
        assert "reason" in str(err)
    else:
        raise AssertionError("a rollback without a reason must be refused")
    back = rollback(cfg, paths, reason="v2 mis-scores shop d (incident 7)")
    client = connect(paths)
    assert aliases(client, name)["champion"] == "1"
    assert back["decision"] == "forced" and back["version"] == "1" and back["champion_before"] == "2"
    assert any(r.startswith(("pass", "FAIL")) for r in back["reasons"])  # the gate's facts, shown
    v1, v2 = client.get_model_version(name, "1").tags, client.get_model_version(name, "2").tags
    assert v1["rollback.from"] == "2" and v1["rollback.reason"] == "v2 mis-scores shop d (incident 7)"
    assert v1["rollback.by"] and v1["rollback.at"] == back["decided_at"]
    assert v1["gate.forced_reason"].startswith("rollback from v2: ")
    assert v2["gate.replaced_by"] == "1" and v2["gate.champion_until"] == back["decided_at"]
    assert "rolled back to (from v2)" in _card(client, name, "1")
