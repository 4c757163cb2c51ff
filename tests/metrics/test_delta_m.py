"""Δm signs: lower-is-better metrics count an improvement as positive, like higher-is-better ones."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mtlops.metrics.delta_m import delta_m, delta_m_samples


def test_lower_mae_than_baseline_is_positive():
    assert delta_m({"a": 8.0}, {"a": 10.0}, {"a": False}) == pytest.approx(20.0)
    assert delta_m({"a": 12.0}, {"a": 10.0}, {"a": False}) == pytest.approx(-20.0)


def test_mixed_directions_average_relative_gains():
    model = {"auc": 0.9, "mae": 8.0}
    base = {"auc": 0.75, "mae": 10.0}
    higher = {"auc": True, "mae": False}
    # auc: +0.15/0.75 = +20 %, mae: −(8−10)/10 = +20 %
    assert delta_m(model, base, higher) == pytest.approx(20.0)
    worse = {"auc": 0.6, "mae": 8.0}  # −20 % and +20 %
    assert delta_m(worse, base, higher) == pytest.approx(0.0)


def test_negative_baseline_uses_its_magnitude():
    # R² of −0.5 → −0.25 is an improvement of 0.25 / |−0.5| = 50 %
    assert delta_m({"r2": -0.25}, {"r2": -0.5}, {"r2": True}) == pytest.approx(50.0)


def test_zero_or_missing_baselines_are_left_out():
    higher = {"a": True, "b": True, "c": True}
    model = {"a": 1.1, "b": 0.5, "c": 0.3}
    assert delta_m(model, {"a": 1.0, "b": 0.0, "c": None}, higher) == pytest.approx(10.0)
    assert math.isnan(delta_m(model, {"b": 0.0}, higher))
    assert delta_m({"a": float("nan"), "b": 2.0}, {"a": 1.0, "b": 1.0}, higher) == pytest.approx(100.0)


def test_samples_agree_with_scalar_delta_m():
    rng = np.random.default_rng(0)
    model = {"a": rng.random(5) + 0.5, "b": rng.random(5) + 1.0}
    base = {"a": rng.random(5) + 0.5, "b": rng.random(5) + 1.0}
    higher = {"a": True, "b": False}
    per_sample = delta_m_samples(model, base, higher)
    for i in range(5):
        expected = delta_m({k: v[i] for k, v in model.items()}, {k: v[i] for k, v in base.items()}, higher)
        assert per_sample[i] == pytest.approx(expected)
