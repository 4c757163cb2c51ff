"""The MLflow run a pipeline run leaves: one parent run named after it, the search under it, registration
in it; headline metrics with short names, the rest grouped; the data as inputs; pruned trials marked."""

from __future__ import annotations

import os

import optuna
import pytest

from mlflow import MlflowClient
from mtlops.config import with_overrides
from mtlops.experiment import BASELINE_ENV, NAME_ENV
from mtlops.registry.register import register
from mtlops.stages import run_stage
from mtlops.tracking import PARENT_ENV, PIPELINE_ENV, parent_run, pipeline_run, setup_mlflow, tracking_uri


def _client(paths) -> MlflowClient:
    return MlflowClient(tracking_uri(paths))


def test_a_pipeline_run_holds_registration_and_the_search_nests_under_it(fresh, monkeypatch):
    cfg, paths = fresh
    cfg = with_overrides(cfg, {"search": {"enabled": True, "n_trials": 2, "epochs": 1}})
    with pipeline_run(cfg, paths, "retrain 2026-11-30 brave-fox") as pipeline:
        assert pipeline.find(cfg, paths) is None  # made by the first stage that logs, not before
        search = run_stage("search", cfg, paths)
        parent = pipeline.find(cfg, paths)
        assert parent is not None and parent_run(cfg, paths) == parent
        out = register(cfg, paths)
    assert PARENT_ENV not in os.environ and PIPELINE_ENV not in os.environ

    client = _client(paths)
    run = client.get_run(parent)
    assert run.info.run_name == "retrain 2026-11-30 brave-fox" and run.info.status == "FINISHED"
    assert out["run_id"] == parent  # the version's run is the pipeline run
    [search_run] = client.search_runs([run.info.experiment_id], "tags.`mtlops.stage` = 'search'")
    assert search_run.data.tags["mlflow.parentRunId"] == parent and search["study"] in search_run.info.run_name
    trials = client.search_runs([run.info.experiment_id], f"tags.`mlflow.parentRunId` = '{search_run.info.run_id}'")
    assert len(trials) == 2

    # a headline the runs table shows (each task's primary metric, Δm), every other figure under a prefix
    headline = {name for name in run.data.metrics if "/" not in name}
    assert headline == {f"{t.name}.{t.metric}" for t in cfg.tasks} | {"delta_m.vs_stl", "delta_m.vs_gbdt"}
    groups = {name.split("/")[0] for name in run.data.metrics if "/" in name}
    assert {"test_mtl", "test_stl", "test_gbdt", "diff_vs_stl", "delta_m", "cost", "train_loss", "weights"} <= groups
    assert run.data.metrics["test_stl/churn.roc_auc"] > 0

    inputs = {d.dataset.name: {t.value for t in d.tags} for d in run.inputs.dataset_inputs}
    assert inputs == {"train": {"training"}, "test": {"evaluation"}}


def test_a_failing_pipeline_run_ends_failed(fresh):
    cfg, paths = fresh
    with pytest.raises(RuntimeError), pipeline_run(cfg, paths, "retrain broken"):
        parent = parent_run(cfg, paths)  # a stage logged, then the run failed
        raise RuntimeError("stage failed")
    assert _client(paths).get_run(parent).info.status == "FAILED"


def test_a_pipeline_run_in_which_no_stage_logs_leaves_no_mlflow_run(fresh):
    """A second `make run` with nothing changed: DVC skips every stage, so no empty `retrain …` run."""
    cfg, paths = fresh
    experiment_id = setup_mlflow(cfg, paths)
    with pipeline_run(cfg, paths, "retrain 2026-12-01 idle-owl") as pipeline:
        pass
    assert pipeline.find(cfg, paths) is None
    assert _client(paths).search_runs([experiment_id]) == []
    experiment = _client(paths).get_experiment(experiment_id)
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"  # the UI's training view


def test_a_dvc_experiment_is_one_run_named_after_it(fresh, monkeypatch):
    cfg, paths = fresh
    assert parent_run(cfg, paths) is None  # a stage run alone: no parent
    monkeypatch.setenv(NAME_ENV, "brave-fox")
    monkeypatch.setenv(BASELINE_ENV, "ab" * 20)
    first = parent_run(cfg, paths)  # stages are separate processes: each finds the same run
    assert parent_run(cfg, paths) == first
    assert _client(paths).get_run(first).info.run_name == "exp brave-fox"
    out = register(cfg, paths)
    assert out["run_id"] == first


def test_a_pruned_trial_is_not_a_green_finished_run(fresh):
    from mtlops.search.worker import TrialLogger

    cfg, paths = fresh
    experiment_id = setup_mlflow(cfg, paths)
    client = _client(paths)
    search_run = client.create_run(experiment_id, run_name="search s").info.run_id
    logger = TrialLogger(cfg, paths, search_run, "s")
    study = optuna.create_study(direction="maximize")
    for state in ("PRUNED", "COMPLETE"):
        trial = study.ask()
        run_id = logger.start(trial)
        trial.report(0.5, 1)
        pruned = state == "PRUNED"
        frozen = study.tell(trial, state=optuna.trial.TrialState.PRUNED) if pruned else study.tell(trial, 1.0)
        logger.end(run_id, frozen)
        run = client.get_run(run_id)
        if state == "PRUNED":
            assert run.info.status == "KILLED" and run.info.run_name == f"trial-{trial.number} (pruned)"
        else:
            assert run.info.status == "FINISHED" and run.info.run_name == f"trial-{trial.number}"
