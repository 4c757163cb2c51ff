"""Registration and the promotion gate against a real sqlite MLflow store in the test's folder.

Models are the trained project's real checkpoint, changed on purpose (`tests.registry.helpers`), and
registered as real pyfunc versions; the gate re-scores them on the project's current test rows.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import yaml

from mtlops.config import with_overrides
from mtlops.errors import UserError
from mtlops.registry.lineage import reasons_from_tags
from mtlops.registry.promote import promote
from mtlops.registry.register import register
from mtlops.registry.store import RegistryError, connect
from tests.registry.helpers import aliases, degrade, single_task_is_the_mtl_model


def _aliases(paths, name):
    return aliases(connect(paths), name)


def _tags(paths, name, version):
    return connect(paths).get_model_version(name, str(version)).tags


def _register_variant(cfg, paths, original: bytes, scales: dict[str, float], seed: int = 0) -> str:
    """Register the trained checkpoint with the named heads degraded; returns the version."""
    paths.checkpoint.write_bytes(original)
    degrade(paths.checkpoint, scales, seed)
    return register(cfg, paths)["version"]


def _failures(result) -> list[str]:
    return [r for r in result["reasons"] if r.startswith("FAIL")]


# ------------------------------------------------------------------------------------------ register
def test_register_logs_run_and_tags_version(fresh):
    cfg, paths = fresh
    out = register(cfg, paths)
    name = cfg.project.model_name
    assert out["version"] == "1" and out["model_name"] == name and not out["reused"]
    assert json.loads(paths.registration.read_text()) == out

    client = connect(paths)
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
    assert len(connect(paths).search_model_versions(f"name = '{name}'")) == 1

    degrade(paths.checkpoint, {"amount": 5.0})
    second = register(cfg, paths)
    assert second["version"] == "2" and not second["reused"]
    assert _aliases(paths, name) == {"challenger": "2"}


def test_dvc_lock_hashes_are_used_when_present(fresh):
    from mtlops.registry.lineage import data_hashes

    _, paths = fresh
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
def test_first_passing_model_becomes_champion_scored_on_the_current_rows(fresh):
    cfg, paths = fresh
    register(cfg, paths)
    out = promote(cfg, paths)
    name = cfg.project.model_name
    assert out["promoted"] and out["decision"] == "promoted" and out["champion"] == "1"
    assert any(r.startswith("note: no champion") for r in out["reasons"])
    assert _aliases(paths, name) == {"champion": "1"}  # nothing has lost: no challenger
    tags = _tags(paths, name, 1)
    assert tags["gate.decision"] == "promoted" and reasons_from_tags(tags) == out["reasons"]
    assert tags["gate.reason.01"] == out["reasons"][0] and "gate.reasons" not in tags  # one line per tag
    assert tags["gate.champion_from"] == out["decided_at"]
    assert json.loads(paths.promotion.read_text())["decision"] == "promoted"
    # the registered model and the single-task models, re-scored now, equal what evaluate computed
    metrics = json.loads(paths.metrics.read_text())
    for task, entry in metrics["tasks"].items():
        assert out["metrics"]["candidate"][task] == pytest.approx(entry["mtl"][entry["metric"]], rel=1e-4)
        assert out["metrics"]["single_task"][task] == pytest.approx(entry["stl"][entry["metric"]], rel=1e-4)
    assert out["delta_m_vs_stl"] == pytest.approx(metrics["delta_m"]["vs_stl"], rel=1e-3, abs=1e-3)


def test_a_challenger_that_wins_on_delta_m_but_loses_one_task_is_refused_naming_it(fresh):
    cfg, paths = fresh
    name, original = cfg.project.model_name, paths.checkpoint.read_bytes()
    _register_variant(cfg, paths, original, {"churn": 2.0, "segment": 2.0})  # v1: poor on two tasks
    assert promote(cfg, paths)["promoted"]
    _register_variant(cfg, paths, original, {"amount": 0.05})  # v2: better on those two, worse on amount

    refused = promote(cfg, paths)
    assert refused["decision"] == "refused" and not refused["promoted"] and not refused["missing_evidence"]
    assert refused["delta_m_vs_stl"] > float(_tags(paths, name, 1)["gate.delta_m_vs_stl"])  # wins on Δm
    assert any(r.startswith("pass: Δm") for r in refused["reasons"])
    (failure,) = _failures(refused)
    assert "task 'amount'" in failure and "vs champion v1" in failure and "with 95% confidence" in failure
    interval = refused["comparisons"]["champion"]["amount"]
    assert interval["change_ci_high"] < -cfg.task("amount").tolerance
    assert f"[{100 * interval['change_ci_low']:+.2f}%, {100 * interval['change_ci_high']:+.2f}%]" in failure
    for task in ("churn", "segment"):
        assert refused["comparisons"]["champion"][task]["change_value"] > 0
    assert _aliases(paths, name) == {"champion": "1", "challenger": "2"}


def _few_accuracy_flips(paths, task: str, scale: float) -> int:
    """A seed whose `scale` noise on `task`'s head makes one or two more test rows wrong than right,
    touching at most 4 rows: a little worse at the point estimate, and a resample leaves out every
    changed row or draws the gains often enough (≥ 10%) for the interval to reach zero."""
    from mtlops.data.prepare import load_split
    from mtlops.training import load_model, predict

    test = load_split(paths, "test")
    mask, y = test[f"mask_{task}"], test[f"y_{task}"][test[f"mask_{task}"]]
    right = predict(load_model(paths.checkpoint), test)[task][mask].argmax(1) == y
    probe = paths.root / "probe.pt"
    for seed in range(30):
        shutil.copy(paths.checkpoint, probe)
        degrade(probe, {task: scale}, seed)
        now = predict(load_model(probe), test)[task][mask].argmax(1) == y
        lost, gained = int((right & ~now).sum()), int((~right & now).sum())
        if 1 <= lost - gained <= 2 and lost + gained <= 4:
            return seed
    pytest.fail("no seed gives a challenger within noise of the champion")


def test_a_challenger_within_noise_of_the_champion_is_not_refused_by_chance(fresh):
    cfg, paths = fresh
    # no tolerance at all for segment: at the point estimate, any loss would refuse
    cfg = with_overrides(cfg, {"tasks": [{**t.model_dump(), "tolerance": 0.0} for t in cfg.tasks]})
    name, original = cfg.project.model_name, paths.checkpoint.read_bytes()
    register(cfg, paths)
    promote(cfg, paths)
    seed = _few_accuracy_flips(paths, "segment", 0.01)
    _register_variant(cfg, paths, original, {"segment": 0.01}, seed)

    out = promote(cfg, paths)
    segment = out["comparisons"]["champion"]["segment"]
    assert segment["change_value"] < 0 <= segment["change_ci_high"]  # worse by a row or three: noise
    assert out["decision"] == "promoted", out["reasons"]
    (reason,) = [r for r in out["reasons"] if "'segment'" in r and "champion" in r]
    assert reason.startswith("pass") and "at the point estimate only" in reason
    assert _aliases(paths, name) == {"champion": "2"}


def test_negative_transfer_refuses_and_an_allowed_trade_off_passes_with_a_note(fresh):
    cfg, paths = fresh
    cfg = with_overrides(cfg, {"promotion": {"allow_tradeoff": []}})
    name = cfg.project.model_name
    single_task_is_the_mtl_model(cfg, paths)  # even with the candidate on every task it leaves alone
    degrade(paths.checkpoint, {"amount": 0.05})
    register(cfg, paths)

    refused = promote(cfg, paths)
    assert refused["decision"] == "refused" and not refused["missing_evidence"]
    (failure,) = _failures(refused)
    assert "task 'amount'" in failure and "vs single-task" in failure and "(negative transfer)" in failure
    assert refused["comparisons"]["single_task"]["churn"]["change_value"] == pytest.approx(0, abs=1e-6)
    assert _aliases(paths, name) == {"challenger": "1"}

    traded = with_overrides(cfg, {"promotion": {"allow_tradeoff": ["amount"]}})
    out = promote(traded, paths)
    assert out["decision"] == "promoted" and not _failures(out)
    (note,) = [r for r in out["reasons"] if "'amount'" in r]
    assert note.startswith("note") and "a trade-off allowed by promotion.allow_tradeoff" in note
    assert "[-" in note  # the interval is reported with the note
    assert _aliases(paths, name) == {"champion": "1"}


def test_refused_then_forced_with_a_recorded_reason(fresh):
    cfg, paths = fresh
    name, original = cfg.project.model_name, paths.checkpoint.read_bytes()
    register(cfg, paths)
    promote(cfg, paths)
    _register_variant(cfg, paths, original, {"amount": 0.05})
    assert promote(cfg, paths)["decision"] == "refused"

    with pytest.raises(UserError, match="reason"):
        promote(cfg, paths, force=True)
    forced = promote(cfg, paths, force=True, reason="incident 42: the old model mis-scores shop d")
    assert forced["promoted"] and forced["decision"] == "forced" and not forced["gate_passed"]
    assert forced["override"]["reason"] == "incident 42: the old model mis-scores shop d" and forced["override"]["by"]
    assert _aliases(paths, name) == {"champion": "2"}
    tags = _tags(paths, name, 2)
    assert tags["gate.decision"] == "forced" and tags["gate.forced_reason"].startswith("incident 42")
    assert tags["gate.forced_by"] == forced["override"]["by"]
    assert any(r.startswith("override: forced by") and "incident 42" in r for r in reasons_from_tags(tags))
    written = json.loads(paths.promotion.read_text())
    assert written["forced"] and written["override"] == forced["override"]


def test_a_lost_challenger_keeps_its_alias_and_tags_stay_true_after_a_rollback(fresh):
    cfg, paths = fresh
    name, original = cfg.project.model_name, paths.checkpoint.read_bytes()
    register(cfg, paths)
    first = promote(cfg, paths)  # v1 champion
    _register_variant(cfg, paths, original, {"amount": 0.05})
    assert promote(cfg, paths)["decision"] == "refused"  # v2 lost
    assert _aliases(paths, name) == {"champion": "1", "challenger": "2"}

    _register_variant(cfg, paths, original, {"churn": 1e-4})  # v3: as good as v1
    third = promote(cfg, paths)
    assert third["decision"] == "promoted", third["reasons"]
    # the winner is champion; `challenger` goes back to the last version that lost
    assert _aliases(paths, name) == {"champion": "3", "challenger": "2"} and third["challenger"] == "2"
    v1 = _tags(paths, name, 1)
    assert v1["gate.decision"] == "promoted" and v1["gate.champion_from"] == first["decided_at"]
    assert v1["gate.replaced_by"] == "3" and v1["gate.champion_until"] == third["decided_at"]

    rollback = promote(cfg, paths, version=1)  # the same checks: v1 against champion v3
    assert rollback["decision"] == "promoted", rollback["reasons"]
    assert _aliases(paths, name) == {"champion": "1", "challenger": "2"}
    v1, v3 = _tags(paths, name, 1), _tags(paths, name, 3)
    assert v1["gate.champion_from"] == rollback["decided_at"] and v1["gate.champion_before"] == "3"
    assert "gate.champion_until" not in v1 and "gate.replaced_by" not in v1  # champion again
    assert v3["gate.replaced_by"] == "1" and v3["gate.champion_until"] == rollback["decided_at"]
    assert v3["gate.decision"] == "promoted"  # its own decision stands; its tenure says it ended
    client = connect(paths)  # and the version pages say so
    assert "replaced by v1" in client.get_model_version(name, "3").description
    assert "serving while the `champion` alias is on this version" in client.get_model_version(name, "1").description


def test_register_reuse_restores_challenger_and_promote_on_the_champion_reports_so(fresh):
    """The stuck pipeline of #12: after a pass the promote stage reruns alone (DVC lost its output)."""
    cfg, paths = fresh
    name = cfg.project.model_name
    register(cfg, paths)
    promote(cfg, paths)
    assert _aliases(paths, name) == {"champion": "1"}

    paths.promotion.unlink()
    again = promote(cfg, paths)  # judges reports/registration.json's version, not a vanished alias
    assert again["decision"] == "unchanged" and not again["promoted"] and again["champion"] == "1"
    assert "already the champion" in again["reasons"][0]
    assert json.loads(paths.promotion.read_text())["decision"] == "unchanged"

    assert register(cfg, paths)["reused"]
    assert _aliases(paths, name) == {"champion": "1", "challenger": "1"}
    assert promote(cfg, paths)["decision"] == "unchanged"
    assert _aliases(paths, name) == {"champion": "1"}


def test_delta_m_floor_and_failed_validation_refuse(fresh):
    cfg, paths = fresh
    name = cfg.project.model_name
    summary = json.loads(paths.validation_summary.read_text())
    paths.validation_summary.write_text(json.dumps({**summary, "success": False}))
    register(cfg, paths)
    assert _tags(paths, name, 1)["validation.success"] == "false"

    out = promote(cfg, paths)
    assert not out["promoted"] and any("data validation failed" in r for r in _failures(out))
    assert _aliases(paths, name) == {"challenger": "1"}

    relaxed = with_overrides(cfg, {"promotion": {"require_validation": False, "delta_m_floor": 1000.0}})
    out = promote(relaxed, paths)
    failures = _failures(out)
    assert not out["promoted"] and len(failures) == 1 and "< floor +1000.00%" in failures[0]
    assert _aliases(paths, name) == {"challenger": "1"}


def test_validation_switched_off_is_recorded_as_skipped_and_refused_by_the_gate(fresh):
    """The validate stage itself with `validation.enabled: false`: the version says "skipped", never "true",
    and promotion is refused (fail closed, the reason named) until the policy says validation is not needed."""
    from mtlops.registry.promote import PromotionRefused
    from mtlops.stages import run_stage

    cfg, paths = fresh
    name = cfg.project.model_name
    off = with_overrides(cfg, {"validation": {"enabled": False}})
    run_stage("validate", off, paths)
    register(off, paths)
    assert _tags(paths, name, 1)["validation.success"] == "skipped (validation.enabled: false)"

    with pytest.raises(PromotionRefused, match=r"data validation was skipped \(validation.enabled: false\)"):
        promote(off, paths)
    assert _aliases(paths, name) == {"challenger": "1"}
    decision = json.loads(paths.promotion.read_text())
    assert decision["validation"] == "skipped" and not any("validation passed" in r for r in decision["reasons"])

    relaxed = with_overrides(off, {"promotion": {"require_validation": False}})
    out = promote(relaxed, paths)
    assert out["promoted"], out["reasons"]
    assert any("validation not required" in r and "skipped" in r for r in out["reasons"])


def test_missing_or_broken_candidate_is_an_error_and_aliases_stay(fresh):
    cfg, paths = fresh
    name = cfg.project.model_name
    with pytest.raises(RegistryError, match=r"no MLflow store|no such registered model"):
        promote(cfg, paths)
    register(cfg, paths)
    promote(cfg, paths)
    paths.registration.unlink()
    with pytest.raises(RegistryError, match="alias 'challenger'"):
        promote(cfg, paths)
    with pytest.raises(RegistryError, match="version 7"):
        promote(cfg, paths, version=7)
    assert _aliases(paths, name) == {"champion": "1"}

    degrade(paths.checkpoint, {"churn": 0.1})
    register(cfg, paths)
    client = connect(paths)
    source = client.get_model_version(name, "2").source
    model = client.get_logged_model(source.removeprefix("models:/"))
    shutil.rmtree(model.artifact_location.removeprefix("file://"))
    with pytest.raises(RegistryError, match="v2 cannot be loaded"):
        promote(cfg, paths)
    with pytest.raises(RegistryError, match="v2 cannot be loaded"):
        promote(cfg, paths, force=True, reason="even forced, a broken model must not serve")
    assert _aliases(paths, name) == {"champion": "1", "challenger": "2"}
    assert np.isfinite(float(_tags(paths, name, 1)["gate.delta_m_vs_stl"]))


# ----------------------------------------------------------------------------------------- experiments
def test_inside_a_dvc_experiment_the_stage_judges_but_never_moves_champion(fresh, monkeypatch):
    from mtlops.stages import run_stage

    cfg, paths = fresh
    name, original = cfg.project.model_name, paths.checkpoint.read_bytes()
    register(cfg, paths)
    promote(cfg, paths)
    _register_variant(cfg, paths, original, {"churn": 1e-4})  # would pass the gate
    monkeypatch.setenv("DVC_EXP_NAME", "tidy-lamb")
    monkeypatch.setenv("DVC_EXP_BASELINE_REV", "0123456789abcdef0123")

    out = run_stage("promote", cfg, paths)
    assert out["decision"] == "held" and out["gate_passed"] and not out["promoted"]
    assert "experiment 'tidy-lamb', baseline 0123456789ab" in out["reasons"][-1]
    assert "champion not moved" in out["reasons"][-1] and "mtlops promote --version 2" in out["reasons"][-1]
    assert _aliases(paths, name) == {"champion": "1", "challenger": "2"}
    assert _tags(paths, name, 2)["gate.decision"] == "held"
    assert json.loads(paths.promotion.read_text())["held"].startswith("dvc exp run")

    monkeypatch.delenv("DVC_EXP_NAME")
    monkeypatch.delenv("DVC_EXP_BASELINE_REV")
    assert promote(cfg, paths)["decision"] == "promoted"  # judged for real once out of the experiment


@pytest.mark.e2e
def test_dvc_exp_run_in_a_temporary_clone_judges_in_the_project_registry_and_never_moves_champion(fresh):
    """A real `dvc exp run --temp` of the promote stage: DVC's environment holds the champion, and the
    throwaway clone (its mlflow/ git-ignored, so absent) still reads and writes the project's registry."""
    import subprocess
    import sys

    from mtlops.orchestration.dvc import subprocess_env

    cfg, paths = fresh
    name, root = cfg.project.model_name, paths.root
    register(cfg, paths)
    promote(cfg, paths)
    degrade(paths.checkpoint, {"churn": 1e-4})
    register(cfg, paths)  # v2, as good as the champion: outside an experiment it would be promoted
    stage = {"cmd": "mtlops promote", "deps": ["reports/registration.json"], "params": ["promotion"],
             "outs": [{"reports/promotion.json": {"cache": False}}]}
    (root / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"promote": stage}}))
    (root / ".gitignore").write_text("mlflow/\n")

    def run(*cmd: str) -> str:
        proc = subprocess.run(cmd, cwd=root, env=subprocess_env(), capture_output=True, text=True, timeout=300,
                              check=False)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc.stdout

    run("git", "init", "-q")
    run(sys.executable, "-m", "dvc", "init", "-q")
    run("git", "add", "-A")
    run("git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "project")
    run(sys.executable, "-m", "dvc", "exp", "run", "--temp", "-n", "try-v2")

    refs = run("git", "for-each-ref", "--format=%(refname)", "refs/exps").split()
    (ref,) = [r for r in refs if r.endswith("/try-v2")]
    decision = json.loads(run("git", "show", f"{ref}:reports/promotion.json"))
    assert decision["decision"] == "held" and decision["version"] == "2" and decision["gate_passed"]
    assert decision["champion_before"] == "1" and "dvc exp run (experiment 'try-v2'" in decision["held"]
    assert _aliases(paths, name) == {"champion": "1", "challenger": "2"}
    assert _tags(paths, name, 2)["gate.decision"] == "held"


@pytest.mark.e2e
@pytest.mark.xdist_group("prefect")
def test_run_with_no_promote_registers_a_version_that_never_becomes_champion(tmp_path, prefect_harness):
    from mtlops.orchestration.retrain import run_retrain
    from tests.helpers import make_project

    # even the first model, which the gate would pass, stays a challenger
    overrides = {"search": {"enabled": False}, "promotion": {"allow_tradeoff": ["y1", "y2"], "delta_m_floor": None}}
    cfg, paths = make_project(tmp_path / "proj", overrides=overrides)
    result = run_retrain(paths.root / "params.yaml", through_dvc=False, quiet=True, promote=False)

    held = result["promotion"]
    assert held["decision"] == "held" and not held["promoted"] and held["champion"] is None
    assert any("experiment run (mtlops run --no-promote)" in r for r in held["reasons"])
    assert json.loads(paths.promotion.read_text())["gate_passed"]
    assert _aliases(paths, cfg.project.model_name) == {"challenger": "1"}


def test_a_failure_moving_the_alias_leaves_no_promoted_tag(fresh, monkeypatch):
    """`gate.*` tags were written before `champion` moved: a store failure between them left a version tagged
    "promoted" that was not champion (#25). The alias moves first now."""
    from mlflow.exceptions import MlflowException

    from mlflow import MlflowClient

    cfg, paths = fresh
    name = cfg.project.model_name
    register(cfg, paths)
    real = MlflowClient.set_registered_model_alias

    def failing(self, model, alias, version):
        if alias == "champion":
            raise MlflowException("the store went away")
        return real(self, model, alias, version)

    monkeypatch.setattr(MlflowClient, "set_registered_model_alias", failing)
    with pytest.raises(MlflowException, match="went away"):
        promote(cfg, paths)
    assert "champion" not in _aliases(paths, name)
    assert _tags(paths, name, 1).get("gate.decision") != "promoted"

    monkeypatch.setattr(MlflowClient, "set_registered_model_alias", real)
    assert promote(cfg, paths)["promoted"]
    assert _aliases(paths, name)["champion"] == "1" and _tags(paths, name, 1)["gate.decision"] == "promoted"
