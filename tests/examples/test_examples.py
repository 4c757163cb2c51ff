"""Each example config, shrunk, runs through the real stages in a temp folder and scores every task.

Sizes are overridden (few training rows, tiny encoders, 1-2 epochs, one search trial); the data,
tasks, sources and model kinds are the examples' own. The image and text runs also register the
model and score raw rows through the packaged MLflow model: image arrays and review text in.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mtlops.checks import load_checked
from mtlops.io import read_json
from mtlops.paths import Paths
from mtlops.stages import run_stages

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TINY_COMMON = {
    "train": {"epochs": 2, "patience": 1, "device": "cpu"},
    "search": {"n_trials": 1, "epochs": 1, "timeout_s": 30},
    "evaluation": {"bootstrap": 20},
}
TINY = {
    "two_heads_tabular": {"train": {"epochs": 3}},
    "digits_boxes": {
        "split": {"max_train_rows": 300},
        "model": {"encoder": {"image_channels": [4, 8]}},
        "search": {"max_train_rows": 150},
    },
    "food_reviews": {
        "features": {"text_max_len": 16, "text_max_vocab": 500},
        "split": {"max_train_rows": 300},
        "model": {"encoder": {"text_embedding_dim": 8, "text_hidden": 8}},
        "search": {"max_train_rows": 150},
    },
    # the real-data tabular examples: a sample of training rows, a narrow trunk, a few LightGBM trees
    "star_scores": {
        "split": {"max_train_rows": 600},
        "model": {"architecture": {"params": {"width": 16, "depth": 1, "tower_width": 8}}},
        "baselines": {"gbdt_params": {"n_estimators": 20, "num_leaves": 7, "n_jobs": 1}},
    },
    "nass_crashes": {
        "split": {"max_train_rows": 600},
        "model": {"architecture": {"params": {"width": 16, "depth": 1, "tower_width": 8}}},
        "baselines": {"gbdt_params": {"n_estimators": 20, "num_leaves": 7, "n_jobs": 1}},
    },
}
THROUGH_EVALUATE = ["ingest", "validate", "prepare", "baselines", "search", "grouping", "train", "evaluate"]


def _tiny(name: str) -> dict:
    from mtlops.config import deep_merge

    return deep_merge(TINY_COMMON, TINY[name])


def _run(name: str, root: Path, stages: list[str]):
    cfg = load_checked(EXAMPLES / name / "params.yaml", overrides=_tiny(name))
    paths = Paths.at(root)
    run_stages(cfg, paths, names=stages)
    return cfg, paths


def _check_metrics(cfg, paths) -> dict:
    report = read_json(paths.metrics)
    assert list(report["tasks"]) == cfg.task_names
    for task in cfg.tasks:
        entry = report["tasks"][task.name]
        assert entry["metric"] == task.metric
        assert math.isfinite(entry["mtl"][task.metric]), task.name
        assert math.isfinite(entry["stl"][task.metric]), task.name
    assert math.isfinite(report["delta_m"]["vs_stl"])
    return report


@pytest.mark.parametrize("name", sorted(TINY))
def test_example_params_are_valid(name: str):
    cfg = load_checked(EXAMPLES / name / "params.yaml")
    assert cfg.project.name == name
    assert cfg.model.weighting.name == "equal"  # every example's joint loss is the plain sum
    assert cfg.model.architecture.name == "hard"


def test_two_heads_tabular_is_one_shared_layer_with_two_softmax_heads(tmp_path: Path):
    from torch import nn

    from mtlops.training import load_model

    cfg, paths = _run("two_heads_tabular", tmp_path, THROUGH_EVALUATE)
    _check_metrics(cfg, paths)
    model = load_model(paths.checkpoint)
    shared = [m for m in model.architecture.shared.modules() if isinstance(m, nn.Linear)]
    assert len(shared) == 1  # the one shared dense layer
    assert all(len(list(tower.parameters())) == 0 for tower in model.architecture.towers.values())
    assert {t.name: (t.type, t.n_classes) for t in model.spec.tasks} == {
        "species": ("multiclass", 3),
        "sex": ("multiclass", 2),
    }
    # the unrecorded sexes are masked for that task only
    train = np.load(paths.split_arrays("train"))
    assert train["mask_species"].all() and not train["mask_sex"].all()


def _packaged_model(paths: Paths):
    """The registered version, loaded the way a user would: MLflow's pyfunc from the registry."""
    import mlflow
    from mtlops.tracking import point_mlflow_at

    point_mlflow_at(paths.default_tracking_uri)
    return mlflow.pyfunc.load_model(read_json(paths.registration)["model_uri"])


def _packaged_predictions(paths: Paths, n: int = 4) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows = pd.read_parquet(paths.test_raw).head(n)
    return rows, _packaged_model(paths).predict(rows)


def test_digits_boxes_tiny_run_and_packaged_model_reads_images(tmp_path: Path):
    cfg, paths = _run("digits_boxes", tmp_path, [*THROUGH_EVALUATE, "register"])
    report = _check_metrics(cfg, paths)
    assert 0.0 <= report["tasks"]["box"]["mtl"]["iou"] <= 1.0
    meta = read_json(paths.processed_meta)
    assert meta["inputs"]["image"]["shape"] == [1, 32, 32]
    _rows, out = _packaged_predictions(paths)
    probs = out[[f"pred_digit_proba_{k}" for k in range(10)]].to_numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    assert out[[f"pred_box_{j}" for j in range(4)]].notna().all().all()


def test_food_reviews_tiny_run_and_packaged_model_reads_text(tmp_path: Path):
    cfg, paths = _run("food_reviews", tmp_path, [*THROUGH_EVALUATE, "register"])
    _check_metrics(cfg, paths)
    meta = read_json(paths.processed_meta)
    assert meta["inputs"]["text"]["max_len"] == 16
    _rows, out = _packaged_predictions(paths)
    assert out["pred_sentiment_proba"].between(0, 1).all()
    assert set(out["pred_topic_label"]) <= {"beverages", "pet_food", "snacks_sweets", "pantry", "other"}
    # raw text the model never saw (unknown words included) is accepted as is
    fresh = pd.DataFrame({"review": ["Zyxwv coffee was bitter and stale, never again.", "My dog loves these treats"]})
    assert len(_packaged_model(paths).predict(fresh)) == 2


def _scored_only_labelled_rows(cfg, paths, report: dict, task: str) -> int:
    """The task's test metrics count exactly the test rows whose raw label is present; returns how many lack one."""
    column = cfg.task(task).column
    raw = pd.read_parquet(paths.test_raw, columns=[column])[column]
    assert report["tasks"][task]["n_test"] == int(raw.notna().sum())
    test = np.load(paths.split_arrays("test"))
    np.testing.assert_array_equal(test[f"mask_{task}"], raw.notna().to_numpy())
    return int(raw.isna().sum())


def test_star_scores_tiny_run_scores_both_scores_on_labelled_pupils_only(tmp_path: Path):
    cfg, paths = _run("star_scores", tmp_path, THROUGH_EVALUATE)
    report = _check_metrics(cfg, paths)
    assert math.isfinite(report["tasks"]["read3"]["gbdt"]["mae"])
    # pupils without a grade-3 score (left the experiment) are masked, per task
    assert _scored_only_labelled_rows(cfg, paths, report, "read3") > 0
    assert _scored_only_labelled_rows(cfg, paths, report, "math3") > 0


def test_nass_crashes_tiny_run_masks_missing_severities_only(tmp_path: Path):
    cfg, paths = _run("nass_crashes", tmp_path, THROUGH_EVALUATE)
    report = _check_metrics(cfg, paths)
    assert report["tasks"]["dead"]["mtl"]["log_loss"] > 0.0
    assert 0.0 <= report["tasks"]["inj"]["mtl"]["accuracy"] <= 1.0
    assert _scored_only_labelled_rows(cfg, paths, report, "dead") == 0  # every occupant is alive or dead
    meta = read_json(paths.processed_meta)
    assert meta["tasks"]["inj"]["n_classes"] == 7
    train = np.load(paths.split_arrays("train"))
    assert not train["mask_inj"].all() and train["mask_dead"].all()
    assert _scored_only_labelled_rows(cfg, paths, report, "inj") > 0  # 153 occupants have no severity
