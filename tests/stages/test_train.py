"""The train stage on the tiny mixed project: the search's overlay applied, the model and history written."""

from __future__ import annotations

import json

import pytest

from mtlops.config import with_overrides
from mtlops.io import read_json, write_json
from mtlops.stages import run_stages, train
from mtlops.training import load_model
from tests.helpers import make_project


@pytest.fixture
def processed(tmp_path):
    """The mixed project (binary, multiclass, masked regression), ingested and prepared by the real stages."""
    cfg, paths = make_project(tmp_path, kind="mixed", overrides={"train": {"epochs": 2, "batch_size": 64}})
    run_stages(cfg, paths, ["ingest", "prepare"])
    return cfg, paths


def test_train_stage_applies_best_params_and_writes_model_and_history(processed):
    cfg, paths = processed
    write_json(paths.best_params, {"model": {"architecture": {"name": "cross_stitch", "params": {"width": 12}},
                                             "weighting": {"name": "dwa", "params": {"temperature": 1.5}}},
                                   "train": {"lr": 0.003}})
    summary = train.run(cfg, paths)
    assert summary["architecture"] == "cross_stitch" and summary["search_params_applied"] is True
    history = read_json(paths.history)
    assert {"wall_time_s", "n_params", "best_epoch", "epochs_run", "stop_reason", "device", "architecture",
            "weighting", "train", "history"} <= set(history)
    assert history["architecture"] == {"name": "cross_stitch", "params": {"width": 12}}
    assert history["weighting"] == {"name": "dwa", "params": {"temperature": 1.5}}
    assert history["train"]["lr"] == 0.003 and len(history["history"]) == history["epochs_run"] == 2
    model = load_model(paths.checkpoint)
    assert model.spec.architecture == "cross_stitch" and model.n_params == history["n_params"]
    json.dumps(history)  # plain JSON all the way down

    plain = with_overrides(cfg, {"train": {"use_search": False}})
    assert train.run(plain, paths)["architecture"] == "hard"
    assert load_model(paths.checkpoint).spec.architecture == "hard"


def test_the_cost_guard_stops_the_final_training_within_its_budget(processed):
    """train.max_cost_ratio × the single-task networks' parameter-epochs: the training stops at the last epoch
    the budget allows, keeping its best epoch, whatever the machine's load; null lets it run to its epochs."""
    cfg, paths = processed
    run_stages(with_overrides(cfg, {"train": {"epochs": 6, "patience": 6}}), paths, ["baselines"])
    stl = [e["stl"] for e in read_json(paths.baselines_metrics)["tasks"].values()]
    param_epochs = sum(e["n_params"] * e["epochs_run"] for e in stl)
    long = with_overrides(cfg, {"train": {"epochs": 60, "patience": 60, "use_search": False, "max_cost_ratio": 0.5}})
    train.run(long, paths)
    history = read_json(paths.history)
    allowed = int(0.5 * param_epochs // history["n_params"])
    assert 1 <= allowed < 60
    assert history["budget_param_epochs"] == pytest.approx(0.5 * param_epochs)
    assert history["budget_epochs"] == allowed and history["epochs_run"] == allowed
    assert history["stop_reason"].startswith("callback: cost guard") and "parameter-epochs" in history["stop_reason"]

    free = with_overrides(long, {"train": {"epochs": 3, "max_cost_ratio": None}})
    train.run(free, paths)
    history = read_json(paths.history)
    assert history["epochs_run"] == 3 and history["budget_epochs"] is None
