"""The search stage end to end on a tiny synthetic project: coverage, resume, NaN trials, workers,
MLflow nesting, and the train stage applying the best params.

Data and baselines are prepared once per module and copied into each test's own folder, so every
test has its own study, journal and MLflow store.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from optuna.trial import TrialState

from mtlops.config import load_config, with_overrides
from mtlops.paths import Paths
from mtlops.search.run import search
from mtlops.search.storage import open_study
from tests.helpers import make_project

pytestmark = pytest.mark.xdist_group("search")

ARCHITECTURES = ["hard", "soft", "cross_stitch", "mmoe", "ple"]
WEIGHTINGS = ["equal", "static", "uncertainty", "dwa", "gradnorm", "pcgrad", "famo"]
# small models: each trial trains in well under a second
TINY_SPACE = {"width": [8, 16], "depth": [1, 2], "experts": [2, 3], "batch_size": [64, 128]}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    """A tiny synthetic project with processed data and single-task baselines (made once)."""
    from mtlops.baselines.run import run_baselines
    from mtlops.data.ingest import ingest
    from mtlops.data.prepare import prepare

    root = tmp_path_factory.mktemp("search_prepared")
    cfg, paths = make_project(root, overrides={"baselines": {"gbdt": False}})
    ingest(cfg, paths)
    prepare(cfg, paths)
    run_baselines(cfg, paths)
    return root


def copy_project(prepared: Path, dest: Path, search: dict | None = None) -> tuple:
    """This test's own copy of the prepared project (no study, no MLflow store yet).

    The score is the plain validation Δm and the best trial is chosen by it alone unless a test asks for the
    transfer penalty or the noise band (their own tests below)."""
    shutil.copytree(prepared, dest, ignore=shutil.ignore_patterns("mlflow", "search"))
    overrides = {"search": {"space": TINY_SPACE, "transfer_penalty": 0.0, "noise_band": 0.0, **(search or {})}}
    return load_config(dest / "params.yaml", overrides=overrides), Paths.at(dest)


def states(study) -> dict[int, TrialState]:
    return {t.number: t.state for t in study.trials}


def test_every_architecture_and_weighting_is_visited(prepared, tmp_path):
    cfg, paths = copy_project(prepared, tmp_path / "p", {"pruner": "none", "epochs": 2})
    study = open_study(cfg, paths)
    for i, weighting in enumerate(WEIGHTINGS):
        study.enqueue_trial({"architecture": ARCHITECTURES[i % len(ARCHITECTURES)], "weighting": weighting})

    summary = search(cfg, paths, n_trials=len(WEIGHTINGS))

    study = open_study(cfg, paths)
    assert len(study.trials) == len(WEIGHTINGS) == summary["n_complete"]
    assert {t.params["architecture"] for t in study.trials} == set(ARCHITECTURES)
    assert {t.params["weighting"] for t in study.trials} == set(WEIGHTINGS)
    # each method drew its own params, and nothing of the others'
    by_arch = {t.params["architecture"]: t.params for t in study.trials}
    assert "mmoe.experts" in by_arch["mmoe"] and "mmoe.experts" not in by_arch["hard"]
    static = next(t for t in study.trials if t.params["weighting"] == "static")
    weights = static.user_attrs["overlay"]["model"]["weighting"]["params"]["weights"]
    assert sum(weights.values()) == pytest.approx(len(cfg.tasks))
    assert all(t.user_attrs["epochs"] == 2 for t in study.trials)

    # the best params overlay is the best trial's choices and validates against the schema
    overlay = json.loads(paths.best_params.read_text())
    assert overlay == study.best_trial.user_attrs["overlay"]
    best_cfg = with_overrides(cfg, overlay)
    assert best_cfg.model.architecture.name == study.best_trial.params["architecture"]
    report = json.loads(paths.search_summary.read_text())
    assert report["best_trial"] == study.best_trial.number
    assert report["best_delta_m"] == pytest.approx(study.best_value)
    assert report["trial_epochs"] == 2 * len(WEIGHTINGS)

    # MLflow: one search run with every trial nested under it, and the study's plots
    from mlflow import MlflowClient

    client = MlflowClient(paths.default_tracking_uri)
    parent = client.get_run(report["mlflow_run_id"])
    children = client.search_runs(
        [parent.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
    )
    assert sorted(int(r.data.tags["optuna.trial"]) for r in children) == list(range(len(WEIGHTINGS)))
    child = next(r for r in children if int(r.data.tags["optuna.trial"]) == study.best_trial.number)
    assert child.data.metrics["delta_m"] == pytest.approx(study.best_value)
    assert {f"val_{t}" for t in cfg.task_names} <= set(child.data.metrics)
    assert child.data.params["architecture"] == study.best_trial.params["architecture"]
    assert parent.data.metrics["best_delta_m"] == pytest.approx(study.best_value)
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id, "plots")}
    plots = {"optimization_history", "parallel_coordinate", "param_importances"}
    assert {f"plots/{p}.png" for p in plots} <= artifacts


def test_a_rerun_resumes_the_study_and_runs_only_what_is_left(prepared, tmp_path):
    cfg, paths = copy_project(prepared, tmp_path / "p")
    first = search(cfg, paths, n_trials=2)
    before = [(t.number, t.params, t.value, t.state) for t in open_study(cfg, paths).trials]

    second = search(cfg, paths, n_trials=4)

    after = open_study(cfg, paths).trials
    assert len(after) == 4
    assert [(t.number, t.params, t.value, t.state) for t in after[:2]] == before
    assert first["study"] == second["study"]
    assert json.loads(paths.search_summary.read_text())["trials_this_run"] == [2, 3]
    # a resumed session draws new candidates rather than replaying the first session's
    assert after[2].params != after[0].params


def test_the_median_pruner_stops_a_poor_candidate_after_its_first_epoch(prepared, tmp_path):
    search_cfg = {"pruner": "median", "epochs": 3, "space": {**TINY_SPACE, "lr": [1e-6, 1e-2]}}
    cfg, paths = copy_project(prepared, tmp_path / "p", search_cfg)
    cfg = with_overrides(cfg, {"train": {"patience": 5}})
    study = open_study(cfg, paths)
    good = {"architecture": "hard", "weighting": "equal", "lr": 1e-2, "batch_size": 64, "weight_decay": 1e-7,
            "hard.depth": 1, "hard.width": 16, "hard.dropout": 0.0}
    study.enqueue_trial(good)
    study.enqueue_trial(good | {"hard.width": 8})
    study.enqueue_trial(good | {"lr": 1e-6})  # barely moves from its initial weights

    summary = search(cfg, paths, n_trials=3)

    trials = open_study(cfg, paths).trials
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.COMPLETE, TrialState.PRUNED]
    assert [t.user_attrs["epochs"] for t in trials] == [3, 3, 1]
    assert list(trials[2].intermediate_values) == [1]
    assert trials[2].intermediate_values[1] < min(t.intermediate_values[1] for t in trials[:2])
    assert "pruner at epoch 1" in trials[2].user_attrs["pruned_reason"]
    assert summary["trial_epochs"] == 7 and summary["n_pruned"] == 1


def test_the_cost_guard_caps_an_oversized_search_space(prepared, tmp_path):
    """Candidates many times the single-task networks' size are pruned before they train; the configured
    model (trial 0, within the guard) is what the search can return. Every trial records its cost ratio."""
    oversized = {"width": [512, 1024], "depth": [3, 3], "experts": [6, 8], "architectures": ["hard", "mmoe"]}
    cfg, paths = copy_project(prepared, tmp_path / "p", {"epochs": 1, "space": {**TINY_SPACE, **oversized}})
    summary = search(cfg, paths, n_trials=4)
    trials = json.loads(paths.search_summary.read_text())["trials"]
    assert trials[0]["configured"] and trials[0]["state"] == "COMPLETE" and trials[0]["cost_ratio"]["n_params"] <= 1
    assert trials[0]["cost_ratio"]["seconds_per_epoch"] > 0
    for t in trials[1:]:
        assert t["state"] == "PRUNED" and t["epochs"] == 0 and t["pruned_reason"].startswith("cost guard")
        assert t["cost_ratio"]["n_params"] > cfg.search.max_cost_ratio
    assert summary["best_trial"] == 0 and json.loads(paths.best_params.read_text()) == {}

    unguarded, paths = copy_project(prepared, tmp_path / "q", {"epochs": 1, "max_cost_ratio": None,
                                                              "space": {**TINY_SPACE, **oversized}})
    search(unguarded, paths, n_trials=2)
    assert [t.state for t in open_study(unguarded, paths).trials] == [TrialState.COMPLETE] * 2


def test_a_killed_search_resumes_without_redoing_finished_trials(prepared, tmp_path):
    """SIGKILL a search mid-trial: the rerun fails the orphaned trial and runs only what is left."""
    cfg, paths = copy_project(prepared, tmp_path / "p", {"pruner": "none", "n_trials": 3, "study_name": "killed",
                                                         "batch": 1})
    slow = with_overrides(cfg, {"search": {"epochs": 40}, "train": {"patience": 100}})  # time to kill it mid-trial
    script = (
        "import sys, torch; torch.set_num_threads(1); sys.path.insert(0, sys.argv[1]);"
        "from mtlops.config import Config; from mtlops.paths import Paths; from mtlops.search.run import search;"
        "search(Config.model_validate_json(open(sys.argv[2]).read()), Paths.at(sys.argv[3]))"
    )
    cfg_file = tmp_path / "cfg.json"
    cfg_file.write_text(slow.model_dump_json())
    repo = Path(__file__).parents[2]
    proc = subprocess.Popen([sys.executable, "-c", script, str(repo), str(cfg_file), str(paths.root)])
    try:
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            if paths.search_dir.exists() and any(paths.search_dir.glob("*.journal")):
                trials = open_study(cfg, paths).trials
                if len(trials) == 2 and trials[0].state == TrialState.COMPLETE:
                    break
            time.sleep(0.2)
        assert proc.poll() is None, "the search ended before it could be killed"
    finally:
        proc.kill()
        proc.wait()
    first = open_study(cfg, paths).trials[0]

    search(cfg, paths)

    trials = open_study(cfg, paths).trials
    assert trials[1].state == TrialState.FAIL  # the trial the kill interrupted
    assert [t.state for t in trials].count(TrialState.COMPLETE) == 3
    assert len(trials) == 4
    assert (trials[0].params, trials[0].value) == (first.params, first.value)
    assert json.loads(paths.search_summary.read_text())["stale_failed"] == [1]


@pytest.mark.filterwarnings("ignore:Fixed parameter lr")
def test_a_diverging_trial_is_pruned_and_the_study_goes_on(prepared, tmp_path):
    cfg, paths = copy_project(prepared, tmp_path / "p", {"pruner": "none"})
    study = open_study(cfg, paths)
    study.enqueue_trial({"architecture": "hard", "weighting": "equal", "lr": 1e12})
    study.enqueue_trial({"architecture": "hard", "weighting": "equal", "lr": 1e-3})

    search(cfg, paths, n_trials=1)
    # nothing completed yet: the overlay keeps the configured model
    assert json.loads(paths.best_params.read_text()) == {}
    assert "no trial completed" in json.loads(paths.search_summary.read_text())["note"]

    summary = search(cfg, paths, n_trials=2)

    trials = open_study(cfg, paths).trials
    assert [t.state for t in trials] == [TrialState.PRUNED, TrialState.COMPLETE]
    assert "non-finite" in trials[0].user_attrs["pruned_reason"]
    assert summary["best_trial"] == 1
    assert json.loads(paths.best_params.read_text()) == trials[1].user_attrs["overlay"]


def trial_record(trial) -> tuple:
    """What a trial did: its state, params, score per epoch and result (not who ran it, or how fast)."""
    timing = ("worker", "ran_in", "seconds_per_epoch", "cost_ratio")
    kept = {k: v for k, v in trial.user_attrs.items() if k not in timing}
    return trial.number, trial.state, trial.params, trial.intermediate_values, trial.value, kept


def test_two_workers_run_each_batch_side_by_side_with_the_trials_one_worker_runs(prepared, tmp_path, monkeypatch):
    """The batch's params are drawn before it trains and its trials are told together after: the median pruner
    (from epoch 1, after 2 complete trials) and TPE see the same history whichever process ran what, when."""
    monkeypatch.delenv("MTLOPS_POOL_WORKER", raising=False)  # two processes, though the suite's workers hold the cores
    studies, summaries = {}, {}
    for workers in (1, 2):
        cfg, paths = copy_project(prepared, tmp_path / f"w{workers}", {"epochs": 2, "batch": 3})
        summaries[workers] = search(cfg, paths, workers=workers, n_trials=7)
        studies[workers] = open_study(cfg, paths).trials

    assert [trial_record(t) for t in studies[2]] == [trial_record(t) for t in studies[1]]
    assert [t.number for t in studies[2]] == list(range(7))  # the budget exactly: none lost, none twice
    assert summaries[2]["n_complete"] + summaries[2]["n_pruned"] == 7
    assert {t.state for t in studies[2]} == {TrialState.COMPLETE, TrialState.PRUNED}  # the pruner had a say
    assert len({t.user_attrs["worker"] for t in studies[2]}) == 1  # one process asked and told
    ran_in = {t.user_attrs["ran_in"] for t in studies[2]}
    assert len(ran_in) == 2 and studies[2][0].user_attrs["worker"] not in ran_in  # two other processes trained
    assert {t.user_attrs["ran_in"] for t in studies[1]} == {studies[1][0].user_attrs["worker"]}


def test_a_trial_that_fails_stops_the_search_its_batch_fails_and_a_rerun_completes_the_budget(
        prepared, tmp_path, monkeypatch):
    from mtlops.search.objective import Objective

    # one worker: the trials train in this process, where the patch below is
    cfg, paths = copy_project(prepared, tmp_path / "p", {"pruner": "none", "epochs": 1, "n_trials": 3, "workers": 1})
    trained = Objective.__call__

    def breaks_on_trial_1(self, trial):
        if trial.number == 1:
            raise RuntimeError("trial 1: a bug, not a poor candidate")
        return trained(self, trial)

    monkeypatch.setattr(Objective, "__call__", breaks_on_trial_1)
    with pytest.raises(RuntimeError, match="trial 1: a bug"):
        search(cfg, paths)
    assert [t.state for t in open_study(cfg, paths).trials] == [TrialState.FAIL] * 2  # the whole batch, untold

    monkeypatch.setattr(Objective, "__call__", trained)
    search(cfg, paths)
    trials = open_study(cfg, paths).trials
    assert [t.state for t in trials].count(TrialState.COMPLETE) == 3 and len(trials) == 5


def test_the_default_search_repeats_exactly(prepared, tmp_path):
    """Two runs of the default search (batches of 2) draw, prune and score the same trials."""
    from mtlops.schema import SearchConfig

    assert SearchConfig().batch == 2 and SearchConfig().workers is None
    runs = []
    for name in ("a", "b"):
        cfg, paths = copy_project(prepared, tmp_path / name, {"epochs": 2})
        search(cfg, paths, n_trials=3)
        runs.append([trial_record(t) for t in open_study(cfg, paths).trials])
    assert runs[0] == runs[1] and len(runs[0]) == 3


def test_hyperband_is_refused_with_batches(prepared, tmp_path):
    from mtlops.config import ConfigError

    with pytest.raises(ConfigError, match=r"search.*hyperband.*batch 2.*set batch: 1"):
        copy_project(prepared, tmp_path / "p", {"pruner": "hyperband"})
    cfg, _ = copy_project(prepared, tmp_path / "q", {"pruner": "hyperband", "batch": 1})
    assert cfg.search.pruner == "hyperband"


def test_sqlite_storage_works_for_one_worker_and_is_refused_for_two(prepared, tmp_path):
    from mtlops.search.storage import SearchStorageError

    cfg, paths = copy_project(prepared, tmp_path / "p")
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    with pytest.raises(SearchStorageError, match="sqlite"):
        search(cfg, paths, storage=url, workers=2, n_trials=1)
    search(cfg, paths, storage=url, n_trials=1)
    assert len(open_study(cfg, paths, storage=url).trials) == 1


def test_disabled_search_keeps_the_configured_model(prepared, tmp_path):
    cfg, paths = copy_project(prepared, tmp_path / "p", {"enabled": False})
    search(cfg, paths)
    assert json.loads(paths.best_params.read_text()) == {}
    assert with_overrides(cfg, {}).model == cfg.model


def test_train_applies_the_best_params(prepared, tmp_path):
    from mtlops.stages import train
    from mtlops.training import load_model

    cfg, paths = copy_project(prepared, tmp_path / "p", {"pruner": "none"})
    study = open_study(cfg, paths)
    study.enqueue_trial({"architecture": "mmoe", "weighting": "dwa", "mmoe.experts": 3})
    search(cfg, paths, n_trials=1)
    overlay = json.loads(paths.best_params.read_text())
    assert overlay["model"]["architecture"]["name"] == "mmoe"

    train.run(cfg, paths)

    history = json.loads(paths.history.read_text())
    assert history["architecture"] == overlay["model"]["architecture"]
    assert history["weighting"] == overlay["model"]["weighting"]
    model = load_model(paths.checkpoint)
    assert model.spec.architecture == "mmoe"
    # the checkpoint records the resolved params: the searched ones plus the architecture's defaults
    assert model.spec.arch_params.items() >= overlay["model"]["architecture"]["params"].items()


def test_a_trial_whose_worker_vanished_unnamed_does_not_stall_the_search(prepared, tmp_path):
    """A RUNNING trial with no owner (its worker died between `ask` and naming itself) is failed after the
    search's grace; before #25 the worker waited for it until the time budget ran out."""
    cfg, paths = copy_project(prepared, tmp_path / "p", {"pruner": "none", "epochs": 1, "grace_s": 1})
    study = open_study(cfg, paths)
    orphan = study.ask()
    time.sleep(1.1)
    started = time.monotonic()
    summary = search(cfg, paths, n_trials=1, timeout_s=90)
    assert time.monotonic() - started < 60
    assert summary["n_complete"] == 1
    assert json.loads(paths.search_summary.read_text())["stopped_by"] == "budget"
    assert open_study(cfg, paths).trials[orphan.number].state == TrialState.FAIL
