"""Multiclass: K logits and cross-entropy (masked), labels as indices into `classes`, metrics, columns."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from mtlops.columns import SchemaError
from mtlops.models import ModelSpecError, TaskSpec
from mtlops.schema import TaskConfig
from mtlops.task_types import task_type
from tests.task_types.helpers import IN_DIM, assert_masked_rows_add_nothing, head_of

MULTICLASS = task_type("multiclass")
TASK = TaskConfig(name="seg", column="seg", type="multiclass", classes=["low", "mid", "high"])
ENTRY = {"name": "seg", "type": "multiclass", "dim": 3, "classes": ["low", "mid", "high"]}


def test_head_gives_k_logits_and_class_probabilities():
    head = head_of("multiclass", dim=3, n_classes=3)
    raw = head(torch.randn(6, IN_DIM))
    assert raw.shape == (6, 3)
    torch.testing.assert_close(head.predict(raw).sum(-1), torch.ones(6))


def test_masked_rows_add_nothing_even_with_labels_that_are_no_class():
    x, y = torch.randn(12, IN_DIM), torch.arange(12) % 3
    mask = torch.arange(12) % 4 != 0
    assert_masked_rows_add_nothing(head_of("multiclass", dim=3, n_classes=3), x, y, mask, [12345, -7])


def test_a_spec_needs_two_classes_or_more():
    with pytest.raises(ModelSpecError, match="n_classes >= 2"):
        TaskSpec("t", "multiclass", n_classes=1)


def test_labels_are_indices_into_the_declared_classes():
    y, mask = MULTICLASS.encode_labels(pd.DataFrame({"seg": ["high", None, "low", "mid"]}), TASK)
    assert y.dtype == np.int64
    np.testing.assert_array_equal(y, [2, 0, 0, 1])
    np.testing.assert_array_equal(mask, [True, False, True, True])
    numeric = TaskConfig(name="seg", column="seg", type="multiclass", classes=[1, 3, 5])
    y, _ = MULTICLASS.encode_labels(pd.DataFrame({"seg": [5.0, 1.0, 3.0]}), numeric)  # 5.0 is class 5
    np.testing.assert_array_equal(y, [2, 0, 1])


def test_a_label_outside_the_classes_names_the_column_and_an_example():
    with pytest.raises(SchemaError, match=r"'seg' \(task 'seg'\) has labels outside its classes .*e\.g\. 'top'"):
        MULTICLASS.encode_labels(pd.DataFrame({"seg": ["low", "top"]}), TASK)


def test_the_raw_label_kind_follows_the_classes():
    kinds = [
        MULTICLASS.label_kind(TaskConfig(name="s", column="s", type="multiclass", classes=classes))
        for classes in (["a", "b"], [0, 1, 2], [0, "b"])
    ]
    assert kinds == ["text", "numeric", None]


def test_metrics_by_hand():
    y = np.array([0, 1, 2, 2])
    p = np.array([[0.8, 0.1, 0.1], [0.1, 0.3, 0.6], [0.2, 0.2, 0.6], [0.1, 0.1, 0.8]])  # argmax 0, 2, 2, 2
    y, p = MULTICLASS.metric_arrays(y, p)
    m = {name: MULTICLASS.metric_fn(name)(y, p) for name in MULTICLASS.metrics}
    assert m["accuracy"] == pytest.approx(3 / 4)
    # F1: class 0 = 1; class 1 = 0 (never predicted); class 2: P = 2/3, R = 1 → 0.8
    assert m["macro_f1"] == pytest.approx((1 + 0 + 0.8) / 3)
    assert m["log_loss"] == pytest.approx(-np.mean(np.log([0.8, 0.3, 0.6, 0.8])))
    assert all(math.isnan(MULTICLASS.metric_fn(name)(y[:0], p[:0])) for name in MULTICLASS.metrics)


def test_output_columns_round_trip_and_label_the_most_probable_class():
    logits = np.random.default_rng(0).normal(size=(6, 3))
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    out = MULTICLASS.to_output(ENTRY, p)
    columns = ["seg_proba_low", "seg_proba_mid", "seg_proba_high", "seg_label"]
    assert list(out) == MULTICLASS.output_columns(ENTRY) == columns
    np.testing.assert_array_equal(out["seg_label"], np.array(ENTRY["classes"])[p.argmax(1)])
    np.testing.assert_allclose(MULTICLASS.from_output(ENTRY, pd.DataFrame(out)), p, rtol=1e-7)


def test_lightgbm_probabilities_cover_classes_it_never_saw():
    # trained on classes 0 and 2 only: LightGBM fits a binary objective and returns P(class 2)
    probs = MULTICLASS.gbdt_prediction([np.array([0.2, 0.9])], classes=[0, 2], n_classes=3)
    np.testing.assert_allclose(probs, [[0.8, 0.0, 0.2], [0.1, 0.0, 0.9]])
