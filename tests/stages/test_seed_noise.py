"""`evaluation.seed_runs`: the model as trained, trained again with other seeds; each task's spread over them in
metrics.json and summary.md, next to the bootstrap intervals (#25.10)."""

from __future__ import annotations

import json

import pytest

from mtlops.config import with_overrides
from mtlops.io import read_json, write_json
from mtlops.stages import run_stages
from tests.helpers import make_project


def test_seed_runs_report_each_tasks_spread_and_a_seed_reproduces_exactly(tmp_path):
    cfg, paths = make_project(tmp_path, kind="mixed", overrides={
        "search": {"enabled": False}, "baselines": {"gbdt": False}, "train": {"epochs": 2, "batch_size": 64}})
    run_stages(cfg, paths, ["ingest", "prepare", "baselines", "search", "grouping", "train"])
    # the overlay the train stage applied is what the seed runs retrain (here: another width than params.yaml's)
    write_json(paths.best_params, {"model": {"architecture": {"name": "hard", "params": {"width": 24}}}})
    run_stages(cfg, paths, ["train"])

    off = run_stages(cfg, paths, ["evaluate"])
    assert "seed_noise" not in read_json(paths.metrics) and "Training-seed noise" not in paths.summary.read_text()

    seeded = with_overrides(cfg, {"evaluation": {"seed_runs": 2}})
    run_stages(seeded, paths, ["evaluate"])
    metrics = read_json(paths.metrics)
    noise = metrics["seed_noise"]
    assert noise["runs"] == 2 and noise["seeds"] == [cfg.project.seed, cfg.project.seed + 1, cfg.project.seed + 2]
    for task, entry in noise["tasks"].items():
        values = entry["values"]
        assert len(values) == 3 and values[0] == metrics["primary"]["mtl"][task]  # the evaluated model's first
        assert entry["spread"] == pytest.approx(max(values) - min(values)) and entry["spread"] > 0
    summary = paths.summary.read_text()
    assert "## Training-seed noise (2 other seeds)" in summary and "spread (max − min)" in summary
    json.dumps(metrics, allow_nan=False)
    assert off["evaluate"]["delta_m"] == run_stages(cfg, paths, ["evaluate"])["evaluate"]["delta_m"]

    # the same seed again, on the same machine: the same figures, to the last digit
    run_stages(seeded, paths, ["evaluate"])
    assert read_json(paths.metrics)["seed_noise"] == noise
