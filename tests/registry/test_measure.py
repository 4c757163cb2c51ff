"""The gate's measurement and the evaluation compare alike: on the same rows and resamples, the same numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mtlops.config import with_overrides
from mtlops.evaluation.evaluate import score_tasks
from mtlops.metrics.compare import compare
from mtlops.registry import measure
from tests.helpers import make_project


def _rows(n=300, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=n)
    mask_amount = rng.random(n) < 0.8
    test = {
        "y_churn": (z > 0).astype(np.float32), "mask_churn": np.ones(n, bool),
        "y_segment": np.digitize(z, [-0.5, 0.5]), "mask_segment": np.ones(n, bool),
        "y_amount": np.where(mask_amount, 3 * z, 0).astype(np.float32), "mask_amount": mask_amount,
    }

    def model(noise):
        logits = np.column_stack([-z, -np.abs(z), z]) + rng.normal(scale=noise, size=(n, 3))
        return {"churn": 1 / (1 + np.exp(-(2 * z + rng.normal(scale=noise, size=n)))),
                "segment": np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True),
                "amount": 3 * z + rng.normal(scale=noise, size=n)}

    return test, {"mtl": model(0.5), "stl": model(0.6)}


def test_the_gate_and_the_evaluation_agree_on_the_same_rows(tmp_path):
    cfg, _ = make_project(tmp_path, kind="mixed")
    cfg = with_overrides(cfg, {"promotion": {"bootstrap": 100}, "evaluation": {"bootstrap": 100}})
    test, preds = _rows()
    scores = score_tasks(cfg.tasks, test, preds, n_resamples=100, confidence=cfg.promotion.confidence,
                         seed=cfg.project.seed, calibration_bins=cfg.evaluation.calibration_bins)
    scorer = measure.Scorer(cfg, measure.TestRows(pd.DataFrame(index=range(len(test["mask_churn"]))), test))
    for task in cfg.tasks:
        gate = scorer.compare(task, preds["mtl"][task.name], "single-task model", preds["stl"][task.name])
        assert gate.relative and gate.candidate == scores["primary"]["mtl"][task.name]
        assert gate.reference == scores["primary"]["stl"][task.name]
        cand, ref = scorer.metric("candidate", task, None), scorer.metric("single-task model", task, None)  # cached
        absolute = compare(task, cand, ref, cfg.promotion.confidence, relative=False)
        assert absolute.change.to_dict() == scores["tasks"][task.name]["diff_vs_stl"]
