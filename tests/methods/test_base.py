"""The method base: one coercion of params, one check (types, `bounds`, the method's own hook), one default draw."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import optuna
import pytest

from mtlops.catalog import check_method_params
from mtlops.methods import Above, Method, NoParams, Range
from mtlops.models.architectures import ARCHITECTURES
from mtlops.schema import SearchSpace
from mtlops.weighting import WEIGHTINGS


@dataclass
class ProbeParams:
    size: int = 4
    rate: float = 0.5
    scales: list[float] = field(default_factory=lambda: [1.0])
    limit: int = 10


class Probe(Method):
    Params = ProbeParams
    bounds = {"size": (1, None), "rate": (Above(0.0), 1.0), "scales": (0.0, None)}
    search_space = {"rate": Range(0.01, 1.0, log=True), "size": "width"}

    @classmethod
    def check_more(cls, params, task_names):
        return None if params.size <= params.limit else f"params.size {params.size} > params.limit {params.limit}"


def test_coerce_params_takes_a_dict_a_params_or_none():
    assert Probe.coerce_params(None) == ProbeParams()
    assert Probe.coerce_params({"size": 7}) == ProbeParams(size=7)
    given = ProbeParams(rate=0.2)
    assert Probe.coerce_params(given) is given
    assert Method.coerce_params(None) == NoParams()


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({}, None),
        ({"sise": 3}, "unknown params ['sise']; allowed: ['limit', 'rate', 'scales', 'size']"),
        ({"size": "big"}, "params.size: Input should be a valid integer"),
        ({"size": 0}, "params.size = 0; allowed: size >= 1"),
        ({"rate": 0.0}, "params.rate = 0.0; allowed: 0.0 < rate <= 1.0"),
        ({"rate": 1.5}, "params.rate = 1.5; allowed: 0.0 < rate <= 1.0"),
        ({"rate": math.nan}, "params.rate = nan; allowed: 0.0 < rate <= 1.0"),
        ({"scales": [1.0, -2.0]}, "params.scales[1] = -2.0; allowed: scales >= 0.0"),
        ({"size": 11}, "params.size 11 > params.limit 10"),  # the method's own cross-field hook
        ({"size": 11, "limit": 20}, None),
    ],
)
def test_check_params_names_the_key_the_value_and_what_is_allowed(params, problem):
    got = Probe.check_params(params, ["a"])
    assert got is None if problem is None else got.startswith(problem)  # pydantic may add detail to its line


def test_check_params_checks_types_before_bounds_and_bounds_before_the_hook():
    assert "Input should be a valid integer" in Probe.check_params({"size": 0.5, "limit": -1}, ["a"])
    assert Probe.check_params({"size": 0, "limit": -1}, ["a"]) == "params.size = 0; allowed: size >= 1"


def test_check_method_params_prefixes_the_method_and_refuses_unknown_names():
    assert check_method_params("weighting", "dwa", {"temperature": -1.0}, ["a"]).startswith("dwa: params.temperature")
    assert check_method_params("architecture", "deep", {}, ["a"]).startswith("unknown architecture 'deep'; allowed:")


def test_the_default_suggest_draws_each_declared_param_in_order_with_its_fields_type():
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    trial = study.ask()
    space = SearchSpace(width=(8, 64))
    drawn = Probe.suggest(trial, space, ["a"])
    assert list(drawn) == ["rate", "size"] == list(trial.params)
    assert isinstance(drawn["size"], int) and 8 <= drawn["size"] <= 64
    assert trial.distributions["size"] == optuna.distributions.IntDistribution(8, 64, log=True)  # width is log scale
    assert trial.distributions["rate"] == optuna.distributions.FloatDistribution(0.01, 1.0, log=True)
    assert Probe.check_params({**drawn, "limit": 64}, ["a"]) is None


@pytest.mark.parametrize("method", [*ARCHITECTURES.values(), *WEIGHTINGS.values()], ids=lambda m: m.__name__)
def test_every_registered_method_declares_only_its_own_fields(method):
    fields = set(method.Params.__dataclass_fields__)
    assert set(method.bounds) <= fields
    assert set(method.search_space) <= fields
    assert method.check_params({}, ["a", "b"]) is None  # the defaults are inside the bounds
