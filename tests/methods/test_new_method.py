"""A new architecture and a new weighting, each defined here alone and registered with one line, are
checked by the config, searched (their declared params drawn by the search stage) and trained by `fit`."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
import torch
from torch import Tensor, nn

from mtlops.catalog import check_methods
from mtlops.config import ConfigError, with_overrides
from mtlops.methods.base import Above, Range
from mtlops.models.architectures import ARCHITECTURES, Architecture
from mtlops.weighting import WEIGHTINGS, Weighting
from tests.helpers import make_project


@dataclass
class GainParams:
    width: int = 8
    gain: float = 1.0


class Gain(Architecture):
    """One shared ReLU layer whose output is scaled by `gain`; every task reads it as it is."""

    Params = GainParams
    bounds = {"width": (1, None), "gain": (Above(0.0), None)}
    search_space = {"width": "width", "gain": Range(0.5, 2.0, log=True)}

    def __init__(self, in_dim: int, task_names: list[str], params: GainParams | dict | None = None) -> None:
        super().__init__(in_dim, task_names, params)
        self.shared = nn.Sequential(nn.Linear(in_dim, self.params.width), nn.ReLU())

    def trunk(self, h: Tensor) -> tuple[Tensor, ...]:
        return (self.params.gain * self.shared(h),)

    def branch(self, task: str, state: tuple[Tensor, ...]) -> Tensor:
        return state[0]

    def out_dim(self, task: str) -> int:
        return self.params.width


@dataclass
class TiltParams:
    tilt: float = 1.0  # the first task's weight; the others keep 1


class Tilt(Weighting):
    """The first task's loss weighted by `tilt`."""

    Params = TiltParams
    bounds = {"tilt": (0.0, None)}
    search_space = {"tilt": Range(0.1, 10.0, log=True)}
    steps = 0  # combine calls, counted to see the trainer use it

    def combine(self, losses: Tensor) -> tuple[Tensor, Tensor]:
        Tilt.steps += 1
        weights = torch.ones_like(losses)
        weights[0] = self.params.tilt
        return (weights * losses).sum(), weights


@pytest.fixture
def registered(monkeypatch):
    monkeypatch.setitem(ARCHITECTURES, "gain", Gain)
    monkeypatch.setitem(WEIGHTINGS, "tilt", Tilt)
    monkeypatch.setattr(Tilt, "steps", 0)


def test_the_config_checks_a_new_method_against_its_own_file(registered, project):
    cfg, _ = project

    def checked(overlay):
        new = with_overrides(cfg, overlay)
        check_methods(new, "<overrides>")
        return new

    ok = checked({"model": {"architecture": {"name": "gain", "params": {"gain": 1.5}},
                            "weighting": {"name": "tilt", "params": {"tilt": 3.0}}}})
    assert ok.model.architecture.name == "gain" and ok.model.weighting.params == {"tilt": 3.0}
    with pytest.raises(ConfigError, match=r"model.weighting: tilt: params.tilt = -1.0; allowed: tilt >= 0.0"):
        checked({"model": {"weighting": {"name": "tilt", "params": {"tilt": -1.0}}}})
    with pytest.raises(ConfigError, match=r"model.architecture: gain: params.gain = 0.0; allowed: gain > 0.0"):
        checked({"model": {"architecture": {"name": "gain", "params": {"gain": 0.0}}}})


def test_a_new_architecture_and_weighting_are_searched_and_trained(registered, tmp_path):
    from mtlops.data.ingest import ingest
    from mtlops.data.prepare import prepare
    from mtlops.search.run import search
    from mtlops.search.storage import open_study
    from mtlops.training.from_config import train_from_config

    # the space's method lists are left at null: every registered method, the new ones included
    space = {"width": [8, 16], "batch_size": [64]}
    cfg, paths = make_project(tmp_path, overrides={"baselines": {"gbdt": False},
                                                   "search": {"space": space, "epochs": 2, "pruner": "none"}})
    assert cfg.search.space.architectures is None and cfg.search.space.weightings is None
    ingest(cfg, paths)
    prepare(cfg, paths)
    open_study(cfg, paths).enqueue_trial({"architecture": "gain", "weighting": "tilt"})  # the rest is sampled

    summary = search(cfg, paths, n_trials=1)

    assert summary["n_complete"] == 1
    (trial,) = open_study(cfg, paths).trials
    assert trial.distributions["architecture"].choices[-1] == "gain"  # registry order, the new one last
    assert trial.distributions["weighting"].choices[-1] == "tilt"
    assert set(trial.params) == {"architecture", "weighting", "gain.width", "gain.gain", "tilt.tilt",
                                 "lr", "weight_decay", "batch_size"}
    assert 8 <= trial.params["gain.width"] <= 16 and 0.5 <= trial.params["gain.gain"] <= 2.0
    assert 0.1 <= trial.params["tilt.tilt"] <= 10.0
    assert trial.user_attrs["epochs"] == 2 and Tilt.steps > 0  # the trial trained with the new weighting

    overlay = json.loads(paths.best_params.read_text())
    assert overlay["model"]["architecture"] == {
        "name": "gain", "params": {"width": trial.params["gain.width"], "gain": trial.params["gain.gain"]}
    }
    assert overlay["model"]["weighting"] == {"name": "tilt", "params": {"tilt": trial.params["tilt.tilt"]}}
    best = with_overrides(cfg, overlay)
    check_methods(best, "<overrides>")  # the overlay validates against the new methods' own Params

    result = train_from_config(best, paths)
    assert isinstance(result.model.architecture, Gain)
    assert result.model.architecture.params == GainParams(**overlay["model"]["architecture"]["params"])
    first, *rest = cfg.task_names
    applied = result.history[-1]["weights"]
    assert applied[first] == pytest.approx(trial.params["tilt.tilt"]) and all(applied[t] == 1.0 for t in rest)
