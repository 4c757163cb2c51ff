"""Metrics on the labelled rows of a task, by its type's table: masks, shapes and JSON-safe reports.

Each type's metric functions are checked by hand in tests/task_types.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from mtlops.metrics.per_task import json_safe, primary, task_metrics
from mtlops.schema import TaskConfig

BINARY = TaskConfig(name="churn", column="churn", type="binary", metric="roc_auc")
REGRESSION = TaskConfig(name="amount", column="amount", type="regression", metric="mae")
BOXES = TaskConfig(name="box", column=["a", "b", "c", "d"], type="multi_regression", metric="iou")
META_ENTRY = {"name": "amount", "type": "regression", "metric": "rmse"}


def test_every_metric_of_the_type_and_the_primary_one():
    y = np.array([1.0, 2.0, 3.0, 4.0])
    p = np.array([2.0, 2.0, 2.0, 6.0])
    m = task_metrics(REGRESSION, y, p)
    assert list(m) == ["mae", "rmse", "r2"]
    assert primary(REGRESSION, y, p) == m["mae"] == pytest.approx(1.0)
    assert primary(META_ENTRY, y, p) == m["rmse"]  # a meta.json entry works as well as a TaskConfig
    boxes = np.array([[0.0, 0.0, 1.0, 1.0]] * 2)
    assert "iou" in task_metrics(BOXES, boxes, boxes)


def test_mask_excludes_rows():
    y = np.array([1.0, 2.0, 3.0, 0.0])
    p = np.array([1.5, 2.5, 3.5, 100.0])  # the last row is unlabelled and wildly wrong
    mask = np.array([True, True, True, False])
    assert task_metrics(REGRESSION, y, p, mask)["mae"] == pytest.approx(0.5)
    assert task_metrics(REGRESSION, y, p)["mae"] > 10


def test_degenerate_inputs_are_nan_and_json_safe():
    empty = task_metrics(BINARY, np.ones(3), np.full(3, 0.7), mask=np.zeros(3, bool))
    assert all(math.isnan(v) for v in empty.values())
    assert json_safe(empty) == dict.fromkeys(empty)
    assert json_safe({"a": [np.float32(1.5), (np.inf,)]}) == {"a": [1.5, [None]]}


def test_bad_predictions_name_the_task():
    with pytest.raises(ValueError, match="amount"):
        task_metrics(REGRESSION, np.ones(3), np.array([1.0, np.nan, 2.0]))
    with pytest.raises(ValueError, match="amount"):
        task_metrics(REGRESSION, np.ones(3), np.ones(4))
    with pytest.raises(ValueError, match="'amount': expected one prediction per row"):
        task_metrics(REGRESSION, np.ones(3), np.ones((3, 2)))
    with pytest.raises(ValueError, match=r"'box': expected predictions of shape \[N, k\]"):
        task_metrics(BOXES, np.ones((3, 4)), np.ones(3))
    with pytest.raises(ValueError, match="'amount': mask of shape"):
        task_metrics(REGRESSION, np.ones(3), np.ones(3), mask=np.ones(2, bool))
