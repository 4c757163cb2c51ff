"""Tiny projects for tests: a params.yaml in a temp folder, data generated on the spot."""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import yaml

TINY_TRAIN = {
    "epochs": 2,
    "batch_size": 128,
    "lr": 0.005,
    "patience": 1,
    "device": "cpu",
    "use_search": True,
}
TINY_SEARCH = {"n_trials": 2, "timeout_s": 60, "epochs": 2, "pruner": "median"}
TINY_EVAL = {"bootstrap": 20}
TINY_MODEL = {"architecture": {"name": "hard", "params": {}}, "weighting": {"name": "equal", "params": {}}}
TINY_PROMOTION = {"delta_m_floor": -5.0, "require_validation": True}
TINY_GROUPING = {"enabled": False}
TINY_SERVING = {"best_of_baselines": True}  # written out: dvc.yaml tracks the section (DVC refuses a missing one)
TINY_BASELINES = {"gbdt_params": {"n_estimators": 20, "learning_rate": 0.1, "num_leaves": 15, "n_jobs": 1}}


def synthetic_params(n: int = 600, d: int = 8, correlation: float = 0.5) -> dict[str, Any]:
    return {
        "project": {"name": "tiny", "experiment": "tiny", "model_name": "tiny-mtl", "seed": 0},
        "data": {"source": "synthetic", "synthetic": {"n": n, "d": d, "correlation": correlation, "seed": 1}},
        "features": {"numeric": [f"x{i}" for i in range(d)]},
        "tasks": [
            {"name": "y1", "column": "y1", "type": "regression", "metric": "mae"},
            {"name": "y2", "column": "y2", "type": "regression", "metric": "mae"},
        ],
        "split": {"method": "random", "val_fraction": 0.2, "test_fraction": 0.2},
        "validation": {"min_rows": 10, "drift": {"row_count_change": {"threshold": 0.5, "level": "fail"}}},
        "train": TINY_TRAIN,
        "baselines": TINY_BASELINES,
        "search": TINY_SEARCH,
        "grouping": TINY_GROUPING,
        "serving": TINY_SERVING,
        "evaluation": TINY_EVAL,
        "model": TINY_MODEL,
        "promotion": TINY_PROMOTION,
    }


def write_mixed_csv(path: Path, n: int = 800, seed: int = 0) -> Path:
    """Rows with numeric + categorical features and three related tasks; ~20% of `amount` unlabelled."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    x1, x2, x3 = rng.normal(size=(3, n))
    shop = rng.choice(["a", "b", "c", "d"], size=n)
    shop_effect = pd.Series(shop).map({"a": 0.0, "b": 0.5, "c": -0.5, "d": 1.0}).to_numpy()
    score = x1 + 0.5 * x2 + shop_effect + 0.3 * rng.normal(size=n)
    amount = 10 + 3 * score + x3 + rng.normal(size=n)
    amount[rng.random(n) < 0.2] = np.nan
    df = pd.DataFrame(
        {
            "id": np.arange(n),
            "x1": x1,
            "x2": x2,
            "x3": x3,
            "shop": shop,
            "churn": (score > 0.3).astype(int),
            "segment": np.digitize(score + 0.2 * x3, [-0.8, 0.8]).astype(int),
            "amount": amount,
        }
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, index=False)
    return path


def mixed_params(csv_path: Path) -> dict[str, Any]:
    return {
        "project": {"name": "mixed", "experiment": "mixed", "model_name": "mixed-mtl", "seed": 0},
        "data": {"source": "file", "file": {"path": str(csv_path)}, "key": ["id"]},
        "features": {"numeric": ["x1", "x2", "x3"], "categorical": ["shop"]},
        "tasks": [
            {"name": "churn", "column": "churn", "type": "binary", "metric": "roc_auc"},
            {"name": "segment", "column": "segment", "type": "multiclass", "metric": "accuracy", "classes": [0, 1, 2]},
            {"name": "amount", "column": "amount", "type": "regression", "metric": "mae"},
        ],
        "split": {"method": "random", "val_fraction": 0.2, "test_fraction": 0.2},
        "validation": {"min_rows": 10, "null_fraction": {"amount": 0.5}},
        "train": TINY_TRAIN,
        "baselines": TINY_BASELINES,
        "search": TINY_SEARCH,
        "grouping": TINY_GROUPING,
        "serving": TINY_SERVING,
        "evaluation": TINY_EVAL,
        "model": TINY_MODEL,
        "promotion": TINY_PROMOTION,
    }


@functools.cache
def empty_mlflow_store() -> Path:
    """An empty sqlite MLflow store, made once per test process by MLflow itself (its schema migrations take
    ~1 s, a copy 20 ms). `make_project` starts each project with a copy; the end-to-end projects of
    `tests.orchestration.helpers.dvc_project` still make theirs on first use, as a user's first run does."""
    from mlflow import MlflowClient

    folder = Path(tempfile.mkdtemp(prefix="mtlops-empty-store-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    MlflowClient(f"sqlite:///{folder / 'mlflow.db'}").search_experiments()
    return folder / "mlflow.db"


def make_project(root: Path, kind: str = "synthetic", overrides: dict[str, Any] | None = None):
    """Write params.yaml (and data for `mixed`) under `root`, with an empty MLflow store; return (cfg, paths)."""
    from mtlops.config import deep_merge, load_config
    from mtlops.paths import Paths

    root.mkdir(parents=True, exist_ok=True)
    if kind == "synthetic":
        params = synthetic_params()
    elif kind == "mixed":
        params = mixed_params(write_mixed_csv(root / "source" / "mixed.csv"))
    else:
        raise ValueError(kind)
    if overrides:
        params = deep_merge(params, overrides)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    paths = Paths.at(root)
    paths.mlflow_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(empty_mlflow_store(), paths.mlflow_dir / "mlflow.db")
    return load_config(root / "params.yaml"), paths


def predict_in_fresh_process(ref: str, rows, tmp_path: Path, tracking: str):
    """A registered model's predictions from a new interpreter that has only the MLflow store and mtlops.

    The rows go through the model's input schema (`conform`), as `mtlops predict` and serving pass them.
    """
    import os
    import subprocess
    import sys

    import pandas as pd

    rows.to_parquet(tmp_path / "rows.parquet")
    script = (
        "import sys, mlflow, pandas as pd\n"
        "from mtlops.registry.pyfunc import conform\n"
        f"m = mlflow.pyfunc.load_model({ref!r})\n"
        "s = m.metadata.get_input_schema()\n"
        "rows = pd.read_parquet(sys.argv[1])\n"
        "m.predict(conform(rows[s.input_names()], s)).to_parquet(sys.argv[2])\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "rows.parquet"), str(tmp_path / "out.parquet")],
        cwd=tmp_path, env={**os.environ, "MLFLOW_TRACKING_URI": tracking},
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return pd.read_parquet(tmp_path / "out.parquet")
