"""An auxiliary task (`role: auxiliary`) trains with the shared network yet is never served: absent from the
predictions, Δm, the gate and the packaged model's output columns. Real stages on the tiny mixed project."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from mtlops.data.prepare import load_meta, load_split
from mtlops.io import read_json
from mtlops.metrics.bootstrap import Interval
from mtlops.metrics.compare import Comparison
from mtlops.models import build_model
from mtlops.registry.gate import Facts, gate
from mtlops.stages import run_stages
from mtlops.training import load_model, predict
from mtlops.training.early_stopping import StopOnDeltaM
from tests.helpers import make_project, mixed_params

AUX = "x3_later"  # x3 stands for a column known only after the fact: a label here, never a feature


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("aux")
    tasks = mixed_params(root / "unused.csv")["tasks"] + [
        {"name": AUX, "column": "x3", "type": "regression", "metric": "mae", "role": "auxiliary", "loss_weight": 0.5}
    ]
    cfg, paths = make_project(root, kind="mixed", overrides={
        "features": {"numeric": ["x1", "x2"]}, "tasks": tasks, "search": {"enabled": False},
        "train": {"epochs": 3, "batch_size": 64},
    })
    run_stages(cfg, paths, ["ingest", "prepare", "baselines", "train", "evaluate"])
    return cfg, paths


def test_the_auxiliary_head_is_trained_and_its_loss_reaches_the_trunk(trained):
    cfg, paths = trained
    model = load_model(paths.checkpoint)
    assert AUX in model.task_names and AUX not in model.served_task_names
    torch.manual_seed(cfg.project.seed)  # the initial weights the training started from
    initial = build_model(model.spec)
    moved = [not torch.equal(a, b) for a, b in zip(model.heads[AUX].parameters(), initial.heads[AUX].parameters())]
    assert any(moved)

    batch = {k: torch.as_tensor(v[:64]) for k, v in load_split(paths, "train").items()}
    model.train()
    model.losses(model(batch), batch)[AUX].backward()
    head = [p.grad for p in model.heads[AUX].parameters()]
    trunk = [p.grad for p in model.shared_parameters()]
    assert all(g is not None for g in head) and any(g is not None and g.abs().sum() > 0 for g in trunk)


def test_the_auxiliary_task_is_never_predicted_scored_or_compared(trained):
    cfg, paths = trained
    model = load_model(paths.checkpoint)
    test = load_split(paths, "test")
    assert set(predict(model, test)) == set(cfg.target_names)
    assert AUX in predict(model, test, auxiliary=True)  # it is there, for early stopping to weigh

    metrics = read_json(paths.metrics)
    assert list(metrics["tasks"]) == cfg.target_names and np.isfinite(metrics["delta_m"]["vs_stl"])
    assert list(read_json(paths.baselines_metrics)["tasks"]) == cfg.target_names
    assert AUX not in (metrics.get("primary") or {}).get("mtl", {})
    # the cost of the run against the single-task networks', in metrics.json and the summary
    cost = metrics["cost"]
    assert cost["mtl_over_stl_sum"]["n_params"] == pytest.approx(cost["mtl"]["n_params"] / cost["stl_sum"]["n_params"])
    assert cost["mtl_over_stl_sum"]["wall_time_s"] > 0 and "MTL ÷ STL sum" in paths.summary.read_text()


def test_the_packaged_model_has_no_auxiliary_columns(trained):
    from mtlops.registry.pyfunc import MultiTaskPyfunc, model_config

    cfg, paths = trained
    config = model_config(cfg, load_meta(paths))
    assert [t["name"] for t in config["tasks"]] == cfg.target_names
    rows = pd.read_parquet(paths.test_raw).head(5)
    out = MultiTaskPyfunc.from_files(config, paths.preprocessor, paths.checkpoint).predict(None, rows)
    assert not [c for c in out.columns if AUX in c] and any(c.startswith("pred_amount") for c in out.columns)


def test_the_gate_judges_the_target_tasks_alone(trained):
    """Facts for the targets only: a gate that iterated every task would refuse for lack of the auxiliary's."""
    cfg, _ = trained
    same = Comparison(0.8, 0.8, Interval(0.0, -0.01, 0.01), relative=True)
    facts = Facts(validation_passed=True, delta_m_vs_stl=0.0, single_task=dict.fromkeys(cfg.target_names, same))
    decision = gate(facts, cfg)
    assert decision.promote and not decision.missing_evidence
    assert not [r for r in decision.reasons if AUX in r]


def test_an_early_stopping_weight_lets_the_auxiliary_steer(trained):
    """Each target counts 1, the auxiliary its weight: on the first epoch (its own reference) its change is 0."""
    cfg, paths = trained
    model, val = load_model(paths.checkpoint), load_split(paths, "val")
    reference = dict.fromkeys(cfg.target_names, 1.0)  # any reference: only the weighting is checked
    targets = [cfg.task(t) for t in cfg.target_names]
    plain, steered = {}, {}
    StopOnDeltaM(targets, val, reference)(1, plain, model)
    aux = cfg.task(AUX).model_copy(update={"early_stopping_weight": 2.0})
    StopOnDeltaM([*targets, aux], val, reference)(1, steered, model)
    n = len(plain["val_metrics"])
    assert steered["val_delta_m"] == plain["val_delta_m"]  # what the search and the grouping score: targets
    assert AUX in steered["val_auxiliary_metrics"] and AUX not in steered["val_metrics"]
    assert steered["val_objective"] == pytest.approx(plain["val_objective"] * n / (n + 2.0))


def test_an_auxiliary_at_weight_zero_is_left_out_and_a_weight_scales_its_loss(trained):
    """The search's "off" (loss_weight 0) trains no head for it; any other weight multiplies its loss."""
    from mtlops.config import with_overrides
    from mtlops.grouping.chosen import task_groups
    from mtlops.training.from_config import model_spec

    cfg, paths = trained
    off = with_overrides(cfg, {"tasks": {AUX: {"loss_weight": 0.0}}})
    assert task_groups(off, paths) == [cfg.target_names]  # grouping off: one group of the targets
    assert off.trained_with(cfg.target_names) == cfg.target_names
    meta = load_meta(paths)
    assert AUX not in model_spec(off, meta).task_names and AUX in model_spec(cfg, meta).task_names

    heavy = with_overrides(cfg, {"tasks": {AUX: {"loss_weight": 2.0}}})
    b = {k: torch.as_tensor(v[:32]) for k, v in load_split(paths, "train").items()}
    torch.manual_seed(0)
    half = build_model(model_spec(cfg, meta))
    torch.manual_seed(0)
    double = build_model(model_spec(heavy, meta))
    for m in (half, double):
        m.set_target_stats(load_split(paths, "train"))
    loss_half, loss_double = half.losses(half(b), b), double.losses(double(b), b)
    torch.testing.assert_close(loss_double[AUX], 4 * loss_half[AUX])  # 2.0 against 0.5
    torch.testing.assert_close(loss_double["amount"], loss_half["amount"])


def test_the_training_loop_trains_each_task_at_its_loss_weight():
    """Through `fit` (the loop's own loss path): a head at weight 0 never moves, at weight 1 it does."""
    from dataclasses import replace

    from mtlops.training import TrainSettings, fit
    from mtlops.weighting import build_weighting
    from tests.models.tiny import TASK_TYPES, TASKS, arrays, spec

    settings = TrainSettings(epochs=2, batch_size=32, lr=0.01, device="cpu", progress=False, patience=5, seed=3)
    for weight, moves in ((0.0, False), (1.0, True)):
        tasks = [replace(t, loss_weight=weight, auxiliary=True) if t.name == "amount" else t for t in TASKS]
        torch.manual_seed(0)
        m = build_model(spec("hard", {"width": 16, "depth": 1, "tower_width": 8}, tasks))
        before = [p.detach().clone() for p in m.heads["amount"].parameters()]
        fit(m, build_weighting("equal", {}, m.task_names, TASK_TYPES), arrays(96, seed=1), arrays(30, seed=2), settings)
        after = list(m.heads["amount"].parameters())
        assert any(not torch.equal(a, b) for a, b in zip(before, after)) is moves
