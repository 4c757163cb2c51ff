"""TabM: k members sharing weights, folded into the batch; each member's loss counts, predictions average."""

from __future__ import annotations

import torch

from mtlops.models.architectures import ARCHITECTURES
from mtlops.schema import SearchSpace
from mtlops.search.space import searched_methods
from mtlops.training import TrainSettings, fit, predict
from mtlops.weighting import build_weighting
from tests.models.tiny import TASK_TYPES, arrays, batch, model

K = 3


def test_members_differ_and_the_loss_is_the_mean_of_each_members_loss():
    m = model("tabm")
    assert m.members == K
    b = batch(arrays(10))
    out = m(b)
    amount = out["amount"].reshape(10, K)
    assert not torch.allclose(amount[:, 0], amount[:, 1])  # random-sign adapters: members start apart
    losses = m.losses(out, b)
    for t, raw in out.items():
        per_member = raw.reshape(10, K, *raw.shape[1:])
        mask = b[f"mask_{t}"].bool()
        each = [m.heads[t].loss_terms(per_member[:, i], b[f"y_{t}"], mask) for i in range(K)]
        expected = sum(s for s, _ in each) / sum(n for _, n in each).clamp_min(1)
        torch.testing.assert_close(losses[t], expected)


def test_predictions_average_the_members_predictions():
    m = model("tabm").eval()
    data = arrays(12, seed=4)
    preds = predict(m, data)
    with torch.no_grad():
        raw = m(batch(data))
    for t, p in preds.items():
        members = m.heads[t].predict(raw[t]).reshape(12, K, *p.shape[1:])
        assert p.shape[0] == 12
        torch.testing.assert_close(torch.from_numpy(p), members.mean(1).float())


def test_it_trains_with_the_loop():
    m = model("tabm")
    w = build_weighting("equal", {}, m.task_names, TASK_TYPES)
    settings = TrainSettings(epochs=4, batch_size=32, lr=0.01, device="cpu", progress=False, patience=5, seed=3)
    result = fit(m, w, arrays(160, seed=1), arrays(60, seed=2), settings)
    first, last = result.history[0]["train_loss"], result.history[-1]["train_loss"]
    assert sum(last.values()) < sum(first.values())


def test_it_is_off_the_default_search_and_searched_when_listed():
    assert "tabm" in ARCHITECTURES
    assert "tabm" not in searched_methods(SearchSpace(), "architecture")
    assert searched_methods(SearchSpace(architectures=["hard", "tabm"]), "architecture") == ["hard", "tabm"]
