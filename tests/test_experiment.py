"""Inside a DVC experiment: its name and baseline, the params it changed, and `-S` values the search must not hide."""

from __future__ import annotations

import subprocess

import pytest
import yaml

from mtlops.config import deep_merge
from mtlops.errors import UserError
from mtlops.experiment import (
    BASELINE_ENV,
    NAME_ENV,
    ROOT_ENV,
    changed_keys,
    current,
    hold_reason,
    refuse_hidden_overrides,
)
from mtlops.paths import Paths
from tests.helpers import synthetic_params

OVERLAY = {"model": {"architecture": {"name": "mmoe", "params": {"experts": 3}}}, "train": {"lr": 0.004}}


def _git(root, *args: str) -> str:
    proc = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=True)
    return proc.stdout.strip()


@pytest.fixture
def repo(tmp_path):
    """A git repo whose committed params.yaml is the baseline; returns (root, baseline commit)."""
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(synthetic_params(), sort_keys=False))
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", "params.yaml")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "baseline")
    return tmp_path, _git(tmp_path, "rev-parse", "HEAD")


def _set(root, overrides: dict) -> None:
    params = deep_merge(synthetic_params(), overrides)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def test_outside_an_experiment_nothing_is_changed(repo, monkeypatch):
    root, _ = repo
    monkeypatch.delenv(NAME_ENV, raising=False)
    _set(root, {"train": {"lr": 0.5}})
    assert current() is None and changed_keys(root / "params.yaml") == set()
    refuse_hidden_overrides(root / "params.yaml", OVERLAY)  # a plain run applies the search as configured


@pytest.mark.parametrize(
    ("env", "both", "either", "name"),
    [
        ({}, False, False, False),
        ({NAME_ENV: "fox"}, False, True, True),
        ({BASELINE_ENV: "ab" * 20}, False, True, False),
        ({NAME_ENV: "fox", BASELINE_ENV: "ab" * 20}, True, True, True),
        ({NAME_ENV: "", BASELINE_ENV: "ab" * 20, ROOT_ENV: "/r"}, False, True, False),
    ],
)
def test_each_caller_keeps_its_own_rule_for_what_makes_an_experiment(env, both, either, name):
    """Lineage needs name and baseline; the promote hold takes either; the store root takes the name."""
    assert (current(env) is not None, current(env, "either") is not None, current(env, "name") is not None) == (
        both, either, name,
    )  # fmt: skip
    assert (hold_reason(env) is not None) == either


def test_a_half_set_environment_still_holds_champion():
    assert hold_reason({NAME_ENV: "fox"}) == "dvc exp run (experiment 'fox', baseline unknown)"
    assert (hold_reason({BASELINE_ENV: "0123456789abcdef"})
            == "dvc exp run (experiment 'unnamed', baseline 0123456789ab)")


def test_in_an_experiment_the_store_is_dvc_root(tmp_path, monkeypatch):
    (tmp_path / "exp").mkdir()
    monkeypatch.delenv(BASELINE_ENV, raising=False)
    monkeypatch.setenv(NAME_ENV, "fox")
    monkeypatch.setenv(ROOT_ENV, str(tmp_path / "repo"))
    assert Paths.for_params(tmp_path / "exp" / "params.yaml").mlflow_dir == tmp_path / "repo" / "mlflow"
    monkeypatch.delenv(NAME_ENV)
    assert Paths.for_params(tmp_path / "exp" / "params.yaml").store_root != tmp_path / "repo"


def test_an_experiment_knows_its_ref_and_what_it_set(repo, monkeypatch):
    root, baseline = repo
    monkeypatch.setenv(NAME_ENV, "brave-fox")
    monkeypatch.setenv(BASELINE_ENV, baseline)
    assert current().ref == f"refs/exps/{baseline[:2]}/{baseline[2:]}/brave-fox"
    _set(root, {"train": {"lr": 0.5, "epochs": 3}, "model": {"architecture": {"name": "mmoe"}}})
    assert changed_keys(root / "params.yaml") == {"train.lr", "train.epochs", "model.architecture.name"}


@pytest.mark.parametrize(
    ("overrides", "hidden"),
    [
        ({"train": {"lr": 0.5}}, "train.lr"),
        ({"model": {"architecture": {"name": "soft"}}}, "model.architecture"),
    ],
)
def test_a_searched_key_the_experiment_set_is_refused_naming_the_way_out(repo, monkeypatch, overrides, hidden):
    root, baseline = repo
    monkeypatch.setenv(NAME_ENV, "brave-fox")
    monkeypatch.setenv(BASELINE_ENV, baseline)
    _set(root, overrides)
    with pytest.raises(UserError, match=rf"brave-fox.*search.fixed=\[{hidden}\].*use_search=false"):
        refuse_hidden_overrides(root / "params.yaml", OVERLAY)


def test_a_key_the_search_does_not_choose_passes(repo, monkeypatch):
    root, baseline = repo
    monkeypatch.setenv(NAME_ENV, "brave-fox")
    monkeypatch.setenv(BASELINE_ENV, baseline)
    _set(root, {"train": {"epochs": 3}})
    refuse_hidden_overrides(root / "params.yaml", OVERLAY)
    # a fixed key is not in the overlay the search writes: nothing to hide
    _set(root, {"train": {"lr": 0.5}, "search": {"fixed": ["train.lr"]}})
    refuse_hidden_overrides(root / "params.yaml", {"model": OVERLAY["model"], "train": {}})
