"""Paired bootstrap intervals cover a known difference; negative transfer is flagged only when real."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mtlops.evaluation.evaluate import score_tasks
from mtlops.metrics.bootstrap import (
    metric_samples,
    paired_difference,
    percentile_interval,
    resample_indices,
)
from mtlops.metrics.per_task import metric_fn
from mtlops.schema import TaskConfig

REGRESSION = TaskConfig(name="amount", column="amount", type="regression", metric="mae")
BINARY = TaskConfig(name="churn", column="churn", type="binary", metric="roc_auc")


def _interval(y, model, base, n=2000, seed=0):
    fn = metric_fn(REGRESSION)
    idx = resample_indices(len(y), 200, seed)
    return paired_difference(
        fn(y, model), fn(y, base), metric_samples(fn, y, model, idx), metric_samples(fn, y, base, idx), False, 0.95
    )


def test_interval_covers_a_known_difference():
    rng = np.random.default_rng(1)
    n = 2000
    y = rng.normal(size=n)
    model = y + rng.normal(scale=1.0, size=n)
    base = y + rng.normal(scale=2.0, size=n)
    # E|N(0, σ²)| = σ·√(2/π): the model's MAE is lower by (2 − 1)·√(2/π) ≈ 0.80, i.e. +0.80 "better"
    truth = math.sqrt(2 / math.pi)
    diff = _interval(y, model, base)
    assert diff.ci_low < truth < diff.ci_high
    assert diff.ci_low > 0.5  # clearly better, and the interval is not absurdly wide
    assert diff.ci_low < diff.value < diff.ci_high


def test_no_difference_gives_an_interval_around_zero():
    rng = np.random.default_rng(2)
    y = rng.normal(size=1500)
    diff = _interval(y, y + rng.normal(size=1500), y + rng.normal(size=1500))
    assert diff.ci_low < 0 < diff.ci_high
    assert not diff.below_zero


def test_resampling_is_seeded_and_masks_rows():
    assert np.array_equal(resample_indices(50, 5, 3), resample_indices(50, 5, 3))
    y = np.arange(10.0)
    mask = np.zeros(10, bool)
    mask[:5] = True
    largest = metric_samples(lambda yy, pp: float(yy.max(initial=-1)), y, y, resample_indices(10, 30, 0), mask)
    assert largest.max() == 4  # only labelled rows (values 0..4) reach the metric
    assert all(math.isnan(v) for v in percentile_interval(np.array([np.nan, np.nan]), 0.9))
    assert percentile_interval(np.arange(101.0), 0.9) == pytest.approx((5.0, 95.0))


def _arrays(rng, n):
    y_amount = rng.normal(size=n)
    churn_score = rng.normal(size=n)
    y_churn = (churn_score + rng.normal(scale=0.5, size=n) > 0).astype(np.float32)
    mask_amount = rng.random(n) < 0.8
    test = {
        "y_amount": np.where(mask_amount, y_amount, 0.0).astype(np.float32),
        "mask_amount": mask_amount,
        "y_churn": y_churn,
        "mask_churn": np.ones(n, bool),
    }
    return test, y_amount, churn_score


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def test_negative_transfer_is_flagged_and_positive_transfer_is_not():
    rng = np.random.default_rng(3)
    n = 1500
    test, y_amount, churn_score = _arrays(rng, n)
    preds = {
        # MTL: much worse than the single-task net on amount, better on churn
        "mtl": {
            "amount": y_amount + rng.normal(scale=2.0, size=n),
            "churn": _sigmoid(3 * churn_score),
        },
        "stl": {
            "amount": y_amount + rng.normal(scale=0.5, size=n),
            "churn": _sigmoid(churn_score + rng.normal(scale=1.5, size=n)),
        },
        "gbdt": {"amount": y_amount + rng.normal(scale=1.0, size=n)},  # no GBDT for churn
    }
    scores = score_tasks([REGRESSION, BINARY], test, preds, n_resamples=60, confidence=0.95, seed=0)
    amount, churn = scores["tasks"]["amount"], scores["tasks"]["churn"]

    assert amount["negative_transfer"] is True
    assert amount["diff_vs_stl"]["ci_high"] < 0 and amount["diff_vs_stl"]["value"] < 0
    assert churn["negative_transfer"] is False
    assert churn["diff_vs_stl"]["ci_low"] > 0

    assert amount["n_test"] == int(test["mask_amount"].sum()) < n
    assert amount["mtl"]["mae"] == pytest.approx(
        np.abs(preds["mtl"]["amount"] - y_amount)[test["mask_amount"]].mean(), rel=1e-6
    )
    assert churn["gbdt"] == {} and churn["diff_vs_gbdt"]["value"] is None
    # Δm: each task's relative change, signed; GBDT only has amount
    assert scores["delta_m"]["vs_gbdt"] == pytest.approx(
        -100 * (amount["mtl"]["mae"] - amount["gbdt"]["mae"]) / amount["gbdt"]["mae"]
    )
    ci = scores["delta_m_ci"]["vs_stl"]
    assert ci["ci_low"] <= scores["delta_m"]["vs_stl"] <= ci["ci_high"]
    assert set(scores["calibration"]) == {"churn"}


def _relative(y, model, base, higher=False, n_resamples=500, seed=0):
    fn = metric_fn(REGRESSION)
    idx = resample_indices(len(y), n_resamples, seed)
    return paired_difference(
        fn(y, model), fn(y, base), metric_samples(fn, y, model, idx), metric_samples(fn, y, base, idx), higher, 0.95,
        relative=True,
    )


def test_relative_change_is_signed_and_pairing_finds_a_small_consistent_loss():
    rng = np.random.default_rng(4)
    n = 1000
    y = rng.normal(size=n)
    base = y + rng.normal(size=n)
    worse = base + 0.05 * np.sign(base - y)  # every row's error grows by 0.05: MAE ≈ 0.80 → 0.85
    change = _relative(y, worse, base)
    assert change.value == pytest.approx(-0.05 / np.mean(np.abs(base - y)), rel=1e-6)  # lower MAE is better
    assert change.ci_high < 0  # paired: the shared noise cancels, the loss is certain
    # unpaired, the two models' own intervals overlap: their sampling noise hides the loss
    fn, idx = metric_fn(REGRESSION), resample_indices(n, 500, 0)
    alone = percentile_interval(metric_samples(fn, y, base, idx), 0.95)
    other = percentile_interval(metric_samples(fn, y, worse, resample_indices(n, 500, 1)), 0.95)
    assert other[0] < alone[1]
    # the sign follows the metric's direction
    flipped = _relative(y, worse, base, higher=True)
    assert flipped.value == pytest.approx(-change.value) and flipped.ci_low > 0


def test_a_loss_within_noise_has_an_interval_that_covers_zero():
    rng = np.random.default_rng(6)
    n = 400
    y = rng.normal(size=n)
    base = y + rng.normal(size=n)
    twin = y + rng.normal(size=n)  # errors from the same distribution: as good, a little worse on this sample
    change = _relative(y, twin, base)
    assert change.value < 0 < change.ci_high and change.ci_low < change.value


# --------------------------------------------------------------------- many resamples at once
def _cases(rng, n):
    """(task type, metric, labels, predictions) for every metric that has a form over many resamples."""
    y_bin = (rng.random(n) < 0.3).astype(np.int64)
    tied = np.round(rng.random(n) + 0.4 * y_bin, 1)  # few distinct values: many ties across the classes
    y_reg, y_multi = rng.normal(size=n), rng.normal(size=(n, 3))
    probs = rng.dirichlet(np.ones(4), size=n)
    return [
        ("binary", "roc_auc", y_bin, tied),
        ("binary", "accuracy", y_bin, tied.clip(0, 1)),
        ("regression", "mae", y_reg, y_reg + rng.normal(size=n)),
        ("regression", "rmse", y_reg, y_reg + rng.normal(size=n)),
        ("multi_regression", "mae", y_multi, y_multi + rng.normal(size=(n, 3))),
        ("multi_regression", "rmse", y_multi, y_multi + rng.normal(size=(n, 3))),
        ("multiclass", "accuracy", rng.integers(0, 4, size=n), probs),
    ]


@pytest.mark.parametrize("n", [0, 7, 400])
def test_the_resamples_scored_at_once_equal_one_call_per_resample(n, monkeypatch):
    """The weighted forms give what sklearn gives on each resample's rows, masked rows left out; at 7 rows some
    resamples hold one class (AUC undefined: NaN both ways), at none every metric is NaN. Blocks of resamples
    give the same as one block."""
    from mtlops.task_types import task_type

    rng = np.random.default_rng(n)
    mask = rng.random(n) < 0.7
    idx = resample_indices(n, 300, seed=n)
    for kind, name, y, pred in _cases(rng, n):
        metric = task_type(kind).metrics[name]
        assert metric.resampled is not None, (kind, name)
        looped = metric_samples(metric.fn, y, pred, idx, mask)
        at_once = metric_samples(metric.fn, y, pred, idx, mask, metric.resampled)
        assert np.array_equal(np.isnan(looped), np.isnan(at_once)), (kind, name)
        np.testing.assert_allclose(at_once, looped, rtol=1e-12, atol=1e-12, err_msg=f"{kind} {name}")
        if n == 7 and name == "roc_auc":
            assert np.isnan(looped).any() and not np.isnan(looped).all()
        if n == 0:
            assert np.isnan(at_once).all()
        monkeypatch.setattr("mtlops.metrics.bootstrap._CELLS", n * 7)  # blocks of 7 resamples
        np.testing.assert_array_equal(metric_samples(metric.fn, y, pred, idx, mask, metric.resampled), at_once)
        monkeypatch.undo()
