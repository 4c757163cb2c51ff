"""The packaged model with numeric embeddings: the bins travel inside it, nothing refits at serving time."""

from __future__ import annotations

import numpy as np
import pandas as pd

import mlflow
from mtlops.registry.pyfunc import conform
from tests.helpers import make_project
from tests.registry.conftest import STAGES


def test_packaged_piecewise_linear_model_scores_raw_rows_like_the_in_process_model(tmp_path):
    from mtlops.data.prepare import load_meta, load_split
    from mtlops.registry.pyfunc import task_predictions
    from mtlops.registry.register import register
    from mtlops.stages import run_stages
    from mtlops.training import predict
    from mtlops.training.served import load_served

    encoder = {"numeric": "piecewise_linear", "n_bins": 8, "numeric_dim": 4, "categorical_width": "cardinality"}
    overrides = {"model": {"encoder": encoder}, "search": {"enabled": False}, "promotion": {"delta_m_floor": -100.0}}
    cfg, paths = make_project(tmp_path / "proj", kind="mixed", overrides=overrides)
    run_stages(cfg, paths, STAGES)
    register(cfg, paths)
    in_process = load_served(paths.model_dir)  # the network, and LightGBM where it serves a task
    assert in_process.network.encoder.parts[0].numeric is not None  # the model does embed its numeric columns
    prepared_bins = load_meta(paths)["inputs"]["num"]["bins"]

    model = mlflow.pyfunc.load_model(f"models:/{cfg.project.model_name}@challenger")
    schema = model.metadata.get_input_schema()
    rows = pd.read_parquet(paths.test_raw)
    out = model.predict(conform(rows[schema.input_names()], schema))
    got = task_predictions(out, [{"name": n, **t} for n, t in load_meta(paths)["tasks"].items()])
    expected = predict(in_process, load_split(paths, "test"))
    for task in cfg.task_names:
        np.testing.assert_allclose(got[task], expected[task], rtol=1e-5, atol=1e-6)
    # the packaged model carries the bins prepare fitted (they are its spec), not bins of its own
    packaged = model.unwrap_python_model()
    assert packaged.model.network.spec.inputs["num"]["bins"] == prepared_bins
