"""The conditional space: every method draws valid params of its own, inside the configured ranges."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import optuna
import pytest

from mtlops.config import with_overrides
from mtlops.methods import Method
from mtlops.models.architectures import ARCHITECTURES
from mtlops.search.space import SearchSpaceError, check_space, searched_methods, suggest_overlay
from mtlops.weighting import WEIGHTINGS


def draw(cfg, **fixed):
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    study.enqueue_trial(fixed)
    trial = study.ask()
    return trial, suggest_overlay(trial, cfg.search.space, cfg.task_names)


@pytest.mark.parametrize("arch, weighting", list(itertools.zip_longest(ARCHITECTURES, WEIGHTINGS, fillvalue="hard")))
def test_each_method_draws_params_that_validate(project, arch, weighting):
    cfg, _ = project
    # every registered method, those off the default search (TabM) too
    cfg = with_overrides(cfg, {"search": {"space": {"architectures": list(ARCHITECTURES)}}})
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
    # a method that keeps the default draw searches exactly what its file declares, under its prefix
    for kind, name in (("architecture", arch), ("weighting", weighting)):
        method = (ARCHITECTURES if kind == "architecture" else WEIGHTINGS)[name]
        drawn = overlay["model"][kind]["params"]
        if "suggest" not in vars(method):
            assert list(drawn) == list(method.search_space)
            assert all(trial.params[f"{name}.{p}"] == v for p, v in drawn.items())


def test_the_method_lists_default_to_every_registered_method_in_registry_order(project):
    """...that searches by default (`Method.default_search`): TabM only when listed."""
    cfg, _ = project
    space = cfg.search.space.model_copy(update={"architectures": None, "weightings": None})
    default = [name for name, cls in ARCHITECTURES.items() if cls.default_search]
    assert searched_methods(space, "architecture") == default and "tabm" not in default
    assert searched_methods(space, "weighting") == list(WEIGHTINGS)
    trial, _ = draw(cfg.model_copy(update={"search": cfg.search.model_copy(update={"space": space})}))
    assert trial.distributions["architecture"].choices == tuple(default)
    chosen = cfg.search.space.model_copy(update={"architectures": ["ple", "hard"]})
    assert searched_methods(chosen, "architecture") == ["ple", "hard"]  # a list is kept as written


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


def test_an_empty_method_list_is_refused(project):
    cfg, _ = project
    with pytest.raises(SearchSpaceError, match=r"search.space.weightings: empty"):
        check_space(cfg.search.space.model_copy(update={"weightings": []}), cfg.task_names)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("dropout", (0.0, 0.99), r"search.space.dropout: \[0.0, 0.99\]; hard allows 0.0 <= dropout <= 0.95"),
        ("depth", (0, 2), r"search.space.depth: \[0, 2\]; hard allows depth >= 1"),
    ],
)
def test_a_shared_range_outside_a_searched_methods_bounds_is_refused(project, key, value, message):
    cfg, _ = project
    with pytest.raises(SearchSpaceError, match=message):
        check_space(cfg.search.space.model_copy(update={key: value}), cfg.task_names)


def test_the_bounds_checked_are_those_of_the_param_a_range_is_drawn_for(project):
    cfg, _ = project
    space = cfg.search.space.model_copy(update={"architectures": ["ple"], "depth": (0, 2)})
    with pytest.raises(SearchSpaceError, match=r"search.space.depth: \[0, 2\]; ple allows num_levels >= 1"):
        check_space(space, cfg.task_names)  # PLE draws its number of levels from the depth range


@dataclass
class OddParams:
    size: int = 1
    on: bool = False


@pytest.mark.parametrize(
    ("declared", "message"),
    [
        ({"size": "widht"}, r"weighting odd: search_space draws size from search.space.widht, no such range"),
        ({"on": "width"}, r"weighting odd: search_space names 'on', not an int or float of its Params"),
    ],
)
def test_a_method_declaring_a_space_the_search_cannot_draw_is_refused(project, monkeypatch, declared, message):
    cfg, _ = project
    odd = type("Odd", (Method,), {"Params": OddParams, "search_space": declared})
    monkeypatch.setitem(WEIGHTINGS, "odd", odd)
    with pytest.raises(SearchSpaceError, match=message):
        check_space(cfg.search.space.model_copy(update={"weightings": ["odd"]}), cfg.task_names)


def test_a_fixed_key_is_neither_drawn_nor_overlaid(project):
    """`search.fixed` keeps params.yaml's value: the trial does not draw it and the overlay leaves it alone."""
    from mtlops.search.storage import problem_hash

    cfg, paths = project
    fixed = ["model.architecture", "train.lr"]
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    trial = study.ask()
    overlay = suggest_overlay(trial, cfg.search.space, cfg.task_names, fixed)
    assert "architecture" not in trial.params and "lr" not in trial.params and "weighting" in trial.params
    assert set(overlay["model"]) == {"weighting"} and set(overlay["train"]) == {"weight_decay", "batch_size"}
    applied = with_overrides(cfg, overlay)
    assert applied.model.architecture == cfg.model.architecture and applied.train.lr == cfg.train.lr
    # the fixed values shape every trial's score, so they name the study
    pinned = with_overrides(cfg, {"search": {"fixed": fixed}})
    assert problem_hash(pinned, paths) != problem_hash(cfg, paths)
    assert problem_hash(with_overrides(pinned, {"train": {"lr": 0.5}}), paths) != problem_hash(pinned, paths)
    # trial 0 trains the configured model, so its values name the study too
    assert problem_hash(with_overrides(cfg, {"train": {"lr": 0.5}}), paths) != problem_hash(cfg, paths)
