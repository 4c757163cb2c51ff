"""Regression: standardised targets (training statistics), masked means, numeric labels, metrics, columns."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from mtlops.schema import TaskConfig
from mtlops.task_types import task_type
from tests.task_types.helpers import IN_DIM, assert_masked_rows_add_nothing, head_of

REGRESSION = task_type("regression")
TASK = TaskConfig(name="amount", column="amount", type="regression")
ENTRY = {"name": "amount", "type": "regression", "dim": 1, "classes": None}


def _scores(y, p):
    y, p = REGRESSION.metric_arrays(np.asarray(y), np.asarray(p, dtype=float))
    return {name: REGRESSION.metric_fn(name)(y, p) for name in REGRESSION.metrics}


def test_targets_are_standardised_with_training_statistics_and_undone_at_prediction():
    head = head_of("regression")
    rng = np.random.default_rng(0)
    y = rng.normal(50, 10, size=200)
    mask = rng.random(200) > 0.3
    y[~mask] = 1e9  # unlabelled rows must not enter the statistics
    head.set_stats(y, mask)
    assert float(head.mean) == pytest.approx(y[mask].mean(), rel=1e-5)
    assert float(head.std) == pytest.approx(y[mask].std(), rel=1e-5)
    raw = torch.tensor([0.0, 1.0, -2.0])
    torch.testing.assert_close(head.predict(raw), head.mean + raw * head.std)
    torch.testing.assert_close(head.standardise(head.predict(raw)), raw)
    assert head(torch.randn(4, IN_DIM)).shape == (4,)


def test_the_loss_is_the_mean_over_labelled_rows_only():
    head = head_of("regression", loss="huber")
    head.set_stats(np.array([10.0, 20.0, 30.0]), np.ones(3, bool))
    x, y = torch.randn(10, IN_DIM), torch.linspace(0, 40, 10)
    mask = torch.arange(10) % 2 == 0
    total, count = head.loss_terms(head(x), y, mask)
    per_row = torch.nn.functional.huber_loss(head(x), head.standardise(y), reduction="none")
    torch.testing.assert_close(total / count, per_row[::2].mean())
    assert_masked_rows_add_nothing(head, x, y, mask, [math.nan, math.inf, -1e30])


def test_labels_are_float32_and_non_finite_values_unlabelled():
    y, mask = REGRESSION.encode_labels(pd.DataFrame({"amount": [1.5, None, -np.inf, 4]}), TASK)
    assert y.dtype == np.float32 and y.shape == (4,)
    np.testing.assert_array_equal(mask, [True, False, False, True])
    np.testing.assert_array_equal(y, [1.5, 0, 0, 4])


def test_metrics_by_hand():
    m = _scores([1.0, 2.0, 3.0, 4.0], [2.0, 2.0, 2.0, 6.0])  # errors 1, 0, -1, 2
    assert m["mae"] == pytest.approx((1 + 0 + 1 + 2) / 4)
    assert m["rmse"] == pytest.approx(math.sqrt((1 + 0 + 1 + 4) / 4))
    assert m["r2"] == pytest.approx(1 - 6 / 5)  # R² = 1 − SS_res / SS_tot
    assert TASK.metric == "mae" and not TASK.higher_is_better and TASK.loss == "mse"


def test_undefined_metrics_are_nan():
    single = _scores([1.0], [2.0])
    assert single["mae"] == 1.0 and math.isnan(single["r2"])
    assert math.isnan(_scores(np.full(4, 3.0), np.arange(4.0))["r2"])  # constant target
    assert all(math.isnan(v) for v in _scores(np.ones(0), np.ones(0)).values())


def test_declared_bounds_become_a_validation_expectation():
    assert REGRESSION.label_expectations(TASK) == []
    bounded = TaskConfig(name="amount", column="amount", type="regression", bounds=(0, 100))
    assert REGRESSION.label_expectations(bounded) == [
        ("ExpectColumnValuesToBeBetween", {"column": "amount", "min_value": 0, "max_value": 100})
    ]


def test_output_column_round_trip():
    p = np.random.default_rng(0).normal(size=6).astype(np.float32)
    out = REGRESSION.to_output(ENTRY, p)
    assert list(out) == REGRESSION.output_columns(ENTRY) == ["amount"]
    back = REGRESSION.from_output(ENTRY, pd.DataFrame(out))
    assert back.shape == (6,)
    np.testing.assert_allclose(back, p, rtol=1e-7)
