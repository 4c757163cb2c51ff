"""The registry: lookups name the allowed types, and a new type is one class plus one registry line
(and its head: one class plus one line in `mtlops.models.heads.HEADS`).

`Count` below (Poisson counts: a log-rate head, Poisson NLL, deviance) is declared only in this test
and registered at runtime; config, label encoding, meta.json, the model, training, metrics and the
packaged model's columns all take it without an edit anywhere else.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from pydantic import ValidationError

from mtlops.data.contract import encode_labels
from mtlops.data.prepare import task_meta
from mtlops.metrics.per_task import task_metrics
from mtlops.models import ModelSpec, ModelSpecError, TaskSpec, build_model
from mtlops.models.heads import HEADS, TaskHead
from mtlops.registry.pyfunc import output_columns, prediction_frame, task_predictions
from mtlops.schema import TaskConfig
from mtlops.task_types import TASK_TYPES, Metric, TaskType, UnknownTaskType, task_type
from mtlops.task_types.regression import mae
from mtlops.training import TrainSettings, fit, predict
from mtlops.weighting import build_weighting


def test_every_type_is_registered_under_its_name_with_its_defaults_allowed():
    for name, kind in TASK_TYPES.items():
        assert kind.name == name
        assert kind.metric_for(None) in kind.metrics and kind.loss_for(None) in kind.losses


def test_an_unknown_type_names_the_allowed_ones():
    with pytest.raises(UnknownTaskType, match=r"'ranking'; allowed: \['binary', 'multiclass'"):
        task_type("ranking")
    with pytest.raises(ValidationError, match="unknown task type 'ranking'"):
        TaskConfig(name="t", column="t", type="ranking")


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"type": "binary", "metric": "mae"}, "metric 'mae' does not fit task type 'binary'"),
        ({"type": "regression", "loss": "bce"}, "allowed: ['mse', 'huber', 'l1']"),
        ({"type": "regression", "pos_weight": 2.0}, "pos_weight does not fit"),
        ({"type": "regression", "column": ["a", "b"]}, "must be one column"),
        ({"type": "multi_regression"}, "must be a list of columns"),
        ({"type": "multiclass"}, "must declare their classes"),
    ],
)
def test_a_task_that_does_not_fit_its_type_is_refused(fields, fragment):
    with pytest.raises(ValidationError) as err:
        TaskConfig(**{"name": "t", "column": "t", **fields})
    assert fragment in str(err.value)


# ----------------------------------------------------------------------------------- a type of its own
class CountHead(TaskHead):
    """One log-rate per row; Poisson negative log-likelihood; predicts the rate."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x).squeeze(-1)

    def per_row_loss(self, raw: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.poisson_nll_loss(raw, y.float(), log_input=True, reduction="none")

    def predict(self, raw: torch.Tensor) -> torch.Tensor:
        return torch.exp(raw.float())


def poisson_deviance(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn.metrics import mean_poisson_deviance

    return float(mean_poisson_deviance(y, p)) if len(y) else math.nan


class Count(TaskType):
    name = "count"
    metrics = {"poisson_deviance": Metric(False, poisson_deviance), "mae": Metric(False, mae)}
    losses = ("poisson",)


@pytest.fixture
def count_type(monkeypatch):
    monkeypatch.setitem(TASK_TYPES, "count", Count())
    monkeypatch.setitem(HEADS, Count, CountHead)


def test_every_type_has_a_head_that_knows_its_losses():
    for name, kind in TASK_TYPES.items():
        for loss in kind.losses:
            spec = TaskSpec("t", name, dim=2, n_classes=2 if kind.classification else None, loss=loss)
            head = build_model(ModelSpec({"num": {"dim": 1, "columns": ["x"]}}, [spec], "hard",
                                         {"width": 4, "depth": 1, "tower_width": 4})).heads["t"]
            y = torch.zeros((3, 2) if kind.multi_column else 3)
            x, mask = torch.zeros(3, head.linear.in_features), torch.ones(3, dtype=torch.bool)
            total, count = head.loss_terms(head(x), y, mask)
            assert torch.isfinite(total) and count == 3, (name, loss)


def test_a_type_without_a_head_is_refused_when_its_model_is_built(monkeypatch):
    monkeypatch.setitem(TASK_TYPES, "count", Count())
    spec = ModelSpec({"num": {"dim": 1, "columns": ["x"]}}, [TaskSpec("visits", "count")], "hard",
                     {"width": 4, "depth": 1, "tower_width": 4})
    with pytest.raises(ModelSpecError, match="task type 'count' has no head"):
        build_model(spec)


def test_a_new_type_flows_from_config_to_the_packaged_models_columns(count_type):
    task = TaskConfig(name="visits", column="visits", type="count")
    assert (task.metric, task.loss, task.higher_is_better) == ("poisson_deviance", "poisson", False)

    rng = np.random.default_rng(0)
    x = rng.normal(size=400)
    visits = rng.poisson(np.exp(0.5 + 0.8 * x)).astype(float)
    visits[::10] = np.nan  # unlabelled rows
    y, mask = encode_labels(pd.DataFrame({"visits": visits}), task)
    assert y.dtype == np.float32 and mask.sum() == 360
    meta = task_meta(task)
    assert (meta["type"], meta["dim"], meta["loss"]) == ("count", 1, "poisson")

    torch.manual_seed(0)
    spec = ModelSpec({"num": {"dim": 1, "columns": ["x"]}}, [TaskSpec.from_meta("visits", meta)], "hard",
                     {"width": 16, "depth": 1, "tower_width": 8})
    model = build_model(spec)
    assert list(model.state_dict()) == [
        "target_stats_set", *(f"{p}.{w}" for p in ("architecture.shared.0", "architecture.towers.visits.0",
                                                   "heads.visits.linear") for w in ("weight", "bias"))]
    arrays = {"num": x[:, None].astype(np.float32), "y_visits": y, "mask_visits": mask}
    settings = TrainSettings(epochs=3, batch_size=64, lr=0.02, device="cpu", progress=False)
    result = fit(model, build_weighting("uncertainty", {}, ["visits"], {"visits": "count"}), arrays, arrays, settings)
    losses = [row["val_loss"]["visits"] for row in result.history]
    assert losses[-1] < losses[0]

    preds = predict(result.model, arrays)["visits"]
    scores = task_metrics(task, y, preds, mask)
    assert list(scores) == ["poisson_deviance", "mae"] and all(np.isfinite(v) for v in scores.values())
    assert scores["mae"] < task_metrics(task, y, np.full(len(y), y[mask].mean()), mask)["mae"]

    entry = {"name": "visits", **meta}
    frame = prediction_frame({"visits": preds}, [entry])
    assert list(frame.columns) == output_columns(entry) == ["pred_visits"]
    np.testing.assert_allclose(task_predictions(frame, [entry])["visits"], preds, rtol=1e-6)
