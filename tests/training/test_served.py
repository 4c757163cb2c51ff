"""The served model's folder read back as one model: what serves each task, and what an unreadable folder says."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mtlops.training import ModelFileError, predict, save_model
from mtlops.training.served import load_served
from tests.models.tiny import TASKS, arrays, model


def _folder(tmp_path, tasks: dict | None = None):
    """model.pt (the shared network), stl_segment.pt (another network) and, when given, serving.json."""
    folder = tmp_path / "mtl"
    folder.mkdir()
    shared, single = model(seed=0), model(seed=1, tasks=[TASKS[1]])
    save_model(shared, folder / "model.pt")
    save_model(single, folder / "stl_segment.pt")
    if tasks is not None:
        (folder / "serving.json").write_text(json.dumps({"tasks": tasks}))
    return folder, shared, single


def _entry(kind: str, **more) -> dict:
    return {"kind": kind, "weight": None, "type": "binary", **more}


def test_each_task_comes_from_what_serves_it(tmp_path):
    folder, shared, single = _folder(tmp_path, {
        "churn": _entry("shared"), "segment": _entry("single_task", single_task="stl_segment.pt"),
        "amount": _entry("shared")})
    served = load_served(folder)
    a = arrays(40)
    got, network, alone = predict(served, a), predict(shared, a), predict(single, a)
    assert list(got) == [t.name for t in TASKS]
    np.testing.assert_array_equal(got["segment"], alone["segment"])
    for task in ("churn", "amount"):
        np.testing.assert_array_equal(got[task], network[task])
    assert served.n_params == shared.n_params + single.n_params
    assert served.extra["serving"]["segment"] == {"kind": "single_task", "weight": None}


def test_a_model_from_before_serving_choices_is_served_by_its_network(tmp_path):
    folder, shared, _ = _folder(tmp_path)  # no serving.json
    a = arrays(40)
    for path in (folder, folder / "model.pt"):  # the folder, or a bare model file (an older registered version)
        served = load_served(path)
        assert {b.kind for b in served.served_by.values()} == {"shared"}
        for task, values in predict(served, a).items():
            np.testing.assert_array_equal(values, predict(shared, a)[task])


def test_a_folder_that_does_not_hold_what_its_choice_names_is_refused_naming_the_file(tmp_path):
    folder, _, _ = _folder(tmp_path, {
        "churn": _entry("gbdt", gbdt={"files": ["gbdt_churn.txt"]}), "segment": _entry("shared"),
        "amount": _entry("shared")})
    with pytest.raises(ModelFileError, match=r"gbdt_churn.txt.*churn.*mtlops train"):
        load_served(folder)
    (folder / "serving.json").write_text(json.dumps({"tasks": {
        "churn": _entry("lightgbm"), "segment": _entry("shared"), "amount": _entry("shared")}}))
    with pytest.raises(ModelFileError, match=r"serving.json: not a serving choice.*'lightgbm'"):
        load_served(folder)
    (folder / "serving.json").write_text(json.dumps({"tasks": {"churn": _entry("shared")}}))
    with pytest.raises(ModelFileError, match=r"serving.json: .*choice for tasks \['churn'\]"):
        load_served(folder)
