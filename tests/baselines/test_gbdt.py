"""LightGBM baselines on processed arrays: labelled rows only, categorical ids, save/load round trip."""

from __future__ import annotations

import numpy as np
import pytest

from mtlops.baselines.run import fit_gbdt, gbdt_skip_reason
from mtlops.metrics.per_task import task_metrics
from mtlops.models.gbdt import GbdtModel
from mtlops.paths import Paths
from mtlops.schema import Config

N = 400


@pytest.fixture
def cfg() -> Config:
    return Config.model_validate(
        {
            "features": {"numeric": ["x0", "x1"], "categorical": ["shop"]},
            "tasks": [
                {"name": "churn", "column": "churn", "type": "binary"},
                {"name": "seg", "column": "seg", "type": "multiclass", "classes": ["a", "b", "c"]},
                {"name": "box", "column": ["x_min", "y_min", "x_max", "y_max"], "type": "multi_regression"},
            ],
            # small data: let LightGBM split on categories with few rows per category
            "baselines": {
                "gbdt_params": {"n_estimators": 100, "num_leaves": 7, "min_child_samples": 5, "min_data_per_group": 5,
                                "n_jobs": 1},
                "gbdt_early_stopping": 5,
            },
        }
    )


def _split(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    num = rng.normal(size=(N, 2)).astype(np.float32)
    cat = rng.integers(0, 4, size=(N, 1))
    effect = np.array([0.0, 2.0, -2.0, 0.0])[cat[:, 0]]  # only the category carries this signal
    score = num[:, 0] + effect
    low = 0.3 + 0.2 * np.tanh(num)
    box = np.column_stack([low, low + 0.3 + 0.1 * np.tanh(effect)[:, None]]).astype(np.float32)
    mask_churn = rng.random(N) < 0.4  # most rows unlabelled
    return {
        "num": num,
        "cat": cat,
        # unlabelled rows carry the opposite label: a model that learned from them would rank backwards
        "y_churn": np.where(mask_churn, score > 0, score <= 0).astype(np.float32),
        "mask_churn": mask_churn,
        "y_seg": (score > 1).astype(np.int64),  # class 2 ("c") never occurs
        "mask_seg": np.ones(N, bool),
        "y_box": box,
        "mask_box": np.ones(N, bool),
    }


def test_fits_each_task_type_and_round_trips(cfg, tmp_path):
    train, val, test = _split(0), _split(1), _split(2)
    churn, seg, box = cfg.tasks

    model = fit_gbdt(cfg, churn, train, val)
    auc = task_metrics(churn, test["y_churn"], model.predict(test), test["mask_churn"])["roc_auc"]
    assert auc > 0.9  # learned from the labelled rows and the categorical column

    seg_model = fit_gbdt(cfg, seg, train, val)
    probs = seg_model.predict(test)
    assert probs.shape == (N, 3) and np.allclose(probs[:, 2], 0) and np.allclose(probs.sum(axis=1), 1)

    box_model = fit_gbdt(cfg, box, train, val)
    pred = box_model.predict(test)
    assert pred.shape == (N, 4) and len(box_model.boosters) == 4
    assert task_metrics(box, test["y_box"], pred)["iou"] > 0.5

    paths = Paths.at(tmp_path)
    paths.baselines_dir.mkdir(parents=True)
    for task, fitted in ((churn, model), (seg, seg_model), (box, box_model)):
        n = len(fitted.boosters)
        files = [paths.gbdt_model(task.name, j if n > 1 else None) for j in range(n)]
        fitted.save(files)
        info = {"files": [f.name for f in files], "classes": fitted.classes, "n_classes": fitted.n_classes}
        loaded = GbdtModel.load(paths.baselines_dir, task.type, info)
        np.testing.assert_allclose(loaded.predict(test), fitted.predict(test), rtol=1e-6)
    assert sorted(p.name for p in paths.baselines_dir.iterdir())[:2] == ["gbdt_box.0.txt", "gbdt_box.1.txt"]
    assert (paths.baselines_dir / "gbdt_churn.txt").is_file()


def test_skip_reasons(cfg):
    train = _split(0)
    assert gbdt_skip_reason(cfg.tasks[0], train) is None
    no_features = {k: v for k, v in train.items() if k not in ("num", "cat")}
    assert "no tabular" in gbdt_skip_reason(cfg.tasks[0], no_features)
    one_class = {**train, "y_churn": np.ones(N, np.float32)}
    assert "single class" in gbdt_skip_reason(cfg.tasks[0], one_class)


def test_each_metric_trains_and_stops_on_its_own_objective():
    """The task type maps the metric to LightGBM's objective and early-stopping metric, never a name switch here."""
    from mtlops.task_types import task_type

    assert task_type("binary").gbdt_objective("roc_auc") == {"objective": "binary", "metric": "auc"}
    assert task_type("regression").gbdt_objective("rmse") == {"objective": "l2", "metric": "l2"}
    multiclass = task_type("multiclass")
    assert multiclass.gbdt_objective("accuracy", 5) == {"objective": "multiclass", "metric": "multi_error"}
    assert multiclass.gbdt_objective("log_loss", 2) == {"objective": "binary", "metric": "binary_logloss"}
    assert multiclass.gbdt_objective("macro_f1", 4)["class_weight"] == "balanced"  # classes weigh alike
    assert [o["objective"] for o in task_type("regression").gbdt_objectives("mae")] == ["l1", "l2"]
    assert {o["metric"] for o in task_type("regression").gbdt_objectives("mae")} == {"l1"}


def test_mae_keeps_the_objective_better_on_validation_and_user_keys_win(cfg):
    from mtlops.baselines.run import _fit_gbdt
    from mtlops.config import with_overrides

    cfg = with_overrides(cfg, {"tasks": [{"name": "spend", "column": "spend", "type": "regression", "metric": "mae"}]})
    (task,) = cfg.tasks

    def split(seed: int) -> dict[str, np.ndarray]:
        data = _split(seed)
        rng = np.random.default_rng(seed + 10)
        # skewed noise: the median (L1) and the mean (L2) differ, so the objectives give different models
        spend = data["num"][:, 0] + rng.exponential(2.0, N)
        return {**data, "y_spend": spend.astype(np.float32), "mask_spend": np.ones(N, bool)}

    train, val = split(0), split(1)
    model = fit_gbdt(cfg, task, train, val)
    base = {"random_state": cfg.project.seed, "n_jobs": 1, "verbose": -1, **cfg.baselines.gbdt_params}
    on_val = {}
    for objective in ("l1", "l2"):
        fitted = _fit_gbdt(cfg, task, train, val, {**base, "objective": objective, "metric": "l1"})
        on_val[objective] = task_metrics(task, val["y_spend"], fitted.predict(val))["mae"]
    assert on_val["l1"] != on_val["l2"] and model.objective == min(on_val, key=on_val.get)

    pinned = with_overrides(cfg, {"baselines": {"gbdt_params": {**cfg.baselines.gbdt_params, "objective": "huber"}}})
    assert fit_gbdt(pinned, task, train, val).objective == "huber"
