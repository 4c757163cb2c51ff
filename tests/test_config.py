"""The params schema and the config checks: a good file loads; each kind of mistake fails at a checked
load (`mtlops.checks.load_checked`, what the CLI and the flow call), naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mtlops.checks import load_checked
from mtlops.config import deep_merge, load_config, with_overrides
from mtlops.errors import UserError
from mtlops.schema import ConfigError
from tests.helpers import mixed_params, synthetic_params, write_mixed_csv

REPO = Path(__file__).resolve().parents[1]


def _load(tmp_path: Path, params: dict, overrides: dict | None = None):
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(deep_merge(params, overrides or {}), sort_keys=False))
    return load_checked(path)


def _tasks(**changes) -> dict:
    """The synthetic tasks with the first one changed."""
    tasks = synthetic_params()["tasks"]
    return {"tasks": [{**tasks[0], **changes}, tasks[1]]}


def test_repo_params_load():
    cfg = load_checked(REPO / "params.yaml")
    assert cfg.data.source == "flights" and cfg.target_names == ["delayed", "cancelled", "arr_delay"]
    # post-hoc labels: trained with, never served (air_time off: its weight 0; the search may switch it on)
    assert [t.name for t in cfg.tasks if t.role == "auxiliary"] == ["dep_delay", "air_time"]
    assert cfg.auxiliary_names == ["dep_delay"]
    assert not {"dep_delay", "air_time"} & set(cfg.features.all_columns())
    assert cfg.task("arr_delay").higher_is_better is False and cfg.task("delayed").higher_is_better is True


def test_defaults_fill_in_and_hashes_are_stable(tmp_path):
    cfg = _load(tmp_path, synthetic_params())
    assert cfg.task("y1").loss == "mse" and cfg.split.method == "random"
    again = _load(tmp_path, synthetic_params())
    assert cfg.section_hash() == again.section_hash() and cfg.section_hash("data") == again.section_hash("data")
    assert with_overrides(cfg, {"train": {"lr": 0.1}}).section_hash("train") != cfg.section_hash("train")
    assert with_overrides(cfg, {"train": {"lr": 0.1}}).section_hash("data") == cfg.section_hash("data")


def test_file_source_loads_and_reads_its_header(tmp_path):
    cfg = _load(tmp_path, mixed_params(write_mixed_csv(tmp_path / "m.csv", n=30)))
    assert cfg.task("segment").classes == [0, 1, 2]


MISTAKES = {
    "unknown root key": ({"trainer": {"epochs": 3}}, ["trainer", "unknown key"]),
    "unknown nested key": (
        {"data": {"synthetic": {"corr": 0.3}}}, ["data.synthetic.corr", "unknown key", "correlation"]),
    "unknown key in a task": (_tasks(colour="red"), ["tasks.0.colour", "unknown key"]),
    "wrong type": ({"train": {"epochs": "many"}}, ["train.epochs"]),
    "wrong type nested": ({"split": {"val_fraction": "a lot"}}, ["split.val_fraction"]),
    "out of range": ({"train": {"batch_size": 0}}, ["train.batch_size"]),
    "task column not in data": (_tasks(column="y9"), ["tasks.0.column", "y9"]),
    "feature not in data": ({"features": {"numeric": ["x0", "x99"]}}, ["features.numeric", "x99"]),
    "unknown task type": (_tasks(type="ranking"), ["tasks.0.type", "ranking", "regression"]),
    "metric misfits type": (_tasks(metric="roc_auc"), ["tasks.0", "roc_auc", "regression"]),
    "loss misfits type": (_tasks(type="binary", metric="roc_auc", loss="mse"), ["tasks.0", "mse", "binary"]),
    "split leaves train empty": ({"split": {"val_fraction": 0.5, "test_fraction": 0.5}}, ["split", "val_fraction"]),
    "time split without date": ({"split": {"method": "time"}}, ["split.method", "data.date_column"]),
    "unknown source": ({"data": {"source": "s3"}}, ["data.source", "s3", "flights"]),
    "a method's params misfit": (
        {"model": {"weighting": {"name": "dwa", "params": {"temperature": -1.0}}}}, ["model.weighting", "dwa:"]),
    "unknown architecture": ({"model": {"architecture": {"name": "deep"}}}, ["model.architecture", "'deep'"]),
    "label is a feature": ({"features": {"numeric": ["x0", "y1"]}}, ["features", "y1"]),
    "duplicate task names": (
        {"tasks": [synthetic_params()["tasks"][0]] * 2}, ["tasks", "unique"]),
    "bad task name": (_tasks(name="y 1"), ["tasks.0.name", "identifier"]),
    "a feature twice": ({"features": {"numeric": ["x0", "x1", "x0"]}}, ["'x0'", "declared more than once"]),
    "a column numeric and categorical": (
        {"features": {"categorical": ["x1"]}}, ["'x1'", "(features.numeric, features.categorical)"]),
    "two tasks on one column": (_tasks(column="y2"), ["'y2'", "(tasks.0.column, tasks.1.column)"]),
    "a key column twice": ({"data": {"key": ["x0", "x0"]}}, ["'x0'", "data.key, data.key"]),
    # what a later stage would refuse, refused at load (#18.11)
    "search width low above high": ({"search": {"space": {"width": [64, 16]}}}, ["search.space.width", "[64, 16]"]),
    "search space unknown method": (
        {"search": {"space": {"weightings": ["equal", "magic"]}}}, ["search.space.weightings", "'magic'"]),
    "no search budget": ({"search": {"n_trials": None, "timeout_s": None}}, ["search", "budget"]),
    "sqlite with parallel workers": (
        {"search": {"storage": "sqlite:///s.db", "workers": 2}}, ["search.storage", "sqlite", "workers"]),
    "not a device": ({"train": {"device": "gpu0"}}, ["train.device", "'gpu0'"]),
    "a split date that is not one": ({"split": {"test_start": "2013-02-30"}}, ["split.test_start", "not a date"]),
}


@pytest.mark.parametrize("case", list(MISTAKES))
def test_mistakes_fail_naming_the_key(tmp_path, case):
    overrides, needles = MISTAKES[case]
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, synthetic_params(), overrides)
    message = str(err.value)
    assert str(tmp_path / "params.yaml") in message
    for needle in needles:
        assert needle in message, f"{needle!r} not in {message!r}"


def test_load_config_reads_the_schema_alone(tmp_path):
    """Reading a file checks no data, method or stage: those are `load_checked`'s."""
    path = tmp_path / "params.yaml"
    params = deep_merge(synthetic_params(), {"features": {"numeric": ["x0", "x99"]}, "train": {"device": "gpu0"}})
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    assert load_config(path).features.numeric == ["x0", "x99"]
    with pytest.raises(ConfigError, match=r"features\.numeric.*x99"):
        load_checked(path)


def test_overrides_are_validated_again(tmp_path):
    cfg = _load(tmp_path, synthetic_params())
    with pytest.raises(ConfigError, match=r"train.optimizer"):
        with_overrides(cfg, {"train": {"optimizer": "adagrad"}})


@pytest.mark.parametrize(
    ("make_file", "needle"),
    [
        (lambda p: None, "file not found"),
        (lambda p: p.write_text(""), "file is empty"),
        (lambda p: p.write_bytes(b"\xff\xfe\x00garbage"), "not a readable CSV"),
    ],
)
def test_file_source_problems_name_the_file(tmp_path, make_file, needle):
    path = tmp_path / "user.csv"
    make_file(path)
    with pytest.raises(UserError) as err:
        _load(tmp_path, mixed_params(path))
    assert str(path) in str(err.value) and needle in str(err.value)


def test_file_column_missing_names_the_column(tmp_path):
    csv = write_mixed_csv(tmp_path / "m.csv", n=20)
    params = mixed_params(csv)
    params["features"]["categorical"] = ["shop", "region"]
    with pytest.raises(ConfigError, match=r"features\.categorical.*'region'"):
        _load(tmp_path, params)


def test_unreadable_params_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.yaml")
    (tmp_path / "bad.yaml").write_text("tasks: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(tmp_path / "bad.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(tmp_path / "list.yaml")


def test_a_relative_data_path_starts_at_the_params_folder_not_the_current_one(tmp_path, monkeypatch):
    from mtlops.data.sources.file import resolved_path

    project = tmp_path / "project"
    write_mixed_csv(project / "rows.csv", n=30)
    write_mixed_csv(tmp_path / "elsewhere" / "rows.csv", n=40)  # a decoy where the command is run
    monkeypatch.chdir(tmp_path / "elsewhere")
    cfg = _load(project, mixed_params(Path("rows.csv")))
    assert cfg.data.file.path == "rows.csv"  # as written: hashes do not depend on where the project lives
    assert resolved_path(cfg) == project / "rows.csv"
    assert resolved_path(with_overrides(cfg, {"train": {"lr": 0.1}})) == project / "rows.csv"
    (project / "rows.csv").unlink()
    with pytest.raises(UserError, match=f"{project / 'rows.csv'}: file not found.*params file's folder"):
        _load(project, mixed_params(Path("rows.csv")))


def test_search_checks_are_skipped_when_the_search_is_off(tmp_path):
    cfg = _load(tmp_path, synthetic_params(), {"search": {"enabled": False, "space": {"width": [64, 16]}}})
    assert cfg.search.space.width == (64, 16)


def test_preflight_builds_the_extra_expectations_and_finds_the_device(tmp_path):
    from mtlops.checks import preflight

    assert preflight(_load(tmp_path, synthetic_params(), {"train": {"device": "cpu"}})) == "cpu"
    bad = _load(tmp_path, synthetic_params(), {"validation": {"expectations": [{"type": "ExpectColumnToBeGreen"}]}})
    with pytest.raises(ConfigError, match=r"validation\.expectations\.0\.type: unknown GX expectation"):
        preflight(bad, "params.yaml")
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match=r"train.device: 'cuda' asked for CUDA"):
            preflight(_load(tmp_path, synthetic_params(), {"train": {"device": "cuda"}}))


def test_grouping_is_on_whenever_single_task_baselines_exist(tmp_path):
    """A config without a grouping key gets grouping when baselines.stl (the default), none without them."""
    params = synthetic_params()
    del params["grouping"]
    assert _load(tmp_path, params).grouping.enabled is True
    assert _load(tmp_path, {**params, "baselines": {"stl": False}}).grouping.enabled is False
    assert _load(tmp_path, {**params, "grouping": {"enabled": False}}).grouping.enabled is False
    with pytest.raises(ConfigError, match=r"grouping\.enabled needs baselines\.stl"):
        _load(tmp_path, {**params, "baselines": {"stl": False}, "grouping": {"enabled": True}})


def test_auxiliary_tasks_are_trained_not_targets(tmp_path):
    params = synthetic_params()
    params["features"]["numeric"].remove("x7")  # a post-hoc column: a label, never a feature
    params["tasks"].append({"name": "aux", "column": "x7", "type": "regression", "role": "auxiliary",
                            "loss_weight": 0.5, "early_stopping_weight": 0.2})
    cfg = _load(tmp_path, params)
    assert cfg.target_names == ["y1", "y2"] and cfg.auxiliary_names == ["aux"]
    assert cfg.trained_with(["y1"]) == ["y1", "aux"]
    off = with_overrides(cfg, {"tasks": {"aux": {"loss_weight": 0.0}}})  # the search's overlay: by task name
    assert off.auxiliary_names == [] and off.task("aux").role == "auxiliary" and off.task("y1").loss_weight == 1.0
    with pytest.raises(ConfigError, match="no items named"):
        with_overrides(cfg, {"tasks": {"nope": {"loss_weight": 0.0}}})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"loss_weight": 0.0}, "leaves a target task untrained"),
        ({"early_stopping_weight": 1.0}, "early_stopping_weight is for role auxiliary"),
        ({"role": "helper"}, "role"),
    ],
)
def test_task_role_rules(tmp_path, change, message):
    with pytest.raises(ConfigError, match=message):
        _load(tmp_path, {**synthetic_params(), **_tasks(**change)})


def test_every_task_auxiliary_is_refused(tmp_path):
    params = synthetic_params()
    params["tasks"] = [{**t, "role": "auxiliary"} for t in params["tasks"]]
    with pytest.raises(ConfigError, match="declare at least one with role target"):
        _load(tmp_path, params)
