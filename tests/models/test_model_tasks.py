"""A model with tasks of every type: masked rows and no-label batches add nothing; predictions; specs.

Each type's own head, loss and statistics are tested in tests/task_types.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mtlops.models import ModelSpec, ModelSpecError, TaskSpec
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


def test_prediction_transforms_per_task_type():
    m = model("hard")
    preds = m.predict_outputs(m(batch(arrays(6))))
    assert preds["churn"].shape == (6,) and ((preds["churn"] > 0) & (preds["churn"] < 1)).all()
    torch.testing.assert_close(preds["segment"].sum(-1), torch.ones(6))
    assert preds["amount"].shape == (6,)


def test_target_statistics_reach_the_heads_that_keep_them():
    m = model("hard")
    a = arrays(200)
    before = {k: v.clone() for k, v in m.state_dict().items() if not k.startswith("heads.amount.")}
    m.set_target_stats(a)
    labelled = a["y_amount"][a["mask_amount"]].astype(np.float64)
    assert float(m.heads["amount"].mean) == pytest.approx(labelled.mean(), rel=1e-5)
    assert bool(m.target_stats_set)
    assert all(torch.equal(v, before[k]) for k, v in m.state_dict().items() if k in before and k != "target_stats_set")


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"name": "t", "type": "ordinal"}, "unknown task type"),
        ({"name": "t", "type": "binary", "loss": "mse"}, "does not fit"),
        ({"name": "t", "type": "multiclass"}, "n_classes"),
        ({"name": "t", "type": "regression", "pos_weight": 2.0}, "pos_weight"),
    ],
)
def test_task_spec_mistakes_are_named(kwargs, fragment):
    with pytest.raises(ModelSpecError, match=fragment):
        TaskSpec(**kwargs)


def test_model_spec_round_trips_through_a_plain_dict():
    spec = ModelSpec(INPUTS, [TaskSpec("a", "binary"), TaskSpec("b", "multiclass", n_classes=4)], "mmoe",
                     {"experts": 2})
    again = ModelSpec.from_dict(spec.to_dict())
    assert again == spec
    with pytest.raises(ModelSpecError, match="unique"):
        ModelSpec(INPUTS, [TaskSpec("a", "binary"), TaskSpec("a", "binary")])
