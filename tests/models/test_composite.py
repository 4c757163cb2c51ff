"""The composite model: each task predicted by the network of its group, saved and loaded as one model file."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mtlops.models import CompositeModel, ModelSpecError, build_model
from mtlops.training import load_model, predict, save_model
from mtlops.training.checkpoint import read_model_file
from tests.models.tiny import TASKS, arrays, spec


def members():
    torch.manual_seed(0)
    pair = build_model(spec(tasks=[TASKS[0], TASKS[2]]))
    alone = build_model(spec(tasks=[TASKS[1]]))
    return pair, alone


def test_each_task_comes_from_its_group_in_the_declared_order():
    pair, alone = members()
    order = [t.name for t in TASKS]
    model = CompositeModel([pair, alone], order)
    a = arrays(48)
    preds = predict(model, a)
    assert list(preds) == order
    for member in (pair, alone):
        for task, values in predict(member, a).items():
            np.testing.assert_array_equal(preds[task], values)
    assert model.groups == [["churn", "amount"], ["segment"]]
    assert model.n_params == pair.n_params + alone.n_params


def test_a_task_served_twice_or_not_at_all_is_refused():
    pair, alone = members()
    with pytest.raises(ModelSpecError, match="each served once"):
        CompositeModel([pair, alone], ["churn", "amount"])
    with pytest.raises(ModelSpecError, match="each served once"):
        CompositeModel([pair, pair, alone], [t.name for t in TASKS])


def test_save_and_load_round_trip_keeps_every_group(tmp_path):
    pair, alone = members()
    model = CompositeModel([pair, alone], [t.name for t in TASKS])
    save_model(model, tmp_path / "model.pt", extra={"architecture": "hard"})
    loaded = load_model(tmp_path / "model.pt")
    assert isinstance(loaded, CompositeModel) and loaded.groups == model.groups
    assert loaded.extra == {"architecture": "hard"}
    a = arrays(32, seed=3)
    for task, values in predict(model, a).items():
        np.testing.assert_allclose(predict(loaded, a)[task], values, rtol=1e-6)


def test_one_group_is_written_as_a_plain_model_file(tmp_path):
    torch.manual_seed(0)
    whole = build_model(spec())
    save_model(CompositeModel([whole], [t.name for t in TASKS]), tmp_path / "model.pt")
    payload = read_model_file(tmp_path / "model.pt")
    assert "kind" not in payload and "spec" in payload
    assert not isinstance(load_model(tmp_path / "model.pt"), CompositeModel)
