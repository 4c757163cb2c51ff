"""Registration and the promotion gate against a real sqlite MLflow store in the test's folder."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import yaml

from mtlops.config import with_overrides
from mtlops.errors import UserError
from mtlops.registry.promote import promote
from mtlops.registry.register import register
from mtlops.registry.store import RegistryError, connect, find_alias


def _client(paths):
    return connect(paths)


def _aliases(paths, name):
    return {alias: str(v) for alias, v in _client(paths).get_registered_model(name).aliases.items()}


def _degrade(paths, task: str, scale: float = 5.0) -> None:
    """Overwrite the checkpoint with one whose `task` head is noise: a model worse on that task only."""
    import torch

    from mtlops.training import load_model, save_model

    model = load_model(paths.checkpoint)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.task_parameters(task):
            p.add_(scale * torch.randn(p.shape, generator=gen))
    save_model(model, paths.checkpoint)


# ------------------------------------------------------------------------------------------ register
def test_register_logs_run_and_tags_version(fresh):
    cfg, paths = fresh
    out = register(cfg, paths)
    name = cfg.project.model_name
    assert out["version"] == "1" and out["model_name"] == name and not out["reused"]
    assert json.loads(paths.registration.read_text()) == out

    client = _client(paths)
    version = client.get_model_version(name, "1")
    assert _aliases(paths, name) == {"challenger": "1"}
    tags = version.tags
    metrics = json.loads(paths.metrics.read_text())
    for task, entry in metrics["tasks"].items():
        assert float(tags[f"metric.{task}.{entry['metric']}"]) == pytest.approx(entry["mtl"][entry["metric"]])
    assert float(tags["delta_m.vs_stl"]) == pytest.approx(metrics["delta_m"]["vs_stl"])
    assert tags["lineage.params_hash"] == cfg.section_hash()
    assert tags["lineage.git_commit"].startswith("none")  # the temp project is not a git repository
    assert tags["lineage.data_hash"].startswith("sha256")
    assert len(tags["lineage.data_raw"]) == 64 and len(tags["lineage.data_processed"]) == 64
    assert tags["validation.success"] == "true"
    assert tags["search.study"].startswith("none")

    run = client.get_run(out["run_id"])
    assert run.data.params["train.lr"] == str(cfg.train.lr)
    assert run.data.params["tasks.1.metric"] == "accuracy"
    epochs = json.loads(paths.history.read_text())["history"]
    for task in cfg.task_names:
        steps = client.get_metric_history(out["run_id"], f"train_loss/{task}")
        assert [m.step for m in steps] == [row["epoch"] for row in epochs]
        assert len(client.get_metric_history(out["run_id"], f"weights/{task}")) == len(epochs)
    assert "test_stl/churn.roc_auc" in run.data.metrics and "delta_m.vs_stl" in run.data.metrics
    artifacts = {a.path for folder in ("validation", "evaluation", "training")
                 for a in client.list_artifacts(out["run_id"], folder)}
    wanted = {"validation/summary.json", "evaluation/summary.md", "evaluation/plots", "training/history.json"}
    assert wanted <= artifacts


def test_register_is_retry_safe_and_new_outputs_make_a_new_version(fresh):
    cfg, paths = fresh
    first = register(cfg, paths)
    again = register(cfg, paths)
    assert again["version"] == first["version"] and again["run_id"] == first["run_id"] and again["reused"]
    name = cfg.project.model_name
    assert len(_client(paths).search_model_versions(f"name = '{name}'")) == 1

    _degrade(paths, "amount")
    second = register(cfg, paths)
    assert second["version"] == "2" and not second["reused"]
    assert _aliases(paths, name) == {"challenger": "2"}


def test_dvc_lock_hashes_are_used_when_present(fresh):
    from mtlops.registry.lineage import data_hashes

    cfg, paths = fresh
    lock = {
        "schema": "2.0",
        "stages": {
            "ingest": {"cmd": "mtlops ingest", "outs": [{"path": "data/raw", "hash": "md5", "md5": "aaa.dir"}]},
            "prepare": {"cmd": "mtlops prepare", "outs": [{"path": "data/processed", "hash": "md5", "md5": "bbb.dir"}]},
        },
    }
    (paths.root / "dvc.lock").write_text(yaml.safe_dump(lock))
    assert data_hashes(paths) == {"data_raw": "aaa.dir", "data_processed": "bbb.dir", "data_hash": "dvc md5 (dvc.lock)"}


# ------------------------------------------------------------------------------------------- promote
def test_first_passing_model_becomes_champion(fresh):
    cfg, paths = fresh
    register(cfg, paths)
    out = promote(cfg, paths)
    name = cfg.project.model_name
    assert out["promoted"] and out["decision"] == "promoted" and out["champion"] == "1"
    assert any("no champion" in r for r in out["reasons"])
    assert _aliases(paths, name) == {"champion": "1"}  # a promoted challenger is no longer one
    tags = _client(paths).get_model_version(name, "1").tags
    assert tags["gate.decision"] == "promoted" and json.loads(tags["gate.reasons"]) == out["reasons"]
    assert json.loads(paths.promotion.read_text())["decision"] == "promoted"
    # metrics re-scored through the registered model equal those evaluate computed in-process
    metrics = json.loads(paths.metrics.read_text())
    for task, entry in metrics["tasks"].items():
        assert out["metrics"]["candidate"][task] == pytest.approx(entry["mtl"][entry["metric"]], rel=1e-4)
    assert out["delta_m_vs_stl"] == pytest.approx(metrics["delta_m"]["vs_stl"], rel=1e-3, abs=1e-3)


def test_worse_on_one_task_is_refused_then_forced_then_rolled_back(fresh):
    cfg, paths = fresh
    cfg = with_overrides(cfg, {"promotion": {"delta_m_floor": -1e9}})  # only the per-task check is under test
    name = cfg.project.model_name
    register(cfg, paths)
    promote(cfg, paths)
    _degrade(paths, "amount")
    register(cfg, paths)

    refused = promote(cfg, paths)
    assert not refused["promoted"] and refused["decision"] == "refused"
    failures = [r for r in refused["reasons"] if r.startswith("FAIL")]
    assert len(failures) == 1 and "'amount'" in failures[0] and "worse beyond tolerance" in failures[0]
    # the unchanged heads score exactly as the champion's did
    for task in ("churn", "segment"):
        assert refused["metrics"]["candidate"][task] == pytest.approx(refused["metrics"]["champion"][task])
    assert _aliases(paths, name) == {"champion": "1", "challenger": "2"}
    assert _client(paths).get_model_version(name, "2").tags["gate.decision"] == "refused"

    with pytest.raises(UserError, match="reason"):
        promote(cfg, paths, force=True)
    forced = promote(cfg, paths, force=True, reason="incident 42: the old model mis-scores shop d")
    assert forced["promoted"] and forced["decision"] == "forced" and not forced["gate_passed"]
    assert _aliases(paths, name) == {"champion": "2"}
    tags = _client(paths).get_model_version(name, "2").tags
    assert tags["gate.forced_reason"] == "incident 42: the old model mis-scores shop d"
    assert any("incident 42" in r for r in json.loads(tags["gate.reasons"]))
    assert _client(paths).get_model_version(name, "1").tags["gate.replaced_by"] == "2"

    rollback = promote(cfg, paths, version=1)  # same checks: v1 beats the degraded champion on amount
    assert rollback["promoted"] and rollback["decision"] == "promoted", rollback["reasons"]
    assert _aliases(paths, name) == {"champion": "1"}
    assert promote(cfg, paths, version=1)["decision"] == "unchanged"


def test_delta_m_floor_and_failed_validation_refuse(fresh):
    cfg, paths = fresh
    name = cfg.project.model_name
    summary = json.loads(paths.validation_summary.read_text())
    paths.validation_summary.write_text(json.dumps({**summary, "success": False}))
    register(cfg, paths)
    assert _client(paths).get_model_version(name, "1").tags["validation.success"] == "false"

    out = promote(cfg, paths)
    assert not out["promoted"] and any("data validation failed" in r for r in out["reasons"] if r.startswith("FAIL"))
    assert _aliases(paths, name) == {"challenger": "1"}

    relaxed = with_overrides(cfg, {"promotion": {"require_validation": False, "delta_m_floor": 1000.0}})
    out = promote(relaxed, paths)
    failures = [r for r in out["reasons"] if r.startswith("FAIL")]
    assert not out["promoted"] and len(failures) == 1 and "< floor +1000.00%" in failures[0]
    assert _aliases(paths, name) == {"challenger": "1"}


def test_missing_or_broken_challenger_is_an_error_and_aliases_stay(fresh):
    cfg, paths = fresh
    name = cfg.project.model_name
    with pytest.raises(RegistryError, match="no MLflow store|no such registered model"):
        promote(cfg, paths)
    register(cfg, paths)
    promote(cfg, paths)
    with pytest.raises(RegistryError, match="alias 'challenger'"):
        promote(cfg, paths)
    with pytest.raises(RegistryError, match="version 7"):
        promote(cfg, paths, version=7)
    assert _aliases(paths, name) == {"champion": "1"}

    _degrade(paths, "churn", scale=0.1)
    register(cfg, paths)
    client = _client(paths)
    source = client.get_model_version(name, "2").source
    model = client.get_logged_model(source.removeprefix("models:/"))
    shutil.rmtree(model.artifact_location.removeprefix("file://"))
    with pytest.raises(RegistryError, match="v2 cannot be loaded"):
        promote(cfg, paths)
    with pytest.raises(RegistryError, match="v2 cannot be loaded"):
        promote(cfg, paths, force=True, reason="even forced, a broken model must not serve")
    assert _aliases(paths, name) == {"champion": "1", "challenger": "2"}
    assert str(find_alias(client, name, "champion").version) == "1"
    assert np.isfinite(float(client.get_model_version(name, "1").tags["gate.delta_m_vs_stl"]))
