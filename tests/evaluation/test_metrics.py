"""Metrics agree with values worked out by hand, honour masks and survive degenerate inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.calibration import calibration_curve

from mtlops.evaluation.metrics import expected_calibration_error, json_safe, primary, reliability, task_metrics
from mtlops.schema import TaskConfig

BINARY = TaskConfig(name="churn", column="churn", type="binary", metric="roc_auc")
MULTICLASS = TaskConfig(name="seg", column="seg", type="multiclass", metric="macro_f1", classes=[0, 1, 2])
REGRESSION = TaskConfig(name="amount", column="amount", type="regression", metric="mae")
BOXES = TaskConfig(name="box", column=["a", "b", "c", "d"], type="multi_regression", metric="iou")


def test_regression_by_hand():
    y = np.array([1.0, 2.0, 3.0, 4.0])
    p = np.array([2.0, 2.0, 2.0, 6.0])  # errors 1, 0, -1, 2
    m = task_metrics(REGRESSION, y, p)
    assert m["mae"] == pytest.approx((1 + 0 + 1 + 2) / 4)
    assert m["rmse"] == pytest.approx(math.sqrt((1 + 0 + 1 + 4) / 4))
    # R² = 1 − SS_res / SS_tot = 1 − 6 / 5
    assert m["r2"] == pytest.approx(1 - 6 / 5)
    assert primary(REGRESSION, y, p) == m["mae"]


def test_binary_by_hand():
    y = np.array([0, 0, 1, 1], dtype=np.float32)
    p = np.array([0.1, 0.6, 0.4, 0.9])
    m = task_metrics(BINARY, y, p, calibration_bins=2)
    # positive/negative pairs ranked right: (0.4>0.1), (0.9>0.1), (0.9>0.6); wrong: (0.4<0.6)
    assert m["roc_auc"] == pytest.approx(3 / 4)
    assert m["accuracy"] == pytest.approx(2 / 4)  # threshold 0.5 → predictions 0, 1, 0, 1
    assert m["log_loss"] == pytest.approx(-(math.log(0.9) + math.log(0.4)) / 2)
    # two bins: {0.1, 0.4} mean 0.25 vs 1/2 positive, {0.6, 0.9} mean 0.75 vs 1/2 → each off by 0.25
    assert m["ece"] == pytest.approx(0.25)
    assert set(m) == {"roc_auc", "pr_auc", "log_loss", "accuracy", "ece"}


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


def test_multiclass_by_hand():
    y = np.array([0, 1, 2, 2])
    p = np.array([[0.8, 0.1, 0.1], [0.1, 0.3, 0.6], [0.2, 0.2, 0.6], [0.1, 0.1, 0.8]])  # argmax 0, 2, 2, 2
    m = task_metrics(MULTICLASS, y, p)
    assert m["accuracy"] == pytest.approx(3 / 4)
    # F1: class 0 = 1; class 1 = 0 (never predicted); class 2: P = 2/3, R = 1 → 0.8
    assert m["macro_f1"] == pytest.approx((1 + 0 + 0.8) / 3)
    assert m["log_loss"] == pytest.approx(-np.mean(np.log([0.8, 0.3, 0.6, 0.8])))


def test_box_iou_and_multi_output_averages():
    y = np.array([[0.0, 0.0, 2.0, 2.0], [0.0, 0.0, 1.0, 1.0]])
    p = np.array([[1.0, 1.0, 3.0, 3.0], [0.0, 0.0, 1.0, 1.0]])  # overlap 1 of union 7; identical
    m = task_metrics(BOXES, y, p)
    assert m["iou"] == pytest.approx((1 / 7 + 1) / 2)
    assert m["mae"] == pytest.approx(np.mean([1.0, 0.0]))  # |err| is 1 on every output of row 1
    two = TaskConfig(name="xy", column=["a", "b"], type="multi_regression", metric="mae")
    assert "iou" not in task_metrics(two, y[:, :2], p[:, :2])


def test_mask_excludes_rows():
    y = np.array([1.0, 2.0, 3.0, 0.0])
    p = np.array([1.5, 2.5, 3.5, 100.0])  # the last row is unlabelled and wildly wrong
    mask = np.array([True, True, True, False])
    assert task_metrics(REGRESSION, y, p, mask)["mae"] == pytest.approx(0.5)
    assert task_metrics(REGRESSION, y, p)["mae"] > 10


def test_degenerate_inputs_are_nan_not_errors():
    one_class = task_metrics(BINARY, np.ones(5), np.full(5, 0.7))
    assert math.isnan(one_class["roc_auc"]) and math.isnan(one_class["pr_auc"])
    assert one_class["accuracy"] == 1.0
    empty = task_metrics(BINARY, np.ones(3), np.full(3, 0.7), mask=np.zeros(3, bool))
    assert all(math.isnan(v) for v in empty.values())
    single = task_metrics(REGRESSION, np.array([1.0]), np.array([2.0]))
    assert single["mae"] == 1.0 and math.isnan(single["r2"])
    constant = task_metrics(REGRESSION, np.full(4, 3.0), np.arange(4.0))
    assert math.isnan(constant["r2"])
    assert json_safe(one_class)["roc_auc"] is None


def test_bad_predictions_name_the_task():
    with pytest.raises(ValueError, match="amount"):
        task_metrics(REGRESSION, np.ones(3), np.array([1.0, np.nan, 2.0]))
    with pytest.raises(ValueError, match="amount"):
        task_metrics(REGRESSION, np.ones(3), np.ones(4))


def test_multi_output_r2_averages_the_defined_outputs():
    rng = np.random.default_rng(0)
    y = np.column_stack([rng.normal(size=50), np.full(50, 2.0)])  # the second output is constant
    p = y + rng.normal(scale=0.1, size=y.shape)
    two = TaskConfig(name="xy", column=["a", "b"], type="multi_regression", metric="r2")
    first = task_metrics(REGRESSION, y[:, 0], p[:, 0])["r2"]
    assert task_metrics(two, y, p)["r2"] == pytest.approx(first)
