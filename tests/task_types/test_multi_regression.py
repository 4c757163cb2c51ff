"""Multi-regression: k standardised outputs, rows labelled in every column, box IoU, indexed columns."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from mtlops.schema import TaskConfig
from mtlops.task_types import task_type
from tests.task_types.helpers import IN_DIM, assert_masked_rows_add_nothing, head_of

MULTI = task_type("multi_regression")
BOX = ["x_min", "y_min", "x_max", "y_max"]
TASK = TaskConfig(name="box", column=BOX, type="multi_regression", metric="iou")
ENTRY = {"name": "box", "type": "multi_regression", "dim": 4, "classes": None}


def _scores(y, p):
    y, p = MULTI.metric_arrays(np.asarray(y), np.asarray(p, dtype=float))
    return {name: MULTI.metric_fn(name)(y, p) for name in MULTI.metric_names(p.shape[1])}


def test_box_heads_standardise_per_column_and_mask_rows():
    head = head_of("multi_regression", dim=4, loss="l1")
    rng = np.random.default_rng(0)
    y = rng.uniform([0, 0, 0.5, 0.5], [0.5, 0.5, 1.0, 1.0], size=(20, 4))
    mask = np.arange(20) % 4 != 0
    y[~mask] = np.nan
    head.set_stats(y, mask)
    np.testing.assert_allclose(head.mean.numpy(), y[mask].mean(0), rtol=1e-5)
    x = torch.randn(20, IN_DIM)
    assert head(x).shape == (20, 4) and head.predict(head(x)).shape == (20, 4)
    y_t, mask_t = torch.as_tensor(y, dtype=torch.float32), torch.as_tensor(mask)
    assert torch.isfinite(head.loss_terms(head(x), y_t, mask_t)[0])
    assert_masked_rows_add_nothing(head, x, y_t, mask_t, [math.nan, 1e30])


def test_a_row_is_labelled_only_where_every_column_is():
    df = pd.DataFrame([[0, 0, 1, 1], [0, None, 1, 1], [0.1, 0.2, 0.3, 0.4]], columns=BOX)
    y, mask = MULTI.encode_labels(df, TASK)
    assert y.dtype == np.float32 and y.shape == (3, 4)
    np.testing.assert_array_equal(mask, [True, False, True])
    assert not y[1].any()


def test_box_iou_and_multi_output_averages():
    y = np.array([[0.0, 0.0, 2.0, 2.0], [0.0, 0.0, 1.0, 1.0]])
    p = np.array([[1.0, 1.0, 3.0, 3.0], [0.0, 0.0, 1.0, 1.0]])  # overlap 1 of union 7; identical
    m = _scores(y, p)
    assert m["iou"] == pytest.approx((1 / 7 + 1) / 2)
    assert m["mae"] == pytest.approx(np.mean([1.0, 0.0]))  # |err| is 1 on every output of row 1
    assert "iou" not in _scores(y[:, :2], p[:, :2])  # not boxes
    assert math.isnan(_scores(y[:0], p[:0])["iou"])


def test_r2_averages_the_outputs_where_it_is_defined():
    rng = np.random.default_rng(0)
    y = np.column_stack([rng.normal(size=50), np.full(50, 2.0)])  # the second output is constant
    p = y + rng.normal(scale=0.1, size=y.shape)
    assert _scores(y, p)["r2"] == pytest.approx(task_type("regression").metric_fn("r2")(y[:, 0], p[:, 0]))


def test_output_columns_round_trip():
    p = np.random.default_rng(0).random((6, 4)).astype(np.float32)
    out = MULTI.to_output(ENTRY, p)
    assert list(out) == MULTI.output_columns(ENTRY) == ["box_0", "box_1", "box_2", "box_3"]
    np.testing.assert_allclose(MULTI.from_output(ENTRY, pd.DataFrame(out)), p, rtol=1e-7)


def test_lightgbm_fits_one_booster_per_column():
    assert MULTI.gbdt_prediction([np.zeros(3), np.ones(3)], None, None).shape == (3, 2)
    assert MULTI.gbdt_prediction([np.zeros(3)], None, None).shape == (3, 1)  # still [N, k] with one column
