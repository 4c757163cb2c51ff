"""Inter-task affinity: a noise task has none with the others, the hook changes nothing, the report shows it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mtlops.models import ModelSpec, TaskSpec, build_model
from mtlops.training import TrainSettings, fit
from mtlops.training.affinity import TaskAffinity, affinity_from_history, lookahead_affinity
from mtlops.weighting import build_weighting
from tests.models.tiny import arrays, batch, model

RELATED_AND_NOISE = [TaskSpec("a", "regression"), TaskSpec("b", "regression"), TaskSpec("noise", "regression")]


def related_and_noise(n: int, seed: int) -> dict[str, np.ndarray]:
    """`a` and `b`: the same function of the inputs, each with a little noise; `noise`: independent of everything."""
    rng = np.random.default_rng(seed)
    num = rng.normal(size=(n, 4)).astype(np.float32)
    cat = np.stack([rng.integers(0, 3, n), rng.integers(0, 12, n)], axis=1).astype(np.int64)
    signal = np.tanh(num[:, 0] + num[:, 1]) + 0.5 * num[:, 2] * num[:, 3] + 0.3 * cat[:, 0]
    out = {"num": num, "cat": cat}
    for task, y in (("a", signal), ("b", signal), ("noise", np.zeros(n))):
        out[f"y_{task}"] = (y + rng.normal(scale=0.3 if task != "noise" else 1.0, size=n)).astype(np.float32)
        out[f"mask_{task}"] = np.ones(n, dtype=bool)
    return out


def test_a_noise_task_has_no_affinity_while_the_related_pair_helps_each_other():
    m = model("hard", tasks=RELATED_AND_NOISE, width=32, depth=2)
    hook = TaskAffinity(m.task_names, every=1)
    settings = TrainSettings(epochs=3, batch_size=64, lr=0.01, optimizer="sgd", device="cpu", progress=False, seed=0)
    weighting = build_weighting("equal", {}, m.task_names)
    result = fit(m, weighting, related_and_noise(1024, 1), related_and_noise(256, 2), settings,
                 callbacks=[hook.end_epoch], step_hooks=[hook])  # fmt: skip
    aff = affinity_from_history(result.history, m.task_names)
    z, err = np.array(aff["matrix"], dtype=float), np.array(aff["stderr"], dtype=float)
    assert aff["tasks"] == ["a", "b", "noise"] and aff["measurements"] == 3 * 16
    related = min(z[0, 1], z[1, 0])
    assert related > 3 * max(err[0, 1], err[1, 0])  # clearly positive, not noise
    with_noise = [z[0, 2], z[1, 2], z[2, 0], z[2, 1]]
    assert max(with_noise) < 0.2 * related  # near zero or negative


def _synthetic_affinity(correlation: float) -> float:
    from mtlops.data.sources.synthetic import generate

    df = generate(n=1500, d=16, correlation=correlation, seed=0)
    data = {"num": df[[f"x{i}" for i in range(16)]].to_numpy(np.float32)}
    for task in ("y1", "y2"):
        data[f"y_{task}"], data[f"mask_{task}"] = df[task].to_numpy(np.float32), np.ones(len(df), dtype=bool)
    tasks = [TaskSpec("y1", "regression", loss="mse"), TaskSpec("y2", "regression", loss="mse")]
    torch.manual_seed(0)
    m = build_model(ModelSpec(inputs={"num": {"dim": 16, "columns": [f"x{i}" for i in range(16)]}}, tasks=tasks,
                              architecture="hard", arch_params={"width": 32, "depth": 1, "tower_width": 8}))
    hook = TaskAffinity(m.task_names, every=2)
    settings = TrainSettings(epochs=2, batch_size=64, lr=0.003, device="cpu", progress=False, seed=0)
    result = fit(m, build_weighting("equal", {}, m.task_names), data, None, settings,
                 callbacks=[hook.end_epoch], step_hooks=[hook])  # fmt: skip
    z = affinity_from_history(result.history, m.task_names)["matrix"]
    return (z[0][1] + z[1][0]) / 2


def test_affinity_on_the_mmoe_synthetic_source_falls_with_the_task_correlation():
    same, half, unrelated = (_synthetic_affinity(p) for p in (1.0, 0.5, 0.0))
    assert same > half > unrelated and same > 0
    assert abs(unrelated) < 0.2 * same


def _snapshot(m: torch.nn.Module, optimizer: torch.optim.Optimizer):
    state = {k: v.clone() for k, v in m.state_dict().items()}
    grads = {n: p.grad.clone() for n, p in m.named_parameters() if p.grad is not None}
    opt = optimizer.state_dict()
    opt_state = {i: {k: v.clone() if torch.is_tensor(v) else v for k, v in s.items()} for i, s in opt["state"].items()}
    return state, grads, opt_state, m.training, torch.get_rng_state()


def test_the_hook_leaves_weights_gradients_optimiser_state_and_rng_exactly_as_found():
    m = model("mmoe", dropout=0.3)
    b = batch(arrays(96, seed=4))
    optimizer = torch.optim.AdamW(m.parameters(), lr=0.01)
    m.train()
    for _ in range(2):  # real Adam moments and gradients left in place
        sum(m.losses(m(b), b).values()).backward()
        optimizer.step()
    before = _snapshot(m, optimizer)
    hook = TaskAffinity(m.task_names, every=1)
    hook(m, b, optimizer)
    after = _snapshot(m, optimizer)
    assert np.isfinite(np.array(hook._sum)).all() and hook._count.sum() > 0
    for old, new in zip(before[:2], after[:2]):
        assert old.keys() == new.keys() and all(torch.equal(old[k], new[k]) for k in old)
    assert before[2].keys() == after[2].keys()
    for i in before[2]:
        assert all(torch.equal(v, after[2][i][k]) if torch.is_tensor(v) else v == after[2][i][k]
                   for k, v in before[2][i].items())  # fmt: skip
    assert after[3] is True and torch.equal(before[4], after[4])


def test_training_with_the_hook_reaches_bitwise_the_weights_of_training_without():
    def train(hooks: bool):
        m = model("hard", dropout=0.2)
        hook = TaskAffinity(m.task_names, every=2)
        settings = TrainSettings(epochs=2, batch_size=32, lr=0.01, device="cpu", progress=False, seed=5)
        w = build_weighting("equal", {}, m.task_names)
        kw = {"step_hooks": [hook], "callbacks": [hook.end_epoch]} if hooks else {}
        fit(m, w, arrays(160, seed=1), arrays(60, seed=2), settings, **kw)
        return m.state_dict()

    plain, measured = train(False), train(True)
    assert all(torch.equal(plain[k], measured[k]) for k in plain)


def test_a_step_of_zero_changes_no_loss_and_the_interval_must_be_positive():
    m = model("hard")
    b = batch(arrays(64, seed=0))
    z = lookahead_affinity(m, b, lr=0.0)  # no step: no change in any loss
    assert np.allclose(z[np.isfinite(z)], 0.0)
    with pytest.raises(ValueError, match="every"):
        TaskAffinity(m.task_names, every=0)


def test_a_resumed_run_reports_the_affinity_of_the_uninterrupted_one(tmp_path):
    train, val = arrays(96, seed=1), arrays(30, seed=2)
    settings = TrainSettings(epochs=3, batch_size=32, lr=0.01, device="cpu", progress=False, seed=3)

    def run(folder, crash_at: int | None = None, resume: bool = False):
        m = model("hard")
        hook = TaskAffinity(m.task_names, every=1)

        def crash(epoch, row, model):
            if epoch == crash_at:
                raise RuntimeError("killed")

        w = build_weighting("equal", {}, m.task_names)
        result = fit(m, w, train, val, settings, callbacks=[hook.end_epoch, crash], checkpoint_dir=folder,
                     resume=resume, step_hooks=[hook])  # fmt: skip
        return affinity_from_history(result.history, m.task_names)

    uninterrupted = run(tmp_path / "full")
    with pytest.raises(RuntimeError, match="killed"):
        run(tmp_path / "ckpt", crash_at=2)
    assert run(tmp_path / "ckpt", resume=True) == uninterrupted and uninterrupted["measurements"] == 9
