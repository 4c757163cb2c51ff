"""The served model end to end, through the real stages: chosen on validation, packaged with its LightGBM
files, scored the same in a fresh process, judged by the gate against the best single-task model.

The constructed case: a network given one epoch at a tiny learning rate (the single-task networks share the
recipe), so each task's LightGBM clearly wins on validation.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mtlops.config import with_overrides
from tests.helpers import make_project, predict_in_fresh_process
from tests.registry.conftest import copy_project

STAGES = ["ingest", "validate", "prepare", "baselines", "search", "grouping", "train", "evaluate"]
WEAK_NETWORK = {
    "search": {"enabled": False},
    "train": {"epochs": 1, "lr": 1e-5},
    "promotion": {"allow_tradeoff": [], "delta_m_floor": None, "bootstrap": 200},
    # 160 validation rows: one row of accuracy is 0.8 % of it, so a band of a few rows keeps choices off noise;
    # `prefer: shared` so that a pure LightGBM serves end to end (with `prefer: blend` the 0.1 blend is within
    # 5 % of it; that rule has its own end-to-end test below, and `tests/serving/test_choice.py` both)
    "serving": {"prefer": "shared", "noise_band": 5.0},
}


@pytest.fixture(autouse=True)
def own_store():
    os.environ.pop("MLFLOW_TRACKING_URI", None)  # each project uses the store under its own root
    yield
    os.environ.pop("MLFLOW_TRACKING_URI", None)


@pytest.fixture(scope="module")
def weak(tmp_path_factory):
    """Root of a `mixed` project (binary, multiclass, masked regression) whose networks are weak, after evaluate."""
    from mtlops.stages import run_stages

    os.environ.pop("MLFLOW_TRACKING_URI", None)
    root = tmp_path_factory.mktemp("served") / "weak"
    cfg, paths = make_project(root, kind="mixed", overrides=WEAK_NETWORK)
    run_stages(cfg, paths, STAGES)
    return root


def _serving(paths) -> dict:
    return json.loads((paths.model_dir / "serving.json").read_text())


def _rerun(cfg, paths, overrides, stages=("train", "evaluate")):
    from mtlops.stages import run_stages

    cfg = with_overrides(cfg, overrides)
    run_stages(cfg, paths, list(stages))
    return cfg


def _answers_as_evaluation(cfg, paths, version, tmp_path) -> None:
    """Registered model `version`, loaded from the registry in a new interpreter, predicts the test rows as the
    in-process served model does and scores each task as evaluate's metrics.json says."""
    from mtlops.data.prepare import load_meta, load_split
    from mtlops.metrics.per_task import primary
    from mtlops.registry.pyfunc import model_config, prediction_frame, task_predictions
    from mtlops.tracking import tracking_uri
    from mtlops.training import predict
    from mtlops.training.served import load_served

    metrics = json.loads(paths.metrics.read_text())
    rows = pd.read_parquet(paths.test_raw)
    ref = f"models:/{cfg.project.model_name}/{version}"
    fresh = predict_in_fresh_process(ref, rows[cfg.features.all_columns()], tmp_path, tracking_uri(paths))
    tasks = model_config(cfg, load_meta(paths))["tasks"]
    test = load_split(paths, "test")
    in_process = prediction_frame(predict(load_served(paths.model_dir), test), tasks)
    pd.testing.assert_frame_equal(fresh, in_process, check_exact=False, rtol=1e-6, atol=1e-7)
    for task in cfg.tasks:
        value = primary(task, test[f"y_{task.name}"], task_predictions(fresh, tasks)[task.name],
                        test[f"mask_{task.name}"], cfg.evaluation.calibration_bins)
        assert value == pytest.approx(metrics["tasks"][task.name]["served"][task.metric], rel=1e-6)


def test_lightgbm_clearly_better_on_validation_serves_and_the_registered_model_scores_as_evaluation(weak, tmp_path):
    from mtlops.registry.promote import promote
    from mtlops.registry.register import register
    from mtlops.registry.store import connect

    cfg, paths = copy_project(weak, tmp_path / "proj")
    serving = _serving(paths)
    for task, entry in serving["tasks"].items():
        assert entry["kind"] == "gbdt", (task, entry["candidates"])
        assert entry["gain_val"] > cfg.serving.noise_band and entry["gbdt"]["files"] == [f"gbdt_{task}.txt"]
        assert (paths.model_dir / f"gbdt_{task}.txt").is_file()
    metrics = json.loads(paths.metrics.read_text())
    for task, entry in metrics["tasks"].items():
        assert entry["served_by"]["kind"] == "gbdt" and entry["served"] == entry["gbdt"]
        assert entry["served_gain"]["val"] == pytest.approx(serving["tasks"][task]["gain_val"])
    assert metrics["delta_m"]["served_vs_gbdt"] == 0 and metrics["delta_m"]["vs_gbdt"] < 0  # (b) and (a)

    # the registered model carries the choice and the LightGBM files, and loaded from the registry in a new
    # interpreter it answers as evaluation scored
    registration = register(cfg, paths)
    client = connect(paths)
    source = client.get_model_version(cfg.project.model_name, registration["version"]).source
    location = Path(client.get_logged_model(source.removeprefix("models:/")).artifact_location.removeprefix("file://"))
    packaged = {p.name for p in location.rglob("*") if p.is_file()}
    assert {"model.pt", "serving.json", *(f"gbdt_{t}.txt" for t in cfg.task_names)} <= packaged
    _answers_as_evaluation(cfg, paths, registration["version"], tmp_path)

    # the gate judges what is served against the best single-task model, and says which one that is
    out = promote(cfg, paths)
    assert out["promoted"], out["reasons"]
    for task in cfg.task_names:
        (reason,) = [r for r in out["reasons"] if f"task {task!r}" in r and "single-task" in r]
        assert reason.startswith("pass") and "vs single-task LightGBM" in reason


def test_the_choice_reads_validation_only_changing_test_labels_changes_nothing(weak, tmp_path):
    from mtlops.serving.build import serve_best
    from mtlops.training.served import load_served

    cfg, paths = copy_project(weak, tmp_path / "proj")
    network = load_served(paths.model_dir).network
    before = _serving(paths)

    def choose_again(name: str) -> dict:
        folder = tmp_path / name
        folder.mkdir()
        return serve_best(cfg, paths, network, folder)

    def scramble(split: str) -> None:
        arrays = dict(np.load(paths.split_arrays(split)))
        rng = np.random.default_rng(1)
        for task in cfg.task_names:
            arrays[f"y_{task}"] = rng.permutation(arrays[f"y_{task}"])
        np.savez(paths.split_arrays(split), **arrays)

    assert choose_again("same") == before  # deterministic: the figures below are not noise
    scramble("test")
    assert choose_again("test_scrambled") == before  # every candidate's figure, every weight, every choice
    scramble("val")
    after = choose_again("val_scrambled")
    assert [c["val"] for e in after["tasks"].values() for c in e["candidates"]] != [
        c["val"] for e in before["tasks"].values() for c in e["candidates"]]


def test_the_gate_refuses_a_served_model_worse_than_the_best_single_task_model(weak, tmp_path):
    from mtlops.registry.promote import promote
    from mtlops.registry.register import register

    cfg, paths = copy_project(weak, tmp_path / "proj")
    # a band no candidate can clear: the weak network serves every task, though LightGBM beat it on validation
    cfg = _rerun(cfg, paths, {"serving": {"noise_band": 1e6}})
    assert {e["kind"] for e in _serving(paths)["tasks"].values()} == {"shared"}
    register(cfg, paths)
    out = promote(cfg, paths)
    assert out["decision"] == "refused" and not out["missing_evidence"]
    failures = [r for r in out["reasons"] if r.startswith("FAIL")]
    assert failures and all("vs single-task LightGBM" in f and "(worse than its single-task LightGBM)" in f
                            for f in failures)
    summary = paths.summary.read_text().split("## Served model")[1]
    assert "below LightGBM" in summary  # the flag in the served table


def test_the_switch_restores_todays_behaviour(weak, tmp_path):
    from mtlops.data.prepare import load_split
    from mtlops.registry.promote import promote
    from mtlops.registry.register import register
    from mtlops.training import predict
    from mtlops.training.served import load_served

    cfg, paths = copy_project(weak, tmp_path / "proj")
    cfg = _rerun(cfg, paths, {"serving": {"best_of_baselines": False}})
    serving = _serving(paths)
    assert {e["kind"] for e in serving["tasks"].values()} == {"shared"}
    assert all(len(e["candidates"]) == 1 for e in serving["tasks"].values())  # nothing else was even scored
    assert sorted(p.name for p in paths.model_dir.iterdir()) == ["model.pt", "serving.json"]
    served = load_served(paths.model_dir)
    test = load_split(paths, "test")
    for task, values in predict(served, test).items():
        np.testing.assert_array_equal(values, predict(served.network, test)[task])
    metrics = json.loads(paths.metrics.read_text())
    for entry in metrics["tasks"].values():
        assert entry["served"] == entry["mtl"] and entry["served_by"]["kind"] == "shared"
    assert metrics["delta_m"]["served_vs_stl"] == metrics["delta_m"]["vs_stl"]

    register(cfg, paths)
    out = promote(cfg, paths)
    judged = [r for r in out["reasons"] if "single-task" in r and "task '" in r]
    assert len(judged) == 3 and all("vs single-task network" in r for r in judged), judged


def test_with_the_default_preference_blends_serve_and_the_registered_model_answers_as_evaluation(weak, tmp_path):
    from mtlops.registry.register import register

    cfg, paths = copy_project(weak, tmp_path / "proj")
    cfg = _rerun(cfg, paths, {"serving": {"prefer": "blend", "noise_band": 1.0}})
    serving = _serving(paths)
    assert serving["prefer"] == "blend"
    for task, entry in serving["tasks"].items():
        blends = [c for c in entry["candidates"] if c["kind"] == "blend"]
        best = max(blends, key=lambda c: c["val"] if entry["higher_is_better"] else -c["val"])
        if entry["kind"] == "blend":  # the best blend on validation, by weight
            assert entry["weight"] == best["weight"], (task, entry["candidates"])
        else:  # a single model only where it beats that blend by more than the band
            chosen = next(c for c in entry["candidates"] if c["kind"] == entry["kind"])
            sign = 1 if entry["higher_is_better"] else -1
            assert sign * 100 * (chosen["val"] - best["val"]) / abs(best["val"]) > cfg.serving.noise_band, task
    assert "blend" in {e["kind"] for e in serving["tasks"].values()}
    registration = register(cfg, paths)
    _answers_as_evaluation(cfg, paths, registration["version"], tmp_path)
