"""The size-aware recipe: batch size, warm-up + cosine, the weight average, and stopping on validation Δm."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from mtlops.config import with_overrides
from mtlops.training import TrainSettings, fit
from mtlops.training.from_config import train_from_config
from mtlops.training.recipe import WeightAverage, resolve_batch_size, warmup_cosine
from mtlops.weighting import build_weighting
from tests.models.tiny import TASK_TYPES, arrays, model
from tests.training.test_from_config import processed  # noqa: F401  (fixture)


@pytest.mark.parametrize(("n", "expected"), [(281_373, 1024), (3_666, 64), (15_731, 256), (100, 8), (40_000, 1024)])
def test_auto_batch_size_gives_at_least_32_steps_per_epoch_up_to_1024(n, expected):
    size = resolve_batch_size("auto", n)
    assert size == expected and size & (size - 1) == 0
    assert size in (8, 1024) or n // size >= 32  # 8: the floor for tiny data
    assert resolve_batch_size(300, n) == 300


def test_warmup_then_cosine_to_zero():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    schedule = warmup_cosine(opt, warmup_steps=4, total_steps=20)
    rates = []
    for _ in range(20):
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        schedule.step()
    assert rates[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert all(a >= b for a, b in itertools.pairwise(rates[3:]))  # non-increasing after the warm-up
    assert rates[-1] < 0.01 and rates[12] == pytest.approx(0.5 * (1 + np.cos(np.pi * 8 / 16)))


def test_weight_average_is_an_ema_and_leaves_the_raw_weights_in_place():
    net = torch.nn.Linear(3, 2)
    average = WeightAverage(net, half_life_epochs=1.0, steps_per_epoch=2)  # decay 0.5 ** (1/2) per step
    start = [p.detach().clone() for p in net.parameters()]
    with torch.no_grad():
        for p in net.parameters():
            p.add_(1.0)
    average.update()
    raw = [p.detach().clone() for p in net.parameters()]
    expected = [s + (1 - 0.5**0.5) * 1.0 for s in start]
    with average.applied():
        for p, e in zip(net.parameters(), expected):
            torch.testing.assert_close(p.detach(), e)
    for p, r in zip(net.parameters(), raw):
        assert torch.equal(p.detach(), r)


def _fit(**overrides):
    settings = TrainSettings(**{"epochs": 3, "batch_size": 32, "lr": 0.01, "device": "cpu", "progress": False,
                                "patience": 5, "seed": 3, **overrides})
    m = model("hard")
    w = build_weighting("equal", {}, m.task_names, TASK_TYPES)
    return fit(m, w, arrays(160, seed=1), arrays(60, seed=2), settings)


def test_the_kept_weights_are_the_average_and_a_vanishing_half_life_is_the_raw_run():
    raw = _fit(ema_half_life=None)
    averaged = _fit(ema_half_life=0.5)
    instant = _fit(ema_half_life=1e-9)  # decay ~0: the average is the last step's weights
    for a, _b, c in zip(raw.model.state_dict().values(), averaged.model.state_dict().values(),
                       instant.model.state_dict().values()):
        torch.testing.assert_close(a, c)
    assert any(not torch.equal(a, b) for a, b in zip(raw.model.state_dict().values(),
                                                       averaged.model.state_dict().values()))


def test_threads_are_set_while_training_and_restored_after():
    before = torch.get_num_threads()
    seen = []
    settings = TrainSettings(epochs=1, batch_size=64, device="cpu", progress=False, threads=1)
    m = model("hard")
    fit(m, build_weighting("equal", {}, m.task_names, TASK_TYPES), arrays(64, seed=1), arrays(32, seed=2),
        settings, callbacks=[lambda epoch, row, net: seen.append(torch.get_num_threads())])
    assert seen == [1] and torch.get_num_threads() == before


def test_early_stopping_judges_epochs_by_validation_delta_m(processed):  # noqa: F811
    cfg, paths, _ = processed
    cfg = with_overrides(cfg, {"train": {"epochs": 6, "patience": 6, "lr": 0.05, "stop_on": "val_delta_m"}})
    result = train_from_config(cfg, paths)
    rows = result.history
    assert all(r["val_objective"] == pytest.approx(-r["val_delta_m"]) for r in rows)
    assert set(rows[0]["val_metrics"]) == {"churn", "segment", "amount"}
    assert rows[0]["val_delta_m"] == pytest.approx(0.0)  # the first epoch is the reference without baselines
    best = max(rows, key=lambda r: r["val_delta_m"])
    assert result.best_epoch == best["epoch"]

    by_loss = train_from_config(with_overrides(cfg, {"train": {"stop_on": "val_loss"}}), paths).history
    assert all("val_delta_m" not in r for r in by_loss)
    assert [r["val_objective"] for r in by_loss] == pytest.approx([float(np.mean(list(r["val_loss"].values())))
                                                                   for r in by_loss])


def test_a_given_reference_is_what_delta_m_is_measured_against(processed):  # noqa: F811
    cfg, paths, _ = processed
    first = train_from_config(cfg, paths).history[0]["val_metrics"]
    shifted = {t: v * 2 for t, v in first.items()}  # a reference twice each metric
    row = train_from_config(cfg, paths, reference=shifted).history[0]
    assert row["val_reference"] == shifted and row["val_delta_m"] < 0
