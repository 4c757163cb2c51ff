"""The training loop: history, early stopping, callbacks, exact resume, non-finite losses, predict, files."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mtlops.training import (
    ModelFileError,
    NonFiniteLoss,
    StopTraining,
    TrainSettings,
    fit,
    load_model,
    predict,
    resolve_amp,
    resolve_device,
    save_model,
)
from mtlops.training.checkpoint import LAST
from mtlops.training.data import TensorData
from mtlops.training.trainer import BestEpoch
from mtlops.weighting import build_weighting
from tests.models.tiny import TASK_TYPES, arrays, model

SETTINGS = {"epochs": 3, "batch_size": 32, "lr": 0.01, "device": "cpu", "progress": False, "patience": 5, "seed": 3}


def run(architecture="hard", weighting="equal", n=160, **overrides):
    m = model(architecture)
    w = build_weighting(weighting, {}, m.task_names, TASK_TYPES)
    return fit(m, w, arrays(n, seed=1), arrays(60, seed=2), TrainSettings(**{**SETTINGS, **overrides}))


def test_fit_records_the_contract_history():
    result = run(weighting="dwa", epochs=3)
    assert result.epochs_run == 3 and result.stop_reason == "completed" and result.device == "cpu"
    assert result.wall_time_s > 0
    for i, row in enumerate(result.history, start=1):
        assert set(row) == {"epoch", "train_loss", "val_loss", "weights", "val_objective", "seconds"}
        assert row["epoch"] == i and row["seconds"] > 0
        assert set(row["train_loss"]) == set(row["val_loss"]) == set(row["weights"]) == {"churn", "segment", "amount"}
        assert row["val_objective"] == pytest.approx(np.mean(list(row["val_loss"].values())))
    # DWA: weight 1 for two epochs, then T·softmax of the loss ratios (they sum to T)
    assert result.history[0]["weights"] == {"churn": 1.0, "segment": 1.0, "amount": 1.0}
    assert sum(result.history[2]["weights"].values()) == pytest.approx(3.0)
    assert result.history[2]["weights"] != result.history[0]["weights"]
    best = min(result.history, key=lambda r: r["val_objective"])
    assert result.best_epoch == best["epoch"]


def test_training_reduces_the_validation_loss():
    result = run(epochs=4, n=400)
    assert result.history[-1]["val_objective"] < result.history[0]["val_objective"]


def test_early_stopping_on_an_objective_a_callback_supplies_and_best_weights_restored():
    snapshots = {}

    def objective(epoch, row, model):
        row["val_objective"] = {1: 3.0, 2: 1.0}.get(epoch, 2.0)  # best at epoch 2, then no improvement
        snapshots[epoch] = {k: v.clone() for k, v in model.state_dict().items()}

    m = model("hard")
    w = build_weighting("equal", {}, m.task_names)
    settings = TrainSettings(**{**SETTINGS, "epochs": 10, "patience": 1})
    result = fit(m, w, arrays(96, seed=1), arrays(30, seed=2), settings, callbacks=[objective])
    assert result.stop_reason == "early_stopping"
    assert result.epochs_run == 4  # epochs 3 and 4 do not improve on 2; patience tolerates one
    assert result.best_epoch == 2
    for k, v in result.model.state_dict().items():
        torch.testing.assert_close(v, snapshots[2][k])


def test_a_callback_can_stop_training():
    def stop(epoch, row, model):
        if epoch == 2:
            raise StopTraining("enough")

    m = model("hard")
    result = fit(m, build_weighting("equal", {}, m.task_names), arrays(64), None,
                 TrainSettings(**SETTINGS), callbacks=[stop])
    assert result.epochs_run == 2 and result.stop_reason == "callback: enough"
    assert result.history[0]["val_loss"] == {}  # no validation data: the objective is the training loss


class Crash(Exception):
    pass


@pytest.mark.parametrize(
    ("architecture", "weighting"), [("mmoe", "gradnorm"), ("hard", "uncertainty"), ("ple", "famo")]
)
def test_resume_from_a_checkpoint_equals_the_uninterrupted_run(tmp_path, architecture, weighting):
    train, val = arrays(96, seed=1), arrays(30, seed=2)
    settings = TrainSettings(**{**SETTINGS, "epochs": 3})

    def fresh():
        m = model(architecture, dropout=0.2)  # dropout: the RNG state must be restored too
        return m, build_weighting(weighting, {}, m.task_names, TASK_TYPES)

    m, w = fresh()
    uninterrupted = fit(m, w, train, val, settings, checkpoint_dir=tmp_path / "full")

    def crash_in_epoch_2(epoch, row, model):
        if epoch == 2:
            raise Crash

    m, w = fresh()
    with pytest.raises(Crash):
        fit(m, w, train, val, settings, callbacks=[crash_in_epoch_2], checkpoint_dir=tmp_path / "ckpt")
    m, w = fresh()
    resumed = fit(m, w, train, val, settings, checkpoint_dir=tmp_path / "ckpt", resume=True)

    assert resumed.epochs_run == 3 and [r["epoch"] for r in resumed.history] == [1, 2, 3]
    for k, v in uninterrupted.model.state_dict().items():
        assert torch.equal(v, resumed.model.state_dict()[k]), k
    for a, b in zip(uninterrupted.history, resumed.history):
        assert a["train_loss"] == b["train_loss"] and a["val_loss"] == b["val_loss"] and a["weights"] == b["weights"]
    # a finished run resumes to the same result without training again
    m, w = fresh()
    again = fit(m, w, train, val, settings, checkpoint_dir=tmp_path / "ckpt", resume=True)
    assert again.epochs_run == 3 and torch.equal(again.model.heads["amount"].linear.weight,
                                                 resumed.model.heads["amount"].linear.weight)


def test_the_best_epoch_keeps_a_copy_of_its_weights_and_counts_epochs_without_improvement():
    m = model("hard")
    best = BestEpoch()
    assert best.update(1, 2.0, m, patience=1) is False and (best.epoch, best.objective, best.bad_epochs) == (1, 2.0, 0)
    kept = m.heads["amount"].linear.weight.clone()
    with torch.no_grad():
        m.heads["amount"].linear.weight.add_(1.0)  # training goes on: the kept weights must not follow
    assert torch.equal(best.state["heads.amount.linear.weight"], kept)
    assert best.update(2, 2.0, m, patience=1) is False  # a tie is no improvement: one bad epoch, tolerated
    assert best.update(3, float("nan"), m, patience=1) is True and best.bad_epochs == 2  # patience run out
    assert best.update(4, 1.5, m, patience=1) is False and (best.epoch, best.bad_epochs) == (4, 0)
    assert torch.equal(best.state["heads.amount.linear.weight"], m.heads["amount"].linear.weight)


def test_the_checkpoint_is_plain_data_and_a_foreign_one_is_refused_by_name(tmp_path):
    m = model("hard")
    settings = TrainSettings(**{**SETTINGS, "epochs": 2})
    fit(m, build_weighting("equal", {}, m.task_names), arrays(64), None, settings, checkpoint_dir=tmp_path)
    saved = torch.load(tmp_path / LAST, weights_only=True)  # no pickled classes
    assert saved["epoch"] == 2 and saved["stop_reason"] == "completed" and len(saved["history"]) == 2
    assert type(saved["best"]) is dict and set(saved["best"]) == {"objective", "epoch", "state", "bad_epochs"}
    for broken, problem in [({k: v for k, v in saved.items() if k != "scaler"}, r"lacks \['scaler'\]"),
                            ({**saved, "format": 0}, "format 1 .found 0")]:
        torch.save(broken, tmp_path / LAST)
        with pytest.raises(ModelFileError, match=rf"last\.pt: .*{problem}"):
            fit(model("hard"), build_weighting("equal", {}, m.task_names), arrays(64), None, settings,
                checkpoint_dir=tmp_path, resume=True)


def test_a_nan_loss_raises_naming_task_epoch_and_step():
    train = arrays(64, seed=1)
    train["mask_amount"][40] = True
    train["y_amount"][40] = np.nan  # a *labelled* NaN
    m = model("hard")
    with pytest.raises(NonFiniteLoss, match=r"task 'amount' in epoch 1, step \d"):
        fit(m, build_weighting("equal", {}, m.task_names), train, None,
            TrainSettings(**{**SETTINGS, "batch_size": 16, "check_every": 2}))


def test_unlabelled_nan_rows_train_fine():
    train = arrays(64, seed=1)
    train["y_amount"][~train["mask_amount"]] = np.nan
    train["y_segment"][~train["mask_segment"]] = -1
    result = run(n=64)
    m = model("hard")
    result = fit(m, build_weighting("pcgrad", {}, m.task_names), train, None, TrainSettings(**SETTINGS))
    assert all(np.isfinite(list(r["train_loss"].values())).all() for r in result.history)


def test_regression_predictions_come_back_on_the_raw_scale():
    train, val = arrays(400, seed=1), arrays(100, seed=2)
    train["y_amount"] = (train["y_amount"] * 100 + 5000).astype(np.float32)
    val["y_amount"] = (val["y_amount"] * 100 + 5000).astype(np.float32)
    m = model("hard")
    result = fit(m, build_weighting("equal", {}, m.task_names), train, val,
                 TrainSettings(**{**SETTINGS, "epochs": 8, "lr": 0.02}))
    head = result.model.heads["amount"]
    assert float(head.mean) == pytest.approx(train["y_amount"][train["mask_amount"]].mean(), rel=1e-4)
    pred = predict(result.model, val)["amount"]
    y, mask = val["y_amount"], val["mask_amount"]
    assert abs(pred[mask].mean() - y[mask].mean()) < 0.2 * y[mask].std()
    assert np.abs(pred[mask] - y[mask]).mean() < 0.8 * np.abs(y[mask] - y[mask].mean()).mean()


def test_predict_shapes_and_save_load_round_trip(tmp_path):
    result = run(architecture="ple", epochs=1)
    data = arrays(50, seed=9)
    preds = predict(result.model, data, batch_size=16)
    assert preds["churn"].shape == (50,) and preds["segment"].shape == (50, 3) and preds["amount"].shape == (50,)
    assert np.allclose(preds["segment"].sum(1), 1, atol=1e-5)
    features_only = {k: data[k] for k in ("num", "cat")}
    path = tmp_path / "m" / "model.pt"
    save_model(result.model, path, extra={"note": "x"})
    loaded = load_model(path)
    assert loaded.extra == {"note": "x"} and not loaded.training
    again = predict(loaded, features_only, batch_size=16)
    for t in preds:
        np.testing.assert_array_equal(again[t], preds[t])
    assert predict(loaded, {k: v[:0] for k, v in features_only.items()})["segment"].shape == (0, 3)


def test_model_file_errors_name_the_file(tmp_path):
    with pytest.raises(ModelFileError, match="not found"):
        load_model(tmp_path / "missing.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a model")
    with pytest.raises(ModelFileError, match=r"bad\.pt"):
        load_model(bad)


def test_missing_inputs_or_labels_are_named():
    m = model("hard")
    a = arrays(20)
    del a["y_segment"]
    with pytest.raises(KeyError, match="y_segment"):
        fit(m, build_weighting("equal", {}, m.task_names), a, None, TrainSettings(**SETTINGS))
    with pytest.raises(KeyError, match="cat"):
        predict(m, {"num": a["num"]})


def test_devices_and_precision():
    assert resolve_device("auto").type in ("cuda", "mps", "cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match=r"train\.device"):
        resolve_device("tpu-ish")
    assert resolve_amp("auto", torch.device("cpu")) is None
    assert resolve_amp("bf16", torch.device("cpu")) is torch.bfloat16
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA"):
            resolve_device("cuda")


def test_bf16_autocast_trains_on_cpu_when_asked():
    result = run(epochs=1, amp="bf16")
    assert np.isfinite(result.history[0]["val_objective"])


def test_batches_cover_every_row_once_in_a_seeded_order():
    data = TensorData({"x": np.arange(10)}, ["x"], torch.device("cpu"))
    order = [b["x"] for b in data.batches(4, torch.Generator().manual_seed(0))]
    assert [len(b) for b in order] == [4, 4, 2]
    assert sorted(torch.cat(order).tolist()) == list(range(10))
    again = torch.cat([b["x"] for b in data.batches(4, torch.Generator().manual_seed(0))])
    assert torch.equal(torch.cat(order), again)


def test_progress_is_one_line_per_epoch_when_not_a_terminal(capfd):
    """A log file or a Prefect task log gets a plain line per finished epoch (no bar), on stderr only."""
    run(epochs=2, patience=5, progress=True)
    out, err = capfd.readouterr()
    lines = err.splitlines()
    assert out == "" and [line.split(" · ")[0] for line in lines] == ["epoch 1/2", "epoch 2/2"]
    assert all("train loss" in line and "val loss " in line and "(lower is better" in line for line in lines)
    assert "best " in lines[1] and (" at 1)" in lines[1] or " at 2)" in lines[1])  # the best so far, and when


def test_an_epoch_line_says_what_it_counts_and_which_way_is_better():
    from mtlops.training.progress import epoch_line, update_best

    best = None
    rows = [{"epoch": e, "train_loss": {"a": 0.5}, "val_delta_m": dm, "val_objective": -dm, "seconds": 1.0}
            for e, dm in ((5, 0.30), (6, 0.52), (7, 0.10), (8, 0.41))]
    for row in rows:
        best = update_best(best, row)
    assert best == (0.52, 6)  # Δm: higher is better
    line = epoch_line(rows[-1], 100, ["a"], best)
    assert line == "epoch 8/100 · train loss a 0.5000 · val Δm +0.41 % (best +0.52 % at 6) · 1.0 s"
    loss = update_best(update_best(None, {"epoch": 1, "val_objective": 0.3}), {"epoch": 2, "val_objective": 0.4})
    assert loss == (0.3, 1)  # a loss: lower is better


@pytest.mark.parametrize(("architecture", "weighting"), [("hard", "equal"), ("soft", "uncertainty"), ("ple", "dwa")])
def test_a_loss_based_weighting_skips_the_cut_with_the_same_weights_bit_for_bit(architecture, weighting):
    """Loss-based methods train from the trunk's outputs in one backward pass (`Weighting.needs_cut` false);
    a subclass that overrides `backward` (only to call it) trains through the cut: the same weights."""
    from mtlops.weighting import WEIGHTINGS

    plain = build_weighting(weighting, {}, model(architecture).task_names, TASK_TYPES)
    assert not plain.needs_cut and build_weighting("gradnorm", {}, ["a", "b"]).needs_cut

    class ThroughTheCut(WEIGHTINGS[weighting]):
        def backward(self, losses, model, cut=None, scale=None):
            assert cut is not None
            return super().backward(losses, model, cut, scale)

    results = []
    for w in (plain, ThroughTheCut(plain.task_names, None, TASK_TYPES)):
        assert w.needs_cut == isinstance(w, ThroughTheCut)
        settings = TrainSettings(**{**SETTINGS, "epochs": 2})
        results.append(fit(model(architecture), w, arrays(160, seed=1), arrays(60, seed=2), settings))
    a, b = (r.model.state_dict() for r in results)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [r["val_loss"] for r in results[0].history] == [r["val_loss"] for r in results[1].history]
