"""Each weighting does what its paper's formula says, on constructed cases."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch

from mtlops.catalog import check_method_params
from mtlops.models import ModelSpec, TaskSpec, build_model
from mtlops.weighting import WEIGHTINGS, WeightingError, build_weighting
from mtlops.weighting.pcgrad import project_conflicts
from tests.models.tiny import INPUTS, TASK_TYPES, arrays, batch, forward_with_cut, model


def two_regressions(scale_b: float = -1.0, tower_depth: int = 1, seed: int = 0):
    """Tasks a and b on the same features; b's labels are `scale_b` times a's, heads start identical."""
    torch.manual_seed(seed)
    spec = ModelSpec(
        INPUTS,
        [TaskSpec("a", "regression"), TaskSpec("b", "regression")],
        "hard",
        {"width": 8, "depth": 1, "tower_width": 4, "tower_depth": tower_depth},
        {"embedding_dim": 2},
    )
    m = build_model(spec)
    m.heads["b"].load_state_dict(m.heads["a"].state_dict())
    if tower_depth:
        m.architecture.towers["b"].load_state_dict(m.architecture.towers["a"].state_dict())
    a = arrays(32, seed=4)
    y = 3.0 + a["num"][:, 0] * 2
    data = {"num": a["num"], "cat": a["cat"], "y_a": y, "y_b": scale_b * y,
            "mask_a": np.ones(32, bool), "mask_b": np.ones(32, bool)}
    return m, batch(data)


# ------------------------------------------------------------------------------------------------ PCGrad
def test_project_conflicts_by_hand():
    g = torch.tensor([[1.0, 0.0], [-1.0, 1.0]])  # g1 . g2 = -1 < 0
    projected = project_conflicts(g)
    # g1 - (g1.g2)/|g2|^2 g2 = (1, 0) + 0.5 (-1, 1); g2 - (g2.g1)/|g1|^2 g1 = (-1, 1) + (1, 0)
    torch.testing.assert_close(projected, torch.tensor([[0.5, 0.5], [0.0, 1.0]]))
    agreeing = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    torch.testing.assert_close(project_conflicts(agreeing), agreeing)


def test_pcgrad_matches_the_hand_computed_projection_on_shared_parameters_only():
    m, b = two_regressions(scale_b=-1.0)
    losses = m.losses(m(b), b)
    shared = m.shared_parameters()
    g1 = torch.cat([g.reshape(-1) for g in torch.autograd.grad(losses["a"], shared, retain_graph=True)])
    g2 = torch.cat([g.reshape(-1) for g in torch.autograd.grad(losses["b"], shared, retain_graph=True)])
    dot = g1 @ g2
    assert dot < 0, "the constructed tasks must conflict"
    expected_shared = (g1 - dot / (g2 @ g2) * g2) + (g2 - dot / (g1 @ g1) * g1)
    own = {t: torch.autograd.grad(losses[t], m.task_parameters(t), retain_graph=True) for t in ("a", "b")}

    w = build_weighting("pcgrad", {}, ["a", "b"])
    outputs, cut = forward_with_cut(m, b)
    applied = w.backward(m.losses(outputs, b), m, cut)
    assert {t: float(v) for t, v in applied.items()} == {"a": 1.0, "b": 1.0}
    got_shared = torch.cat([p.grad.reshape(-1) for p in shared])
    torch.testing.assert_close(got_shared, expected_shared)
    for t in ("a", "b"):  # task-specific parameters: the plain gradient of their own loss
        for p, g in zip(m.task_parameters(t), own[t]):
            torch.testing.assert_close(p.grad, g)


# ------------------------------------------------------------------------------------------- uncertainty
def test_uncertainty_weights_and_their_update_follow_kendall():
    w = build_weighting("uncertainty", {"init_log_var": 0.2}, ["cls", "reg"], {"cls": "binary", "reg": "regression"})
    (log_var,) = w.parameters()
    losses = torch.tensor([4.0, 0.01])
    total, weights = w.combine(losses)
    factor = torch.tensor([1.0, 0.5])
    torch.testing.assert_close(weights, factor * math.exp(-0.2))
    torch.testing.assert_close(total, (factor * math.exp(-0.2) * losses).sum() + 0.5 * 0.4)
    total.backward()
    expected_grad = -factor * math.exp(-0.2) * losses + 0.5
    torch.testing.assert_close(log_var.grad, expected_grad)
    torch.optim.SGD([log_var], lr=0.1).step()
    assert log_var[0] > 0.2 > log_var[1]  # the noisy task's variance grows: its weight falls
    new_weights = w.combine(losses)[1]
    assert new_weights[0] < weights[0] and new_weights[1] > weights[1]


# ------------------------------------------------------------------------------------------------- DWA
def test_dwa_weights_follow_the_ratio_of_the_last_two_epoch_losses():
    w = build_weighting("dwa", {"temperature": 2.0}, ["a", "b", "c"])
    losses = torch.tensor([1.0, 1.0, 1.0])
    torch.testing.assert_close(w.combine(losses)[1], torch.ones(3))
    w.on_epoch_end(1, {"a": 1.0, "b": 1.0, "c": 2.0})
    torch.testing.assert_close(w.combine(losses)[1], torch.ones(3))  # two epochs needed
    w.on_epoch_end(2, {"a": 0.5, "b": 0.9, "c": 2.0})
    ratio = torch.tensor([0.5, 0.9, 1.0])
    expected = 3 * torch.softmax(ratio / 2.0, 0)
    torch.testing.assert_close(w.combine(losses)[1], expected)
    assert expected[0] < expected[1] < expected[2]  # the stalled task gets the most weight
    w.on_epoch_end(3, {"a": 0.5, "b": 0.0, "c": 1.0})  # b had no labels: ratio 0/0.9 = 0 is kept finite
    assert torch.isfinite(w.combine(losses)[1]).all()


# -------------------------------------------------------------------------------------------- GradNorm
def test_gradnorm_applies_its_weights_exactly_and_balances_gradient_norms():
    m, b = two_regressions(scale_b=10.0, tower_depth=0)  # raw scale: b's gradients are ~10x larger
    w = build_weighting("gradnorm", {"alpha": 0.0, "lr": 0.1}, ["a", "b"])
    opt = torch.optim.SGD(m.parameters(), lr=1e-3)
    for _ in range(5):
        outputs, cut = forward_with_cut(m, b)
        losses = m.losses(outputs, b)
        applied = w.backward(losses, m, cut)
        got = [p.grad.clone() for p in m.parameters()]
        m.zero_grad()
        losses = m.losses(m(b), b)
        (applied["a"] * losses["a"] + applied["b"] * losses["b"]).backward()
        for g, p in zip(got, m.parameters()):
            torch.testing.assert_close(g, p.grad, rtol=1e-5, atol=1e-6)
        opt.step()
        opt.zero_grad()
    weights = w.current()
    assert float(weights.sum()) == pytest.approx(2.0)
    assert weights[0] > 1.0 > weights[1]  # the task with the larger gradient norm is turned down


# ------------------------------------------------------------------------------------------------ FAMO
def test_famo_weights_equalise_log_loss_steps_and_skip_unlabelled_tasks():
    w = build_weighting("famo", {}, ["a", "b", "c"])
    losses = torch.tensor([1.0, 2.0, 0.0])
    _, weights = w.combine(losses)
    torch.testing.assert_close(weights, torch.tensor([2 / 3, 1 / 3, 0.0]), rtol=1e-6, atol=1e-7)
    assert float(weights.sum()) == pytest.approx(1.0)


def test_famo_raises_the_weight_of_the_task_that_improved_least():
    w = build_weighting("famo", {"lr": 0.1}, ["a", "b"])
    w.combine(torch.tensor([1.0, 1.0]))
    w.after_step(lambda: {"a": torch.tensor(0.5), "b": torch.tensor(1.0)})
    z = torch.softmax(w.logits.detach(), 0)
    assert z[1] > 0.5 > z[0]


# ------------------------------------------------------------------------------------- static, registry
def test_static_weights_and_their_check():
    assert check_method_params("weighting", "static", {"weights": {"a": 2.0, "zz": 1.0}}, ["a", "b"]) is not None
    assert "zz" in check_method_params("weighting", "static", {"weights": {"zz": 1.0}}, ["a", "b"])
    assert "weights['a'] = -1.0; allowed: weights >= 0" in check_method_params(
        "weighting", "static", {"weights": {"a": -1.0}}, ["a", "b"]
    )
    w = build_weighting("static", {"weights": {"a": 2.0, "b": 0.5}}, ["a", "b"])
    total, weights = w.combine(torch.tensor([1.0, 4.0]))
    assert float(total) == pytest.approx(4.0) and weights.tolist() == [2.0, 0.5]
    single = build_weighting("static", {"weights": {"a": 2.0, "b": 0.5}}, ["b"])  # other tasks' weights ignored
    assert single.combine(torch.tensor([3.0]))[1].tolist() == [0.5]


def test_unknown_weighting_or_params_are_named():
    with pytest.raises(WeightingError, match="allowed"):
        build_weighting("magic", {}, ["a"])
    assert "unknown params" in check_method_params("weighting", "dwa", {"temp": 1.0}, ["a"])
    assert "params.temperature" in check_method_params("weighting", "dwa", {"temperature": "hot"}, ["a"])
    for name in WEIGHTINGS:
        assert check_method_params("weighting", name, {}, ["a", "b"]) is None


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("dwa", {"temperature": 0.0}, "dwa: params.temperature = 0.0; allowed: temperature > 0.0"),
        ("dwa", {"temperature": float("nan")}, "dwa: params.temperature = nan; allowed: temperature > 0.0"),
        ("gradnorm", {"alpha": -1.0}, "gradnorm: params.alpha = -1.0; allowed: alpha >= 0.0"),
        ("gradnorm", {"lr": 0.0}, "gradnorm: params.lr = 0.0; allowed: lr > 0.0"),
        ("famo", {"lr": -0.1}, "famo: params.lr = -0.1; allowed: lr > 0.0"),
        ("famo", {"gamma": -1e-3}, "famo: params.gamma = -0.001; allowed: gamma >= 0.0"),
        ("famo", {"eps": 0.0}, "famo: params.eps = 0.0; allowed: eps > 0.0"),
    ],
)
def test_weighting_bounds_refuse_a_bad_value_naming_key_value_and_range(name, params, message):
    assert check_method_params("weighting", name, params, ["a", "b"]) == message
    inside = dict.fromkeys(params, 0.5)  # the same keys at a value every bound allows
    assert check_method_params("weighting", name, inside, ["a", "b"]) is None


def test_a_weighting_takes_its_params_as_a_dict_a_params_or_none():
    cls = WEIGHTINGS["famo"]
    assert build_weighting("famo", {"lr": 0.5}, ["a"]).params == cls(["a"], cls.Params(lr=0.5)).params
    assert cls(["a"]).params == cls.Params() == build_weighting("famo", None, ["a"]).params


@pytest.mark.parametrize("name", sorted(WEIGHTINGS))
def test_state_dict_round_trip_continues_identically(name):
    def run(steps, w, m, opt):
        for i in range(steps):
            b = batch(arrays(16, seed=10 + i))
            outputs, cut = forward_with_cut(m, b)
            applied = w.backward(m.losses(outputs, b), m, cut)
            opt.step()
            opt.zero_grad()
            w.after_step(lambda b=b: m.losses(m(b), b))
            w.on_epoch_end(i + 1, {t: float(v) + i for t, v in applied.items()})
        return applied

    m = model("hard")
    w = build_weighting(name, {}, m.task_names, TASK_TYPES)
    opt = torch.optim.SGD(list(m.parameters()) + w.parameters(), lr=0.01)
    run(3, w, m, opt)
    saved_model, saved_w, saved_opt = copy.deepcopy(m.state_dict()), w.state_dict(), copy.deepcopy(opt.state_dict())
    torch.manual_seed(123)  # PCGrad draws its task order from the global RNG (the trainer checkpoints it)
    expected = run(2, w, m, opt)

    m2 = model("hard")
    m2.load_state_dict(saved_model)
    w2 = build_weighting(name, {}, m2.task_names, TASK_TYPES)
    w2.load_state_dict(copy.deepcopy(saved_w))
    opt2 = torch.optim.SGD(list(m2.parameters()) + w2.parameters(), lr=0.01)
    opt2.load_state_dict(saved_opt)
    torch.manual_seed(123)
    got = run(2, w2, m2, opt2)
    for t in expected:
        torch.testing.assert_close(got[t], expected[t])
    for p, q in zip(m.parameters(), m2.parameters()):
        torch.testing.assert_close(p, q)


@pytest.mark.parametrize(
    ("architecture", "params", "inputs"),
    [
        ("ple", {"num_levels": 1}, INPUTS),  # the trunk hands the encoder output to every task
        ("mmoe", {}, INPUTS),
        ("cross_stitch", {}, INPUTS),
        ("soft", {}, {"num": {"dim": 4}}),  # nothing shared at all: no projection, no GradNorm layer
    ],
)
def test_gradnorm_through_the_cut_equals_the_weighted_backward(architecture, params, inputs):
    torch.manual_seed(0)
    tasks = [TaskSpec("churn", "binary"), TaskSpec("amount", "regression")]
    m = build_model(ModelSpec(inputs, tasks, architecture, params))
    b = batch(arrays(16))
    w = build_weighting("gradnorm", {}, m.task_names)
    with torch.no_grad():
        w.logits.copy_(torch.tensor([0.3, -0.3]))  # unequal weights
    outputs, cut = forward_with_cut(m, b)
    applied = w.backward(m.losses(outputs, b), m, cut)
    got = [p.grad.clone() for p in m.parameters()]
    m.zero_grad()
    losses = m.losses(m(b), b)
    (applied["churn"] * losses["churn"] + applied["amount"] * losses["amount"] + m.regularization()).backward()
    for g, p in zip(got, m.parameters()):
        torch.testing.assert_close(g, p.grad)
    assert applied["churn"] > applied["amount"]


def test_pcgrad_without_shared_parameters_sums_the_task_gradients():
    torch.manual_seed(0)
    m = build_model(ModelSpec({"num": {"dim": 4}}, [TaskSpec("churn", "binary"), TaskSpec("amount", "regression")],
                              "soft", {"tie_strength": 0.0}))
    b = batch(arrays(16))
    outputs, cut = forward_with_cut(m, b)
    build_weighting("pcgrad", {}, m.task_names).backward(m.losses(outputs, b), m, cut)
    got = [p.grad.clone() for p in m.parameters()]
    m.zero_grad()
    sum(m.losses(m(b), b).values()).backward()
    for g, p in zip(got, m.parameters()):
        torch.testing.assert_close(g, p.grad)
