"""Binary: one logit and BCE (masked, positive weight), 0/1 labels, metrics by hand, proba/label columns."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.calibration import calibration_curve

from mtlops.columns import SchemaError
from mtlops.schema import TaskConfig
from mtlops.task_types import task_type
from mtlops.task_types.binary import expected_calibration_error, reliability
from tests.task_types.helpers import IN_DIM, assert_masked_rows_add_nothing, head_of

BINARY = task_type("binary")
TASK = TaskConfig(name="churn", column="churn", type="binary")
ENTRY = {"name": "churn", "type": "binary", "dim": 1, "classes": None}


def _scores(y, p, bins=10):
    return {name: BINARY.metric_fn(name, bins)(*BINARY.metric_arrays(np.asarray(y), np.asarray(p)))
            for name in BINARY.metrics}


def test_head_gives_a_logit_per_row_and_predicts_a_probability():
    head = head_of("binary")
    raw = head(torch.randn(6, IN_DIM))
    assert raw.shape == (6,)
    p = head.predict(raw)
    assert ((p > 0) & (p < 1)).all()


def test_masked_rows_add_nothing_whatever_their_label():
    x, y = torch.randn(10, IN_DIM), (torch.arange(10) % 2).float()
    mask = torch.arange(10) % 3 != 0
    assert_masked_rows_add_nothing(head_of("binary"), x, y, mask, [math.nan, math.inf, -1e30, 7.0])


def test_pos_weight_scales_the_positive_rows():
    x, y, mask = torch.randn(32, IN_DIM), torch.ones(32), torch.ones(32, dtype=torch.bool)
    plain, weighted = head_of("binary"), head_of("binary", pos_weight=4.0)  # same seed, same weights
    ratio = weighted.loss_terms(weighted(x), y, mask)[0] / plain.loss_terms(plain(x), y, mask)[0]
    assert float(ratio.detach()) == pytest.approx(4.0, rel=1e-5)
    assert "pos_weight" not in weighted.state_dict()  # it comes from the spec, which every file carries


def test_labels_are_float_zero_one_and_missing_values_unlabelled():
    y, mask = BINARY.encode_labels(pd.DataFrame({"churn": [0, 1, None, 1.0, np.inf]}), TASK)
    assert y.dtype == np.float32 and mask.dtype == bool
    np.testing.assert_array_equal(mask, [True, True, False, True, False])
    np.testing.assert_array_equal(y, [0, 1, 0, 1, 0])


@pytest.mark.parametrize(
    ("values", "pattern"),
    [([0, 2, 1], r"'churn' \(task 'churn'\) must hold 0/1 labels, e\.g\. got 2; other labels need the task's classes"),
     (["no", "yes"], r"must be numeric.*; text labels need the task's classes: \[negative, positive\]")],
)
def test_other_labels_name_the_column_and_task(values, pattern):
    with pytest.raises(SchemaError, match=pattern):
        BINARY.encode_labels(pd.DataFrame({"churn": values}), TASK)


WITH_CLASSES = TaskConfig(name="churn", column="churn", type="binary", classes=["stayed", "left"])


def test_declared_classes_read_the_second_as_positive_and_blanks_as_unlabelled():
    y, mask = BINARY.encode_labels(pd.DataFrame({"churn": ["left", "stayed", None, "left"]}), WITH_CLASSES)
    np.testing.assert_array_equal(mask, [True, True, False, True])
    np.testing.assert_array_equal(y, [1, 0, 0, 1])
    assert BINARY.label_kind(WITH_CLASSES) == "text"
    assert BINARY.label_expectations(WITH_CLASSES)[0][1]["value_set"] == ["stayed", "left"]
    # codes compare as categories: a 1/2-coded label read back as floats (a blank in a CSV) is the same label
    coded = TaskConfig(name="churn", column="churn", type="binary", classes=[1, 2])
    y, mask = BINARY.encode_labels(pd.DataFrame({"churn": [2.0, 1.0, np.nan]}), coded)
    np.testing.assert_array_equal(y[mask], [1, 0])
    assert BINARY.label_kind(coded) == "numeric"


def test_a_label_outside_the_classes_is_named_and_yaml_booleans_are_explained():
    with pytest.raises(SchemaError, match=r"'churn' \(task 'churn'\) has labels outside its classes .* e\.g\. 'maybe'"):
        BINARY.encode_labels(pd.DataFrame({"churn": ["left", "maybe"]}), WITH_CLASSES)
    unquoted = TaskConfig(name="churn", column="churn", type="binary", classes=[False, True])  # `[no, yes]` in YAML
    with pytest.raises(SchemaError, match=r"quote the classes, e\.g\. \['no', 'yes'\]"):
        BINARY.encode_labels(pd.DataFrame({"churn": ["no", "yes"]}), unquoted)


@pytest.mark.parametrize("classes", [["a"], ["a", "b", "c"], ["a", "a"], [1, 1.0]])
def test_binary_classes_must_be_two_distinct_labels(classes):
    with pytest.raises(ValueError, match=r"binary classes are two labels, \[negative, positive\]"):
        TaskConfig(name="churn", column="churn", type="binary", classes=classes)


def test_the_label_output_is_the_class_where_classes_are_declared():
    entry = ENTRY | {"classes": ["stayed", "left"], "threshold": 0.3}
    out = BINARY.to_output(entry, np.array([0.1, 0.3, 0.9], dtype=np.float32))
    assert out["churn_label"].tolist() == ["stayed", "left", "left"]


def test_metrics_by_hand():
    y = np.array([0, 0, 1, 1], dtype=np.float32)
    p = np.array([0.1, 0.6, 0.4, 0.9])
    m = _scores(y, p, bins=2)
    # positive/negative pairs ranked right: (0.4>0.1), (0.9>0.1), (0.9>0.6); wrong: (0.4<0.6)
    assert m["roc_auc"] == pytest.approx(3 / 4)
    assert m["accuracy"] == pytest.approx(2 / 4)  # threshold 0.5 → predictions 0, 1, 0, 1
    assert m["log_loss"] == pytest.approx(-(math.log(0.9) + math.log(0.4)) / 2)
    # two bins: {0.1, 0.4} mean 0.25 vs 1/2 positive, {0.6, 0.9} mean 0.75 vs 1/2 → each off by 0.25
    assert m["ece"] == pytest.approx(0.25)
    assert TASK.metric == "roc_auc" and TASK.higher_is_better


def test_undefined_metrics_are_nan():
    one_class = _scores(np.ones(5), np.full(5, 0.7))
    assert math.isnan(one_class["roc_auc"]) and math.isnan(one_class["pr_auc"])
    assert one_class["accuracy"] == 1.0
    assert all(math.isnan(v) for v in _scores(np.ones(0), np.ones(0)).values())


def test_reliability_bins_match_sklearn_calibration_curve():
    rng = np.random.default_rng(0)
    p = rng.random(500)
    y = (rng.random(500) < p).astype(int)
    count, mean_pred, frac_pos = reliability(y, p, n_bins=10)
    prob_true, prob_pred = calibration_curve(y, p, n_bins=10, strategy="uniform")
    filled = count > 0
    np.testing.assert_allclose(frac_pos[filled], prob_true)
    np.testing.assert_allclose(mean_pred[filled], prob_pred)
    assert count.sum() == 500
    assert 0 <= expected_calibration_error(y, p) < 0.1  # calibrated by construction
    assert BINARY.reliability(y, p, 10)[0].sum() == 500


def test_output_columns_round_trip():
    p = np.random.default_rng(0).random(6).astype(np.float32)
    out = BINARY.to_output(ENTRY, p)
    assert list(out) == BINARY.output_columns(ENTRY) == ["churn_proba", "churn_label"]
    np.testing.assert_array_equal(out["churn_label"], (p >= 0.5).astype(int))
    back = BINARY.from_output(ENTRY, pd.DataFrame(out))
    assert back.shape == p.shape
    np.testing.assert_allclose(back, p, rtol=1e-7)
    assert BINARY.from_output(ENTRY, pd.DataFrame({"other": p})) is None
