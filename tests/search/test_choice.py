"""What the search returns: trial 0 is the configured model, the budget repeats exactly, and the choice
protects every task and prefers the cheaper of two candidates within noise."""

from __future__ import annotations

import json

import optuna
import pytest

from mtlops.search.run import chosen_trial, search
from mtlops.search.storage import open_study
from tests.search.test_search import copy_project, prepared  # noqa: F401  (module fixture)

pytestmark = pytest.mark.xdist_group("search")


def test_trial_zero_trains_the_configured_model(prepared, tmp_path):  # noqa: F811
    cfg, paths = copy_project(prepared, tmp_path / "p", {"pruner": "none", "epochs": 1})
    search(cfg, paths, n_trials=2)
    first = open_study(cfg, paths).trials[0]
    assert first.user_attrs["configured"] is True and first.user_attrs["overlay"] == {}
    assert first.params["architecture"] == cfg.model.architecture.name
    assert first.params["weighting"] == cfg.model.weighting.name
    assert first.state == optuna.trial.TrialState.COMPLETE
    report = json.loads(paths.search_summary.read_text())
    assert report["trials"][0]["configured"] and report["stopped_by"] == "budget"
    if json.loads(paths.best_params.read_text()) == {}:  # the configured model won: said so, not "none completed"
        assert report["note"].startswith("the configured model (trial 0) was chosen")
    else:
        assert "note" not in report


def test_the_same_params_give_the_same_trials(prepared, tmp_path):  # noqa: F811
    runs = []
    for name in ("a", "b"):
        cfg, paths = copy_project(prepared, tmp_path / name, {"epochs": 2})
        search(cfg, paths, n_trials=4)
        runs.append([(t.params, t.state, t.value) for t in open_study(cfg, paths).trials])
    assert runs[0] == runs[1] and len(runs[0]) == 4


def _study(values: list[tuple[float, dict[str, float], int]]) -> optuna.Study:
    """A study of complete trials: (score, each task's shortfall below its single-task model, parameters)."""
    study = optuna.create_study(direction="maximize")
    for score, below, n_params in values:
        study.add_trial(optuna.trial.create_trial(
            value=score, params={}, distributions={},
            user_attrs={"tasks_below_single_task": below, "n_params": n_params, "overlay": {}}))
    return study


def test_a_candidate_that_sacrifices_a_task_ranks_behind_one_that_does_not(prepared, tmp_path):  # noqa: F811
    cfg, _ = copy_project(prepared, tmp_path / "p", {"noise_band": 0.5})
    study = _study([(3.0, {"y1": 2.0, "y2": 0.0}, 100), (1.0, {"y1": 0.0, "y2": 0.0}, 100)])
    assert chosen_trial(cfg, study).number == 1
    everyone_below = _study([(3.0, {"y1": 2.0}, 100), (1.0, {"y1": 1.0}, 100)])
    assert chosen_trial(cfg, everyone_below).number == 0  # none protects every task: the best score


def test_within_the_noise_band_the_smaller_model_wins_and_beyond_it_the_better(prepared, tmp_path):  # noqa: F811
    cfg, _ = copy_project(prepared, tmp_path / "p", {"noise_band": 0.5})
    assert chosen_trial(cfg, _study([(2.0, {}, 10_000), (1.7, {}, 1_000), (0.5, {}, 10)])).number == 1
    assert chosen_trial(cfg, _study([(2.0, {}, 10_000), (1.2, {}, 1_000)])).number == 0
