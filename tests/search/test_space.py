"""The conditional space: every method draws valid params of its own, inside the configured ranges."""

from __future__ import annotations

import itertools

import optuna
import pytest

from mtlops.config import with_overrides
from mtlops.search.space import SearchSpaceError, check_space, suggest_overlay


def draw(cfg, **fixed):
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    study.enqueue_trial(fixed)
    trial = study.ask()
    return trial, suggest_overlay(trial, cfg.search.space, cfg.task_names)


@pytest.mark.parametrize(
    "arch, weighting",
    list(itertools.zip_longest(["hard", "soft", "cross_stitch", "mmoe", "ple"],
                               ["equal", "static", "uncertainty", "dwa", "gradnorm", "pcgrad", "famo"],
                               fillvalue="hard")),
)
def test_each_method_draws_params_that_validate(project, arch, weighting):
    cfg, _ = project
    trial, overlay = draw(cfg, architecture=arch, weighting=weighting)
    applied = with_overrides(cfg, overlay)  # the schema (and each method's own Params) accepts it
    assert applied.model.architecture.name == arch
    assert applied.model.weighting.name == weighting
    # conditional: only this architecture's and this weighting's params were drawn
    prefixed = {name.split(".")[0] for name in trial.params if "." in name}
    assert prefixed <= {arch, weighting}
    space = cfg.search.space
    assert space.lr[0] <= overlay["train"]["lr"] <= space.lr[1]
    assert overlay["train"]["batch_size"] in space.batch_size
    params = overlay["model"]["architecture"]["params"]
    if "width" in params:
        assert space.width[0] <= params["width"] <= space.width[1]


def test_static_weights_lie_on_the_simplex_scaled_to_the_task_count(project):
    cfg, _ = project
    for seed in range(5):
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
        study.enqueue_trial({"weighting": "static"})
        overlay = suggest_overlay(study.ask(), cfg.search.space, cfg.task_names)
        weights = overlay["model"]["weighting"]["params"]["weights"]
        assert set(weights) == set(cfg.task_names)
        assert sum(weights.values()) == pytest.approx(len(cfg.task_names))
        assert all(w > 0 for w in weights.values())


def test_unknown_methods_in_the_space_are_refused(project):
    cfg, _ = project
    space = cfg.search.space.model_copy(update={"architectures": ["hard", "transformer"]})
    with pytest.raises(SearchSpaceError, match=r"search.space.architectures.*'transformer'.*allowed"):
        check_space(space, cfg.task_names)
    check_space(cfg.search.space, cfg.task_names)


@pytest.mark.parametrize("key, value", [("width", (256, 32)), ("lr", (0.0, 0.1)), ("batch_size", [])])
def test_bad_ranges_are_refused_naming_the_key(project, key, value):
    cfg, _ = project
    space = cfg.search.space.model_copy(update={key: value})
    with pytest.raises(SearchSpaceError, match=f"search.space.{key}"):
        check_space(space, cfg.task_names)
