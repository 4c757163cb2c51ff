"""Lineage of a registered model, as data and as the page a person reads."""

from __future__ import annotations

from mtlops.registry.lineage import format_lineage, lineage


def test_lineage_of_the_champion(served):
    cfg, paths, registration = served
    d = lineage(f"{cfg.project.model_name}@champion", paths=paths)
    assert d["version"] == registration["version"] and d["aliases"] == ["champion"]
    assert d["run"]["id"] == registration["run_id"] and d["run"]["status"] == "FINISHED"
    assert d["lineage"]["params_hash"] == cfg.section_hash()
    assert d["validation"]["success"] == "true"
    assert set(d["metrics"]) >= {"churn.roc_auc", "segment.accuracy", "amount.mae", "churn.primary"}
    assert "vs_stl" in d["delta_m"] and d["gate"]["decision"] == "promoted"

    text = format_lineage(d)
    assert f"{cfg.project.model_name} version {registration['version']}" in text
    assert cfg.section_hash() in text and registration["run_id"] in text
    assert "promotion gate:" in text and "    - note: no champion" in text
    assert lineage(f"{cfg.project.model_name}/1", paths=paths)["version"] == "1"
