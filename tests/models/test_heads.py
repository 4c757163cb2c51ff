"""Losses honour the label mask; no-label batches; target standardisation; predictions per task type."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mtlops.models import ModelSpec, ModelSpecError, TaskSpec, build_model
from tests.models.tiny import INPUTS, arrays, batch, model


def _loss_and_grads(m, b):
    m.zero_grad()
    losses = m.losses(m(b), b)
    sum(losses.values()).backward()
    return {t: v.detach() for t, v in losses.items()}, [p.grad.clone() for p in m.parameters()]


@pytest.mark.parametrize("architecture", ["hard", "mmoe"])
def test_a_masked_row_changes_nothing_whatever_its_label(architecture):
    m = model(architecture, dropout=0.0)
    a = arrays(16, seed=3)
    for t in ("churn", "segment", "amount"):
        a[f"mask_{t}"][5] = False
    reference = _loss_and_grads(m, batch(a))
    for junk in (np.nan, np.inf, -1e30, 7):
        b = batch({k: v.copy() for k, v in a.items()})
        b["y_churn"][5] = junk
        b["y_amount"][5] = junk
        b["y_segment"][5] = 12345 if np.isfinite(junk) else -7  # not a class at all
        losses, grads = _loss_and_grads(m, b)
        for t in losses:
            torch.testing.assert_close(losses[t], reference[0][t], rtol=0, atol=0)
        for g, ref in zip(grads, reference[1]):
            torch.testing.assert_close(g, ref, rtol=0, atol=0)


def test_a_masked_row_with_non_finite_features_output_adds_no_gradient():
    m = model("hard")
    a = arrays(8)
    a["mask_churn"][:] = [True] * 7 + [False]
    b = batch(a)
    out = m(b)
    out["churn"] = out["churn"].clone()
    out["churn"].retain_grad()
    loss = m.losses(out, b)["churn"]
    loss.backward()
    assert out["churn"].grad[7] == 0 and out["churn"].grad[:7].abs().sum() > 0


def test_no_label_in_the_batch_gives_a_zero_loss_that_backpropagates():
    m = model("ple")
    b = batch(arrays(8, unlabelled={"churn": 1.0, "segment": 1.0, "amount": 1.0}))
    losses = m.losses(m(b), b)
    assert all(float(v.detach()) == 0.0 for v in losses.values())
    sum(losses.values()).backward()
    assert all(torch.isfinite(p.grad).all() and not p.grad.any() for p in m.parameters() if p.grad is not None)


def test_masked_mean_is_over_labelled_rows_only():
    m = model("hard")
    a = arrays(10)
    a["mask_amount"][:] = [True, False] * 5
    b = batch(a)
    out = m(b)
    head = m.heads["amount"]
    per_row = torch.nn.functional.huber_loss(out["amount"], head.standardise(b["y_amount"]), reduction="none")
    torch.testing.assert_close(m.losses(out, b)["amount"], per_row[::2].mean())


def test_pos_weight_scales_the_positive_rows():
    plain = build_model(ModelSpec(INPUTS, [TaskSpec("churn", "binary")]))
    weighted = build_model(ModelSpec(INPUTS, [TaskSpec("churn", "binary", pos_weight=4.0)]))
    weighted.load_state_dict(plain.state_dict(), strict=False)
    a = arrays(32)
    a["y_churn"][:] = 1.0
    b = batch(a)
    ratio = weighted.losses(weighted(b), b)["churn"] / plain.losses(plain(b), b)["churn"]
    assert float(ratio.detach()) == pytest.approx(4.0, rel=1e-5)


def test_regression_targets_are_standardised_with_training_statistics_and_undone_at_prediction():
    m = model("hard")
    a = arrays(200)
    a["y_amount"][~a["mask_amount"]] = 1e9  # unlabelled rows must not enter the statistics
    m.set_target_stats(a)
    labelled = a["y_amount"][a["mask_amount"]].astype(np.float64)
    head = m.heads["amount"]
    assert float(head.mean) == pytest.approx(labelled.mean(), rel=1e-5)
    assert float(head.std) == pytest.approx(labelled.std(), rel=1e-5)
    raw = torch.tensor([0.0, 1.0, -2.0])
    torch.testing.assert_close(head.predict(raw), head.mean + raw * head.std)
    torch.testing.assert_close(head.standardise(head.predict(raw)), raw)
    assert bool(m.target_stats_set)


def test_multi_regression_box_heads_mask_rows_and_standardise_per_column():
    spec = ModelSpec(INPUTS, [TaskSpec("box", "multi_regression", dim=4, loss="l1")], "hard")
    m = build_model(spec)
    a = arrays(20)
    rng = np.random.default_rng(0)
    a["y_box"] = rng.uniform([0, 0, 0.5, 0.5], [0.5, 0.5, 1.0, 1.0], size=(20, 4)).astype(np.float32)
    a["mask_box"] = np.arange(20) % 4 != 0
    a["y_box"][~a["mask_box"]] = np.nan
    m.set_target_stats(a)
    assert m.heads["box"].mean.shape == (4,)
    b = batch(a)
    out = m(b)
    assert out["box"].shape == (20, 4)
    loss = m.losses(out, b)["box"]
    assert torch.isfinite(loss)
    assert m.predict_outputs(out)["box"].shape == (20, 4)


def test_prediction_transforms_per_task_type():
    m = model("hard")
    preds = m.predict_outputs(m(batch(arrays(6))))
    assert preds["churn"].shape == (6,) and ((preds["churn"] > 0) & (preds["churn"] < 1)).all()
    torch.testing.assert_close(preds["segment"].sum(-1), torch.ones(6))
    assert preds["amount"].shape == (6,)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"name": "t", "type": "ordinal"}, "unknown type"),
        ({"name": "t", "type": "binary", "loss": "mse"}, "does not fit"),
        ({"name": "t", "type": "multiclass"}, "n_classes"),
        ({"name": "t", "type": "regression", "pos_weight": 2.0}, "pos_weight"),
    ],
)
def test_task_spec_mistakes_are_named(kwargs, fragment):
    with pytest.raises(ModelSpecError, match=fragment):
        TaskSpec(**kwargs)


def test_model_spec_round_trips_through_a_plain_dict():
    spec = ModelSpec(INPUTS, [TaskSpec("a", "binary"), TaskSpec("b", "multiclass", n_classes=4)], "mmoe", {"experts": 2})
    again = ModelSpec.from_dict(spec.to_dict())
    assert again == spec
    with pytest.raises(ModelSpecError, match="unique"):
        ModelSpec(INPUTS, [TaskSpec("a", "binary"), TaskSpec("a", "binary")])
