"""End to end on the tiny mixed project: prepare → train → baselines → evaluate, through the real stages."""

from __future__ import annotations

import json

import pytest

from mtlops.config import with_overrides

pytestmark = pytest.mark.e2e


@pytest.fixture
def mixed(tmp_path):
    """The tiny mixed project, LightGBM on one thread (OpenMP threads crawl on a busy shared machine)."""
    from tests.helpers import make_project

    return make_project(tmp_path, kind="mixed", overrides={"baselines": {"gbdt_params": {"n_jobs": 1}}})


def test_baselines_then_evaluate(mixed):
    from mtlops.baselines.reference import stl_val_reference
    from mtlops.baselines.run import run_baselines
    from mtlops.data.ingest import ingest
    from mtlops.data.prepare import prepare
    from mtlops.evaluation.evaluate import evaluate
    from mtlops.stages import train

    cfg, paths = mixed
    ingest(cfg, paths)
    prepare(cfg, paths)
    train.run(cfg, paths)
    run_baselines(cfg, paths)

    report = json.loads(paths.baselines_metrics.read_text())
    for task in cfg.tasks:
        entry = report["tasks"][task.name]
        assert paths.stl_model(task.name).is_file() and paths.gbdt_model(task.name).is_file()
        assert entry["stl"]["n_params"] > 0 and entry["stl"]["wall_time_s"] > 0
        assert set(entry["stl"]["test"]) == set(entry["gbdt"]["test"]) and task.metric in entry["gbdt"]["val"]
    val = stl_val_reference(paths, cfg.task_names)
    assert stl_val_reference(paths, ["churn"]) == {"churn": val["churn"]}
    assert set(val) == set(cfg.task_names)
    assert val["churn"] == report["tasks"]["churn"]["stl"]["val"]["roc_auc"]

    evaluate(cfg, paths)
    metrics = json.loads(paths.metrics.read_text())
    assert set(metrics) >= {"tasks", "delta_m", "cost", "primary"}
    for task in cfg.tasks:
        entry = metrics["tasks"][task.name]
        assert entry["metric"] == task.metric and entry["higher_is_better"] == task.higher_is_better
        for model in ("mtl", "stl", "gbdt"):
            assert isinstance(entry[model][task.metric], float)
            assert metrics["primary"][model][task.name] == entry[model][task.metric]
        # the STL numbers on test are the baselines stage's own, recomputed from the saved model
        assert entry["stl"][task.metric] == pytest.approx(report["tasks"][task.name]["stl"]["test"][task.metric])
        assert entry["gbdt"][task.metric] == pytest.approx(report["tasks"][task.name]["gbdt"]["test"][task.metric])
        diff = entry["diff_vs_stl"]
        assert diff["ci_low"] <= diff["ci_high"] and isinstance(entry["negative_transfer"], bool)
    assert metrics["tasks"]["amount"]["n_test"] < metrics["tasks"]["churn"]["n_test"]  # masked labels
    assert all(isinstance(v, float) for v in metrics["delta_m"].values())
    assert metrics["cost"]["stl_sum"]["n_params"] == sum(
        report["tasks"][t]["stl"]["n_params"] for t in cfg.task_names
    )
    assert metrics["cost"]["mtl"]["n_params"] > 0
    assert "| churn |" in paths.summary.read_text()
    for name in ("per_task.png", "training_curves.png", "calibration_churn.png", "per_task/amount.csv"):
        assert (paths.plots_dir / name).is_file(), name

    # switch the single-task networks off: GBDT only, and evaluate says so instead of failing
    no_stl = with_overrides(cfg, {"baselines": {"stl": False}})
    run_baselines(no_stl, paths)
    assert not list(paths.baselines_dir.glob("stl_*.pt"))
    assert stl_val_reference(paths, cfg.task_names) == {}
    evaluate(no_stl, paths)
    metrics = json.loads(paths.metrics.read_text())
    assert metrics["delta_m"]["vs_stl"] is None and isinstance(metrics["delta_m"]["vs_gbdt"], float)
    assert metrics["tasks"]["churn"]["stl"] == {} and metrics["tasks"]["churn"]["diff_vs_stl"]["value"] is None


def test_missing_inputs_name_the_file_and_the_stage(mixed):
    from mtlops.baselines.reference import BaselinesMissing, stl_val_reference
    from mtlops.data.ingest import ingest
    from mtlops.data.prepare import prepare
    from mtlops.errors import UserError
    from mtlops.evaluation.evaluate import evaluate

    cfg, paths = mixed
    ingest(cfg, paths)
    prepare(cfg, paths)
    with pytest.raises(UserError, match=r"baselines\.json.*mtlops baselines"):
        evaluate(cfg, paths)
    with pytest.raises(BaselinesMissing, match=r"baselines\.json.*mtlops baselines"):
        stl_val_reference(paths, cfg.task_names)
    assert not paths.metrics.exists() and not paths.plots_dir.exists()
