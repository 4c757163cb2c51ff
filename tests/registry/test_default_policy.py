"""The promotion gate's DEFAULT policy (params.yaml's `promotion` left out: schema defaults) on really trained
models: no task an allowed trade-off, single-task tolerance 0, Δm floor −5 %, per-task tolerance 1 %.

The other registry tests relax the gate (a 2-epoch model on 480 rows may trail its single-task baselines);
here the pipeline trains a model that shares a strong common signal, the default gate promotes it, and a
second, undertrained model of the same project is refused against it by name.
"""

from __future__ import annotations

import pytest

from mtlops.config import with_overrides
from mtlops.schema import PromotionConfig
from tests.helpers import make_project

pytestmark = pytest.mark.e2e

STAGES = ["ingest", "validate", "prepare", "baselines", "search", "grouping", "train", "evaluate", "register",
          "promote"]


@pytest.fixture(autouse=True)
def own_store(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


def _shared_signal(path, n: int = 3000, labelled: float = 0.25, seed: int = 0):
    """Two regression tasks of one nonlinear signal, each labelled on its own quarter of the rows. Sharing a
    trunk gives each task what the other's labels taught it: the case multi-task learning is for."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6))
    signal = np.tanh(x[:, 0] + 0.5 * x[:, 1]) * x[:, 2] + np.sin(x[:, 3]) + 0.5 * x[:, 4] * x[:, 5]
    a, b = signal + 0.1 * rng.normal(size=n), 2 * signal + 1 + 0.1 * rng.normal(size=n)
    a[rng.random(n) > labelled] = np.nan
    b[rng.random(n) > labelled] = np.nan
    df = pd.DataFrame(x, columns=[f"x{i}" for i in range(6)]).assign(id=np.arange(n), a=a, b=b)
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, index=False)
    return path


def test_the_default_policy_promotes_a_good_model_and_refuses_a_worse_one_by_name(tmp_path):
    from mtlops.stages import run_stages

    root = tmp_path / "proj"
    overrides = {
        "data": {"source": "file", "file": {"path": str(_shared_signal(root / "rows.csv"))}, "key": ["id"]},
        "features": {"numeric": [f"x{i}" for i in range(6)]},
        "tasks": [{"name": "a", "column": "a", "type": "regression", "metric": "mae"},
                  {"name": "b", "column": "b", "type": "regression", "metric": "mae"}],
        "validation": {"null_fraction": {"a": 0.9, "b": 0.9}},
        "train": {"epochs": 30, "patience": 5, "batch_size": 64},
        "search": {"enabled": False},
        "baselines": {"gbdt": False},
    }
    cfg, paths = make_project(root, overrides=overrides)
    cfg = cfg.model_copy(update={"promotion": PromotionConfig()})  # the tiny helpers relax it: the defaults decide
    assert cfg.promotion.allow_tradeoff == [] and cfg.promotion.single_task_tolerance == 0.0

    first = run_stages(cfg, paths, STAGES)["promote"]
    assert first["decision"] == "promoted", "\n".join(first["reasons"])
    reasons = "\n".join(first["reasons"])
    assert "pass: data validation passed" in reasons
    assert reasons.count("pass: task") == 2 and "FAIL" not in reasons and "trade-off" not in reasons
    assert ">= floor -5.00%" in reasons

    weak = with_overrides(cfg, {"train": {"epochs": 1}})
    second = run_stages(weak, paths, ["train", "evaluate", "register", "promote"])["promote"]
    assert second["decision"] == "refused" and second["champion"] == first["version"], second["reasons"]
    worse = [r for r in second["reasons"] if r.startswith("FAIL") and f"vs champion v{first['version']}" in r]
    assert worse and all("worse beyond tolerance 1% with 95% confidence" in r for r in worse), second["reasons"]
