"""The pyfunc's output frame over several tasks, and back to the arrays metrics take.

Each type's own columns are tested in tests/task_types.
"""

from __future__ import annotations

import numpy as np

from mtlops.registry.pyfunc import output_columns, prediction_frame, task_predictions

TASKS = [
    {"name": "churn", "type": "binary", "dim": 1, "classes": None},
    {"name": "segment", "type": "multiclass", "dim": 3, "classes": ["low", "mid", "high"]},
    {"name": "amount", "type": "regression", "dim": 1, "classes": None},
    {"name": "box", "type": "multi_regression", "dim": 4, "classes": None},
]


def _preds(n: int = 6, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, 3))
    return {
        "churn": rng.random(n).astype(np.float32),
        "segment": np.exp(logits) / np.exp(logits).sum(1, keepdims=True),
        "amount": rng.normal(size=n).astype(np.float32),
        "box": rng.random((n, 4)).astype(np.float32),
    }


def test_frame_holds_every_output_and_labels_follow_probabilities():
    preds = _preds()
    frame = prediction_frame(preds, TASKS)
    assert list(frame.columns) == [c for t in TASKS for c in output_columns(t)]
    np.testing.assert_array_equal(frame["pred_churn_label"], (preds["churn"] >= 0.5).astype(int))
    expected = np.array(["low", "mid", "high"])[preds["segment"].argmax(1)]
    np.testing.assert_array_equal(frame["pred_segment_label"], expected)


def test_round_trip_to_metric_arrays():
    preds = _preds()
    back = task_predictions(prediction_frame(preds, TASKS), TASKS)
    assert set(back) == set(preds)
    for name, values in preds.items():
        np.testing.assert_allclose(back[name], values, rtol=1e-6)
        assert back[name].shape == values.shape


def test_tasks_the_frame_lacks_are_left_out():
    frame = prediction_frame(_preds(), TASKS[:2])
    assert set(task_predictions(frame, TASKS)) == {"churn", "segment"}
