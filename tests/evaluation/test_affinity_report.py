"""The affinity measured by the train stage reaches metrics.json, summary.md, the heatmap and MLflow's metrics."""

from __future__ import annotations

from mtlops.io import read_json
from mtlops.registry.register import run_metrics
from mtlops.stages import run_stages
from tests.helpers import make_project


def test_a_tiny_run_reports_the_affinity_matrix_its_heatmap_and_which_pairs_help(tmp_path):
    cfg, paths = make_project(tmp_path, overrides={"train": {"affinity_every": 2}, "baselines": {"gbdt": False}})
    run_stages(cfg, paths, ["ingest", "prepare", "baselines", "train", "evaluate"])
    affinity = read_json(paths.metrics)["affinity"]
    assert affinity["tasks"] == ["y1", "y2"]
    assert len(affinity["matrix"]) == 2 and all(len(row) == 2 for row in affinity["matrix"])
    assert all(isinstance(v, float) for row in affinity["matrix"] for v in row) and affinity["measurements"] > 0
    assert (paths.plots_dir / "affinity.png").stat().st_size > 0
    assert (paths.plots_dir / "affinity" / "affinity.csv").read_text().startswith("source,target,value,stderr")
    summary = paths.summary.read_text()
    assert "## Task affinity" in summary and "y1 → y2" in summary and "y2 → y1" in summary
    assert run_metrics(read_json(paths.metrics))["affinity/y1_to_y2"] == affinity["matrix"][0][1]

