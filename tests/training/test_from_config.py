"""The config bridge, on processed arrays written here per the data contract."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from mtlops.config import with_overrides
from mtlops.io import write_json
from mtlops.schema import ConfigError, TrainConfig
from mtlops.training import TrainSettings, predict
from mtlops.training.from_config import model_spec, train_from_config, train_settings, weighting_for
from tests.helpers import make_project
from tests.models.tiny import arrays

META_TASKS = {
    "churn": {"type": "binary", "dim": 1, "n_classes": None, "loss": "bce", "pos_weight": None},
    "segment": {"type": "multiclass", "dim": 3, "n_classes": 3, "loss": "ce", "pos_weight": None},
    "amount": {"type": "regression", "dim": 1, "n_classes": None, "loss": "mse", "pos_weight": None},
}


@pytest.fixture
def processed(tmp_path):
    """The mixed project (binary, multiclass, masked regression) with its processed data in place."""
    cfg, paths = make_project(tmp_path, kind="mixed", overrides={"train": {"epochs": 2, "batch_size": 64}})
    paths.processed_dir.mkdir(parents=True)
    for split, (n, seed) in {"train": (240, 1), "val": (80, 2), "test": (80, 3)}.items():
        a = arrays(n, seed)
        a["cat"] = a["cat"][:, :1]
        np.savez(paths.split_arrays(split), **a)
    meta = {"inputs": {"num": {"dim": 4, "columns": ["x1", "x2", "x3", "x3_missing"]},
                       "cat": {"cardinalities": [3], "columns": ["shop"]}},
            "tasks": META_TASKS, "rows": {"train": 240, "val": 80, "test": 80}}
    write_json(paths.processed_meta, meta)
    return cfg, paths, meta


def test_model_spec_follows_config_and_meta(processed):
    cfg, _paths, meta = processed
    cfg = with_overrides(cfg, {"model": {"architecture": {"name": "mmoe", "params": {"experts": 3}},
                                        "encoder": {"embedding_dim": 5}}})
    spec = model_spec(cfg, meta)
    assert spec.architecture == "mmoe" and spec.arch_params == {"experts": 3}
    assert [t.name for t in spec.tasks] == ["churn", "segment", "amount"]
    assert spec.tasks[1].n_classes == 3 and spec.encoder["embedding_dim"] == 5
    assert [t.name for t in model_spec(cfg, meta, tasks=["amount"]).tasks] == ["amount"]
    with pytest.raises(ConfigError, match="nope"):
        model_spec(cfg, meta, tasks=["nope"])
    with pytest.raises(ConfigError, match=r"meta.json"):
        model_spec(cfg, {"inputs": meta["inputs"], "tasks": {}})


def test_settings_and_weighting_from_config(processed):
    cfg, _, _ = processed
    s = train_settings(with_overrides(cfg, {"train": {"epochs": 7, "optimizer": "sgd", "grad_clip": 0.5}}))
    assert (s.epochs, s.optimizer, s.grad_clip, s.batch_size, s.device) == (7, "sgd", 0.5, 64, "cpu")
    assert s.seed == cfg.project.seed and s.lr == cfg.train.lr
    cfg = with_overrides(cfg, {"model": {"weighting": {"name": "uncertainty", "params": {}}}})
    w = weighting_for(cfg, cfg.task_names)
    assert type(w).__name__ == "Uncertainty"
    torch.testing.assert_close(w.factor, torch.tensor([1.0, 1.0, 0.5]))  # types come from the config
    assert type(weighting_for(cfg, ["amount"])).__name__ == "Equal"


def test_train_settings_and_the_train_config_have_the_same_keys_and_defaults():
    """A train key added on one side only fails here (the bridge passes the section through by name)."""
    # the train stage / the config bridge read them
    config_only = {"use_search", "stop_on", "affinity_every", "processes", "max_cost_ratio"}
    loop_only = {"seed", "eval_batch_size", "progress", "check_every"}  # project.seed; no params.yaml key
    config = {name: field.default for name, field in TrainConfig.model_fields.items()}
    settings = {field.name: field.default for field in dataclasses.fields(TrainSettings)}
    assert config_only <= config.keys() and loop_only <= settings.keys()
    assert {k: v for k, v in config.items() if k not in config_only} == {
        k: v for k, v in settings.items() if k not in loop_only
    }


@pytest.mark.parametrize(("weighting", "params"),
                         [("gradnorm", {"alpha": 1.0}), ("static", {"weights": {"churn": 3.0}})])
def test_single_task_model_of_the_same_family_trains_whatever_the_weighting(processed, weighting, params):
    cfg, paths, _ = processed
    cfg = with_overrides(cfg, {"model": {"architecture": {"name": "ple", "params": {"num_levels": 1}},
                                        "weighting": {"name": weighting, "params": params}}})
    result = train_from_config(cfg, paths, tasks=["segment"], max_train_rows=100)
    assert result.model.task_names == ["segment"] and result.model.spec.architecture == "ple"
    assert result.history[-1]["weights"] == {"segment": 1.0}
    assert predict(result.model, dict(np.load(paths.split_arrays("test"))))["segment"].shape == (80, 3)


def test_subsampling_is_seeded(processed):
    cfg, paths, _ = processed
    a = train_from_config(cfg, paths, max_train_rows=50)
    b = train_from_config(cfg, paths, max_train_rows=50)
    for k, v in a.model.state_dict().items():
        assert torch.equal(v, b.model.state_dict()[k])
