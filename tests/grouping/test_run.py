"""The grouping stage on constructed data: a garbage-label task is served alone, the rest share a trunk, the
composite model is registered and served as one model; above `exhaustive_max_tasks` only affinity's candidates
are trained."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from tests.helpers import TINY_BASELINES, TINY_EVAL, TINY_PROMOTION, TINY_TRAIN, predict_in_fresh_process

THROUGH_EVALUATE = ["ingest", "validate", "prepare", "baselines", "search", "grouping", "train", "evaluate"]


def noise_project(root: Path, n: int = 2000, tasks: int = 2, overrides: dict | None = None, auxiliary: bool = False):
    """`tasks` regression tasks: noisy views of one non-linear signal, each labelled on its own share of the
    rows (so sharing pools their labels), plus `noise`: heavy-tailed labels independent of everything; with
    `auxiliary`, `later`: the signal on every row, an auxiliary task (a label known after the fact)."""
    from mtlops.config import deep_merge, load_config
    from mtlops.paths import Paths

    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 4))
    signal = np.sin(2 * x[:, 0]) + x[:, 1] * x[:, 2]
    share = rng.integers(0, tasks, size=n)
    names = [chr(ord("a") + k) for k in range(tasks)]
    columns = {name: np.where(share == k, (k + 1) * signal + k + rng.normal(scale=0.5 + 0.5 * k, size=n), np.nan)
               for k, name in enumerate(names)}
    frame = pd.DataFrame({"id": np.arange(n), **{f"x{i}": x[:, i] for i in range(4)}, **columns,
                          "noise": rng.standard_t(1, size=n), "later": signal + rng.normal(scale=0.1, size=n)})
    csv = root / "source" / "data.csv"
    csv.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(csv, index=False)
    params = {
        "project": {"name": "noise", "experiment": "noise", "model_name": "noise-mtl", "seed": 0},
        "data": {"source": "file", "file": {"path": str(csv)}, "key": ["id"]},
        "features": {"numeric": ["x0", "x1", "x2", "x3"]},
        "tasks": [{"name": t, "column": t, "type": "regression", "metric": "mae"} for t in [*names, "noise"]],
        "split": {"method": "random", "val_fraction": 0.2, "test_fraction": 0.2},
        "validation": {"min_rows": 10, "null_fraction": dict.fromkeys(names, 1 - 0.5 / tasks)},
        "train": {**TINY_TRAIN, "epochs": 8, "patience": 3, "batch_size": 64},
        "baselines": {**TINY_BASELINES, "gbdt": False},
        "search": {"enabled": False, "epochs": 8},
        "grouping": {"enabled": True},
        "evaluation": TINY_EVAL,
        "model": {"architecture": {"name": "hard", "params": {"width": 32, "depth": 2}},
                  "weighting": {"name": "equal", "params": {}}},
        "promotion": {**TINY_PROMOTION, "delta_m_floor": None},
    }
    if auxiliary:
        params["tasks"].append({"name": "later", "column": "later", "type": "regression", "role": "auxiliary"})
    params = deep_merge(params, overrides or {})
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return load_config(root / "params.yaml"), Paths.at(root)


@pytest.fixture(scope="module")
def grouped(tmp_path_factory):
    """(cfg, paths) of the noise project after evaluate, with its own MLflow store."""
    from mtlops.stages import run_stages

    os.environ.pop("MLFLOW_TRACKING_URI", None)
    cfg, paths = noise_project(tmp_path_factory.mktemp("grouping") / "proj")
    run_stages(cfg, paths, THROUGH_EVALUATE)
    return cfg, paths


def test_a_noise_task_is_served_alone_by_its_single_task_network_and_no_task_is_flagged(grouped):
    from mtlops.models import CompositeModel
    from mtlops.training import load_model

    cfg, paths = grouped
    grouping = json.loads(paths.grouping.read_text())
    assert grouping["method"] == "exhaustive" and len(grouping["candidates"]) == 5
    assert grouping["groups"] == [["a", "b"], ["noise"]], grouping["candidates"]
    assert grouping["val_score"] - grouping["all_shared"]["val_score"] > cfg.grouping.noise_band  # only clearly
    # the noise task neither helps nor is helped: its affinity is near zero (or negative) against the
    # related tasks' affinity to themselves
    z = np.array(grouping["affinity"]["matrix"], dtype=float)
    own = min(z[0, 0], z[1, 1])
    assert own > 0
    assert np.all(z[2, :2] < 0.2 * own) and np.all(z[:2, 2] < 0.2 * own)

    metrics = json.loads(paths.metrics.read_text())
    assert {t: e["served_by"]["group"] for t, e in metrics["tasks"].items()} == {
        "a": ["a", "b"], "b": ["a", "b"], "noise": ["noise"]}
    assert not [t for t, e in metrics["tasks"].items() if e["negative_transfer"]]
    assert metrics["tasks"]["noise"]["diff_vs_stl"]["value"] == 0  # its single-task network itself
    assert "`a` + `b` share a trunk; `noise` alone" in paths.summary.read_text()
    model = load_model(paths.checkpoint)
    assert isinstance(model, CompositeModel) and model.groups == [["a", "b"], ["noise"]]
    history = json.loads(paths.history.read_text())
    assert [g["source"] for g in history["groups"]] == ["trained", "single_task"]


def test_the_composite_loads_in_a_fresh_process_from_the_registry_with_every_task_column(grouped, tmp_path):
    from mtlops.data.prepare import load_meta
    from mtlops.registry.pyfunc import model_config, output_columns
    from mtlops.registry.register import register
    from mtlops.tracking import tracking_uri

    cfg, paths = grouped
    registration = register(cfg, paths)
    rows = pd.read_parquet(paths.test_raw)[cfg.features.all_columns()].head(20)
    ref = f"models:/{cfg.project.model_name}/{registration['version']}"
    out = predict_in_fresh_process(ref, rows, tmp_path, tracking_uri(paths))
    expected = [c for task in model_config(cfg, load_meta(paths))["tasks"] for c in output_columns(task)]
    assert list(out.columns) == expected and len(out) == 20
    assert out.notna().all().all()
    from mlflow import MlflowClient

    version = MlflowClient(tracking_uri(paths)).get_model_version(cfg.project.model_name, registration["version"])
    assert "task groups a + b | noise" in version.description  # the version page names the groups


def test_above_exhaustive_max_tasks_only_the_affinity_candidates_are_trained(tmp_path):
    from mtlops.grouping.partitions import affinity_partitions
    from mtlops.stages import run_stages

    overrides = {"grouping": {"exhaustive_max_tasks": 3, "affinity_every": 2},
                 "train": {"epochs": 2}, "search": {"epochs": 2}}
    cfg, paths = noise_project(tmp_path / "proj", n=800, tasks=3, overrides=overrides)
    run_stages(cfg, paths, ["ingest", "validate", "prepare", "baselines", "search", "grouping"])
    grouping = json.loads(paths.grouping.read_text())
    names = cfg.task_names
    assert grouping["method"] == "affinity"
    proposed = affinity_partitions(names, grouping["affinity"]["matrix"])
    assert [c["groups"] for c in sorted(grouping["candidates"], key=lambda c: len(c["groups"]))] == [
        [list(g) for g in p] for p in proposed]
    trained = [tuple(t["tasks"]) for t in grouping["trainings"]]
    assert len(trained) == len(set(trained)) == 2 * len(names) - 1  # not the 15 subsets of 4 tasks
    assert {(t,) for t in names} <= set(trained) and tuple(names) in trained
    assert sorted(t for g in grouping["groups"] for t in g) == sorted(names)


def test_train_refuses_a_grouping_that_does_not_serve_every_task_once(project):
    from mtlops.config import with_overrides
    from mtlops.errors import DataError
    from mtlops.grouping.chosen import task_groups
    from mtlops.io import write_json

    cfg, paths = project
    cfg = with_overrides(cfg, {"grouping": {"enabled": True}})
    with pytest.raises(DataError, match="run `mtlops grouping`"):
        task_groups(cfg, paths)
    write_json(paths.grouping, {"groups": [["y1"], ["y1", "y2"]]})
    with pytest.raises(DataError, match="each of the tasks"):
        task_groups(cfg, paths)
    write_json(paths.grouping, {"groups": [["y2"], ["y1"]]})
    assert task_groups(cfg, paths) == [["y2"], ["y1"]]
    assert task_groups(with_overrides(cfg, {"grouping": {"enabled": False}}), paths) == [["y1", "y2"]]


def test_an_auxiliary_task_trains_in_every_shared_group_and_is_never_grouped_or_served(tmp_path):
    """The grouping partitions the target tasks; the shared network of a group trains the auxiliary task too;
    the composite model serves the targets alone."""
    from mtlops.models import CompositeModel
    from mtlops.stages import run_stages
    from mtlops.training import load_model

    os.environ.pop("MLFLOW_TRACKING_URI", None)
    cfg, paths = noise_project(tmp_path / "proj", auxiliary=True)
    run_stages(cfg, paths, THROUGH_EVALUATE)
    grouping = json.loads(paths.grouping.read_text())
    assert all("later" not in group for c in grouping["candidates"] for group in c["groups"])
    assert grouping["affinity"]["tasks"] == cfg.target_names
    assert grouping["groups"] == [["a", "b"], ["noise"]]  # as without the auxiliary task
    model = load_model(paths.checkpoint)
    assert isinstance(model, CompositeModel) and model.task_names == cfg.target_names
    shared, alone = model.networks
    assert shared.task_names == ["a", "b", "later"] and shared.served_task_names == ["a", "b"]
    assert alone.task_names == ["noise"]  # a task alone: its single-task network
    assert list(json.loads(paths.metrics.read_text())["tasks"]) == cfg.target_names
