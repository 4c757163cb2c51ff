"""The report a person reads and the files DVC reads, rendered from scores of constructed predictions."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from mtlops.evaluation.evaluate import metrics_document, score_tasks, write_outputs
from mtlops.evaluation.report import format_table
from mtlops.paths import Paths
from mtlops.schema import TaskConfig

TASKS = [
    TaskConfig(name="churn", column="churn", type="binary", metric="roc_auc"),
    TaskConfig(name="segment", column="segment", type="multiclass", metric="accuracy", classes=[0, 1, 2]),
    TaskConfig(name="amount", column="amount", type="regression", metric="mae"),
]


def _test_and_preds(n: int = 300):
    """Test rows of the three tasks and three models' predictions of them, noisier from mtl to gbdt."""
    rng = np.random.default_rng(0)
    z = rng.normal(size=n)
    seg = np.digitize(z, [-0.5, 0.5])
    amount = 3 * z + rng.normal(size=n)
    mask_amount = rng.random(n) < 0.8
    test = {
        "y_churn": (z > 0).astype(np.float32),
        "mask_churn": np.ones(n, bool),
        "y_segment": seg,
        "mask_segment": np.ones(n, bool),
        "y_amount": np.where(mask_amount, amount, 0).astype(np.float32),
        "mask_amount": mask_amount,
    }

    def model(noise: float) -> dict[str, np.ndarray]:
        logits = np.column_stack([-z, -np.abs(z), z]) + rng.normal(scale=noise, size=(n, 3))
        probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        return {
            "churn": 1 / (1 + np.exp(-(2 * z + rng.normal(scale=noise, size=n)))),
            "segment": probs,
            "amount": 3 * z + rng.normal(scale=noise, size=n),
        }

    return test, {"mtl": model(0.5), "stl": model(0.6), "gbdt": model(0.8)}


def _scores(n: int = 300):
    test, preds = _test_and_preds(n)
    return score_tasks(TASKS, test, preds, n_resamples=20, confidence=0.9, seed=0)


HISTORY = {
    "wall_time_s": 1.5,
    "n_params": 1234,
    "history": [
        {"epoch": e, "train_loss": {t.name: 1.0 / e for t in TASKS}, "val_loss": {t.name: 1.2 / e for t in TASKS}}
        for e in (1, 2, 3)
    ],
}
COST = {
    "mtl": {"wall_time_s": 1.5, "n_params": 1234},
    "stl_sum": {"wall_time_s": 3.0, "n_params": 3000},
    "gbdt_sum": {"wall_time_s": 0.7},
}


def test_outputs_have_the_shape_other_stages_read(tmp_path):
    paths = Paths.at(tmp_path)
    scores = _scores()
    metrics = metrics_document(scores, COST)
    write_outputs(paths, metrics, scores, HISTORY, bootstrap=20, confidence=0.9)

    written = json.loads(paths.metrics.read_text())  # strict JSON: NaN would fail here
    assert set(written) >= {"tasks", "delta_m", "cost", "primary"}
    for task in TASKS:
        entry = written["tasks"][task.name]
        assert entry["metric"] == task.metric and entry["higher_is_better"] == task.higher_is_better
        for model in ("mtl", "stl", "gbdt"):
            assert task.metric in entry[model]
            assert written["primary"][model][task.name] == entry[model][task.metric]
        assert set(entry["diff_vs_stl"]) == {"value", "ci_low", "ci_high"}
        assert isinstance(entry["negative_transfer"], bool) and isinstance(entry["n_test"], int)
    assert set(written["delta_m"]) == {"vs_stl", "vs_gbdt"}

    plots = paths.plots_dir
    for name in ("per_task.png", "training_curves.png", "calibration_churn.png"):
        assert (plots / name).stat().st_size > 0, name
    assert not (plots / "calibration_amount.png").exists()
    per_task = pd.read_csv(plots / "per_task" / "segment.csv")
    assert list(per_task.model) == ["mtl", "stl", "gbdt"] and (per_task.ci_low <= per_task.ci_high).all()
    assert per_task.value[0] == written["primary"]["mtl"]["segment"]
    assert sorted(p.name for p in (plots / "per_task").iterdir()) == ["amount.csv", "churn.csv", "segment.csv"]
    curves = pd.read_csv(plots / "curves" / "amount.csv")
    assert list(curves.columns) == ["epoch", "train_loss", "val_loss"] and list(curves.epoch) == [1, 2, 3]
    calib = pd.read_csv(plots / "calibration" / "churn_mtl.csv")
    assert calib["count"].sum() == 300
    assert list(pd.read_csv(plots / "diff" / "vs_stl.csv").task) == ["churn", "segment", "amount"]

    summary = paths.summary.read_text()
    assert "| churn |" in summary and "Δm vs single-task NN" in summary and "## Cost" in summary
    assert written["affinity"] is None and "Not measured" in summary and not (plots / "affinity.png").exists()

    # the headline DVC lists: each task's primary metric of the multi-task model, and Δm
    headline = json.loads(paths.headline.read_text())
    assert headline == {
        **{t.name: {t.metric: written["primary"]["mtl"][t.name]} for t in TASKS},
        "delta_m": written["delta_m"],
    }


def test_format_table_lists_every_task_and_flags_negative_transfer():
    metrics = metrics_document(_scores(), COST)
    metrics["tasks"]["amount"]["negative_transfer"] = True
    text = format_table(metrics)
    lines = text.splitlines()
    for task in TASKS:
        assert any(line.strip().startswith(task.name) for line in lines), task.name
    assert "negative transfer" in next(line for line in lines if line.strip().startswith("amount"))
    assert "negative transfer" not in next(line for line in lines if line.strip().startswith("churn"))
    assert "Δm vs single-task NN" in text and "1,234" in text
    assert "\x1b[" not in text  # plain text, no terminal colour codes


def test_each_task_names_the_network_that_served_it_in_metrics_summary_and_table():
    from mtlops.evaluation.report import summary_markdown

    metrics = metrics_document(_scores(), COST, groups=[["churn", "amount"], ["segment"]])
    assert {t: e["served_by"]["group"] for t, e in metrics["tasks"].items()} == {
        "churn": ["churn", "amount"], "segment": ["segment"], "amount": ["churn", "amount"]}
    assert {e["served_by"]["kind"] for e in metrics["tasks"].values()} == {"shared"}  # no serving choice: as before
    line = "`churn` + `amount` share a trunk; `segment` alone (its single-task network)"
    assert line in summary_markdown(metrics, 20, 0.95)
    assert line.replace("`", "") in format_table(metrics)
    shared = metrics_document(_scores(), COST, groups=[[t.name for t in TASKS]])
    assert "every task shares its trunk" in summary_markdown(shared, 20, 0.95)
    assert "Served by" not in summary_markdown(metrics_document(_scores(), COST), 20, 0.95)  # an older model


def test_the_served_model_has_its_own_table_flags_and_delta_m_beside_the_shared_network(tmp_path):
    """(a) the shared network vs the baselines stays as it was; (b) the served model gets its own rows: what
    serves each task, its differences, the choice's gain on validation beside test, and a flag of its own
    when it is below LightGBM (not the negative-transfer flag)."""
    from mtlops.evaluation.report import summary_markdown

    shared_only = _scores()
    # a served model: churn served by LightGBM (its very predictions), the others by the network
    test, preds = _test_and_preds()
    preds["served"] = {**preds["mtl"], "churn": preds["gbdt"]["churn"]}
    scores = score_tasks(TASKS, test, preds, n_resamples=20, confidence=0.9, seed=0)
    serving = {"tasks": {
        "churn": {"kind": "gbdt", "weight": None, "group": ["churn", "segment", "amount"], "gain_val": 1.5},
        "segment": {"kind": "shared", "weight": None, "group": ["churn", "segment", "amount"], "gain_val": 0.0},
        "amount": {"kind": "shared", "weight": None, "group": ["churn", "segment", "amount"], "gain_val": 0.0},
    }}
    metrics = metrics_document(scores, COST, groups=[[t.name for t in TASKS]], serving=serving)
    for key in ("vs_stl", "vs_gbdt"):  # (a) unchanged by serving
        assert metrics["delta_m"][key] == shared_only["delta_m"][key]
        assert metrics["delta_m_ci"][key] == shared_only["delta_m_ci"][key]
    assert set(metrics["delta_m"]) == {"vs_stl", "vs_gbdt", "served_vs_stl", "served_vs_gbdt"}
    churn = metrics["tasks"]["churn"]
    assert churn["served_by"] == {"kind": "gbdt", "weight": None, "group": ["churn", "segment", "amount"]}
    assert churn["served"]["roc_auc"] == churn["gbdt"]["roc_auc"] and churn["served_diff_vs_gbdt"]["value"] == 0
    assert churn["served_gain"]["val"] == 1.5
    shared, served = churn["mtl"]["roc_auc"], churn["served"]["roc_auc"]
    assert np.isclose(churn["served_gain"]["test"], 100 * (served - shared) / shared)
    # the served model equals the network on segment and amount: no served gain there
    assert metrics["tasks"]["amount"]["served_gain"]["test"] == 0

    # a served model below LightGBM is flagged as such, in the served table only
    metrics["tasks"]["amount"]["served_below_gbdt"] = True
    text = format_table(metrics)
    summary = summary_markdown(metrics, 20, 0.9)
    assert "served model" in text and "LightGBM" in text and "+1.50% /" in summary
    served_rows = summary.split("## Served model")[1]
    amount = next(line for line in served_rows.splitlines() if line.startswith("| amount"))
    assert amount.endswith("| below LightGBM |") and "negative transfer" not in amount
    assert "**Served below LightGBM** (interval entirely below zero): `amount`." in summary
    assert "Δm vs LightGBM" in served_rows

