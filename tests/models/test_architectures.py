"""Every architecture x every weighting trains a step on mixed tasks; parameter groups; per-file behaviour."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from mtlops.catalog import check_method_params
from mtlops.models import ModelSpecError, build_model
from mtlops.models.architectures import ARCHITECTURES
from mtlops.weighting import WEIGHTINGS, build_weighting
from tests.models.tiny import SMALL, TASK_TYPES, arrays, batch, forward_with_cut, model, spec


@pytest.mark.parametrize("weighting", sorted(WEIGHTINGS))
@pytest.mark.parametrize("architecture", sorted(ARCHITECTURES))
def test_every_architecture_with_every_weighting_steps(architecture, weighting):
    m = model(architecture)
    w = build_weighting(weighting, {}, m.task_names, TASK_TYPES)
    opt = torch.optim.SGD(list(m.parameters()) + w.parameters(), lr=0.05)
    # the second batch has no label at all for `amount`
    for b in (batch(arrays(32, seed=1)), batch(arrays(32, seed=2, unlabelled={"amount": 1.0}))):
        outputs, cut = forward_with_cut(m, b)
        assert set(outputs) == set(m.task_names)
        losses = m.losses(outputs, b)
        applied = w.backward(losses, m, cut)
        assert set(applied) == set(m.task_names)
        assert all(torch.isfinite(v) for v in applied.values())
        for name, p in m.named_parameters():
            assert p.grad is not None and torch.isfinite(p.grad).all(), name
        opt.step()
        opt.zero_grad(set_to_none=True)
        w.after_step(lambda b=b: m.losses(m(b), b))
    assert all(torch.isfinite(p).all() for p in m.parameters())


@pytest.mark.parametrize("architecture", sorted(ARCHITECTURES))
def test_parameters_split_into_shared_and_per_task(architecture):
    m = model(architecture)
    everything = {id(p) for p in m.parameters()}
    shared = {id(p) for p in m.shared_parameters()}
    per_task = [{id(p) for p in m.task_parameters(t)} for t in m.task_names]
    assert shared | set().union(*per_task) == everything
    assert all(not (shared & own) for own in per_task)
    assert all(not (a & b) for i, a in enumerate(per_task) for b in per_task[i + 1 :])
    last = {id(p) for p in m.last_shared_parameters()}
    assert last and last <= shared


@pytest.mark.parametrize("architecture", sorted(ARCHITECTURES))
def test_task_parameters_are_reached_only_by_their_task(architecture):
    m = model(architecture)
    b = batch(arrays(16))
    losses = m.losses(m(b), b)
    for t in m.task_names:
        others = [p for u in m.task_names if u != t for p in m.task_parameters(u)]
        grads = torch.autograd.grad(losses[t], others, retain_graph=True, allow_unused=True)
        assert all(g is None or not g.any() for g in grads)


@pytest.mark.parametrize("architecture", sorted(ARCHITECTURES))
def test_single_task_model_is_the_same_code_with_one_task(architecture):
    m = model(architecture, tasks=[spec().tasks[2]])
    b = batch(arrays(8))
    out = m(b)
    assert list(out) == ["amount"] and out["amount"].shape == (8 * m.members,)  # an ensemble: (row, member) pairs
    m.losses(out, b)["amount"].backward()


@pytest.mark.parametrize("architecture", sorted(ARCHITECTURES))
def test_the_cut_gives_the_gradients_of_a_plain_backward(architecture):
    m = model(architecture, dropout=0.0)
    b = batch(arrays(16))
    outputs, cut = forward_with_cut(m, b)
    (sum(m.losses(outputs, b).values()) + m.regularization()).backward()
    cut.backward()
    via_cut = [p.grad.clone() for p in m.parameters()]
    m.zero_grad()
    (sum(m.losses(m(b), b).values()) + m.regularization()).backward()
    for a, p in zip(via_cut, m.parameters()):
        torch.testing.assert_close(a, p.grad)


def test_soft_sharing_penalty_is_the_pairwise_l2_distance():
    m = model("soft", tie_strength=0.5)
    towers = [list(m.architecture.towers[t].parameters()) for t in m.task_names]
    expected = sum(
        (a - b).pow(2).sum()
        for i in range(3)
        for j in range(i + 1, 3)
        for a, b in zip(towers[i], towers[j])
    )
    torch.testing.assert_close(m.regularization(), 0.5 * expected)
    with torch.no_grad():  # identical columns: no penalty
        for params in towers[1:]:
            for p, ref in zip(params, towers[0]):
                p.copy_(ref)
    assert float(m.regularization().detach()) == pytest.approx(0.0, abs=1e-6)
    assert model("hard").regularization() == 0.0


def test_cross_stitch_starts_near_identity_and_mixes_columns():
    m = model("cross_stitch", self_weight=0.8)
    alpha = m.architecture.shared["stitch"][0]
    assert torch.allclose(alpha.diag(), torch.full((3,), 0.8))
    assert torch.allclose(alpha.sum(1), torch.ones(3))
    b = batch(arrays(8))
    loss = m.losses(m(b), b)["churn"]
    other_column = m.architecture.shared["columns"][0][1][0].weight  # task 2's first layer
    (grad,) = torch.autograd.grad(loss, other_column)
    assert grad.abs().sum() > 0  # task 1's loss reaches task 2's column through the stitch


def test_mmoe_gates_are_softmax_mixtures_of_shared_experts():
    m = model("mmoe")
    h = m.encoder(batch(arrays(5)))
    _, experts = m.architecture.trunk(h)
    assert experts.shape == (5, 3, 16)
    gate = torch.softmax(m.architecture.towers["churn"]["gate"](h), -1)
    torch.testing.assert_close(gate.sum(-1), torch.ones(5))


def test_ple_with_one_level_is_cgc_and_more_levels_stack():
    one = model("ple", num_levels=1)
    three = model("ple", num_levels=3)
    assert len(one.architecture.shared["levels"]) == 0
    assert len(three.architecture.shared["levels"]) == 2
    b = batch(arrays(4))
    assert one(b)["segment"].shape == three(b)["segment"].shape == (4, 3)
    # the last trunk level's task gates reach only their own task
    exclusive = three.architecture.exclusive_trunk_parameters()
    assert set(exclusive) == set(three.task_names) and all(exclusive.values())


@pytest.mark.parametrize(
    ("name", "params", "fragment"),
    [
        ("hard", {"width": 0}, "width"),
        ("hard", {"dropout": 1.5}, "dropout"),
        ("hard", {"widht": 3}, "unknown params"),
        ("mmoe", {"experts": "many"}, "experts"),
        ("soft", {"tie_strength": -1.0}, "tie_strength"),
        ("ple", {"num_levels": 0}, "num_levels"),
        ("cross_stitch", {"self_weight": 2.0}, "self_weight"),
    ],
)
def test_bad_architecture_params_name_the_key(name, params, fragment):
    problem = check_method_params("architecture", name, params, ["a", "b"])
    assert problem and fragment in problem


def test_architecture_defaults_validate_and_build():
    for name, cls in ARCHITECTURES.items():
        assert check_method_params("architecture", name, {}, ["a", "b"]) is None
        defaults = dataclasses.asdict(cls.Params())
        assert all(isinstance(v, (int, float, bool, list, dict)) for v in defaults.values())
        build_model(spec(name, {}))


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_an_architecture_takes_its_params_as_a_dict_a_params_or_none(name):
    cls = ARCHITECTURES[name]
    small = SMALL[name]
    assert cls(4, ["a", "b"], small).params == cls(4, ["a", "b"], cls.Params(**small)).params == cls.Params(**small)
    assert cls(4, ["a", "b"]).params == cls.Params()


def test_unknown_architecture_or_bad_params_fail_at_build():
    with pytest.raises(ModelSpecError, match="unknown architecture 'deep'"):
        build_model(spec("deep"))
    with pytest.raises(ModelSpecError, match="depth"):
        build_model(spec("hard", {"depth": 0}))
