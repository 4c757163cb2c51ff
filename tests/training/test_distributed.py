"""Data-parallel training: 2 gloo processes on the CPU, started by torchrun, against 1 process.

Each launch costs seconds (torchrun and two fresh Pythons), so a few launches carry all the checks.
The job functions are module-level: the processes import them from this module.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from mtlops.config import with_overrides
from mtlops.stages import run_stage
from mtlops.training import TrainSettings, fit
from mtlops.training.data import TensorData
from mtlops.training.distributed import DistributedError, Ranks, check_processes, launch
from mtlops.training.from_config import train_from_config
from mtlops.weighting import WEIGHTINGS, build_weighting
from mtlops.weighting.base import Weighting
from tests.models.tiny import TASK_TYPES, arrays, model
from tests.training import test_from_config

processed = test_from_config.processed  # the fixture: the mixed project's processed arrays
pytestmark = pytest.mark.xdist_group("ddp")  # two processes each: one launch at a time on two cores

LABELLED = {"segment": 0.0, "amount": 0.0}  # every row labelled: each rank's mean is a mean over equal shares
EXACT = dict(epochs=2, batch_size=32, lr=0.01, device="cpu", progress=False, seed=3, threads=1)
PARAMS = {"static": {"weights": {"churn": 2.0}}}


def train_tiny(weighting: Weighting | str) -> dict:
    """One tiny fit without dropout or missing labels: the same global batches give the same step."""
    m = model("hard")
    w = weighting if isinstance(weighting, Weighting) else build_weighting(
        weighting, PARAMS.get(weighting, {}), m.task_names, TASK_TYPES)
    result = fit(m, w, arrays(256, seed=1, unlabelled=LABELLED), arrays(64, seed=2), TrainSettings(**EXACT))
    return {"state": result.model.state_dict(), "history": result.history}


class Unsynchronised(Weighting):
    """A gradient method that has not declared `data_parallel`."""


def every_weighting_and_a_refusal() -> dict:
    """In each process: every registered weighting trained, and the refusal of one that is not synchronised."""
    out = {name: train_tiny(name) for name in WEIGHTINGS}
    try:
        train_tiny(Unsynchronised(["churn", "segment", "amount"]))
    except DistributedError as err:
        out["refusal"] = str(err)
    out["ranks"] = Ranks.current()
    return out


@pytest.fixture(scope="module")
def two_processes() -> dict:
    return launch(every_weighting_and_a_refusal, processes=2, threads=1)


@pytest.mark.parametrize("name", list(WEIGHTINGS))
def test_each_weighting_takes_the_single_process_step_in_two_processes(two_processes, name):
    """Synchronised per-task gradients and losses: 2 ranks of 16 rows step as 1 process on 32 rows (float
    rounding apart; without the synchronisation PCGrad, GradNorm and FAMO land ~1e-2 away)."""
    assert two_processes["ranks"] == Ranks(0, 2)
    one, two = train_tiny(name), two_processes[name]
    for key, value in one["state"].items():
        torch.testing.assert_close(two["state"][key], value, rtol=0, atol=1e-5, msg=key)
    for a, b in zip(one["history"], two["history"]):
        assert b["val_objective"] == pytest.approx(a["val_objective"], abs=1e-5)
        assert b["weights"] == pytest.approx(a["weights"], abs=1e-5)
        assert b["train_loss"] == pytest.approx(a["train_loss"], abs=1e-5)


def test_a_weighting_that_does_not_synchronise_is_refused_by_name(two_processes):
    assert "'Unsynchronised' cannot train in 2 processes" in two_processes["refusal"]
    assert "train.processes: 1" in two_processes["refusal"]


# ------------------------------------------------------------------- the config bridge and the stage
class CrashAt:
    """A callback (rank 0 runs them) that fails in one epoch."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def __call__(self, epoch, row, model) -> None:
        if epoch == self.epoch:
            raise RuntimeError(f"crash in epoch {epoch}")


def audited_training(root: str, record: str, cfg, paths, checkpoint_dir, callbacks=()):
    """`train_from_config` in this process; rank 1 notes every write it makes under `root` into `record`."""
    writes: list[str] = []
    if Ranks.current().rank == 1:
        def note(event, args):
            if event == "open":
                _path, mode, flags = args
                writing = set(mode) & set("wax+") if mode else flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)
                if not writing:
                    return
            if event in ("open", "os.rename", "os.replace", "os.remove", "os.mkdir", "shutil.rmtree") and \
                    str(args[0]).startswith(root):
                writes.append(f"{event} {args[0]}")
        sys.addaudithook(note)
    try:
        result = train_from_config(cfg, paths, checkpoint_dir=checkpoint_dir, resume=True, callbacks=callbacks,
                                   processes=2)
        return replace(result, model=None), result.model.state_dict()  # the model's loss functions do not pickle
    finally:
        if Ranks.current().rank == 1:
            Path(record).write_text(json.dumps(writes))


def test_rank_zero_alone_writes_and_a_crashed_run_resumes_to_the_uninterrupted_one(processed, tmp_path_factory):
    cfg, paths, _ = processed
    cfg = with_overrides(cfg, {"train": {"epochs": 3, "patience": 5, "batch_size": 32, "threads": 1}})
    root = str(paths.root)
    full, crashed = paths.root / "ckpt-full", paths.root / "ckpt-crashed"
    record = tmp_path_factory.mktemp("rank1") / "writes.json"  # outside the project

    uninterrupted, weights = launch(audited_training, root, str(record), cfg, paths, full, processes=2)
    assert json.loads(record.read_text()) == []  # rank 1 wrote nothing at all under the project
    assert (full / "last.pt").is_file()  # rank 0 wrote the checkpoint
    assert uninterrupted.epochs_run == 3

    with pytest.raises(RuntimeError, match="crash in epoch 2"):  # rank 0's error, as raised there
        launch(audited_training, root, str(record), cfg, paths, crashed, [CrashAt(2)], processes=2)
    resumed, resumed_weights = launch(audited_training, root, str(record), cfg, paths, crashed, processes=2)
    assert json.loads(record.read_text()) == []
    assert [r["epoch"] for r in resumed.history] == [1, 2, 3]
    for key, value in weights.items():
        assert torch.equal(resumed_weights[key], value), key
    for a, b in zip(uninterrupted.history, resumed.history):
        assert (a["train_loss"], a["val_loss"]) == (b["train_loss"], b["val_loss"])


def test_the_train_stage_in_two_processes_matches_one_within_tolerance(processed):
    """With missing labels and dropout the ranks' batches are not the single process's to the bit: the
    validation objective (mean masked loss) stays within 2% of the 1-process run's (1.1% measured; both runs
    are seeded and deterministic on the CPU, so the margin does not drift between runs)."""
    cfg, paths, _ = processed
    cfg = with_overrides(cfg, {"train": {"epochs": 4, "patience": 5, "batch_size": 32, "threads": 1,
                                         "stop_on": "val_loss"},
                               "model": {"architecture": {"name": "hard", "params": {"dropout": 0.1}}}})
    one = run_stage("train", cfg, paths)
    two = run_stage("train", with_overrides(cfg, {"train": {"processes": 2}}), paths)
    history = json.loads(paths.history.read_text())
    assert paths.checkpoint.is_file() and history["train"]["processes"] == 2
    assert two["epochs_run"] == one["epochs_run"] == 4
    assert two["best_val_objective"] == pytest.approx(one["best_val_objective"], rel=0.02)


# ------------------------------------------------------------------------------------------ no launch
def test_a_process_count_this_machine_cannot_run_is_refused_by_key():
    cores = len(os.sched_getaffinity(0))
    assert check_processes(cores, "cpu") == "gloo"
    with pytest.raises(DistributedError, match=f"train.processes: {cores + 1} is more than the {cores} CPU cores"):
        check_processes(cores + 1, "cpu")

    def job():
        pass

    job.__module__ = "__main__"
    with pytest.raises(DistributedError, match="defined in __main__"):
        launch(job, processes=2)


def test_each_rank_takes_an_equal_disjoint_share_of_every_batch():
    data = TensorData({"x": np.arange(21)}, ["x"], torch.device("cpu"))
    shards = [list(data.batches(8, torch.Generator().manual_seed(0), rank, 2)) for rank in (0, 1)]
    whole = list(data.batches(8, torch.Generator().manual_seed(0)))
    assert len(shards[0]) == len(shards[1]) == data.n_batches(8, 2) == 3  # 8, 8, 5 rows: 4+4, 4+4, 2+2
    for a, b, batch in zip(*shards, whole):
        assert len(a["x"]) == len(b["x"]) == len(batch["x"]) // 2
        assert torch.equal(torch.cat([a["x"], b["x"]]), batch["x"][: 2 * len(a["x"])])
    for size, world, expected in [(8, 1, 3), (20, 1, 2), (20, 2, 1), (10, 3, 2)]:  # 20 + 1: the lone row waits
        assert data.n_batches(size, world) == expected == len(list(data.batches(size, None, 0, world)))


def weights_check(kind: str) -> str:
    """In each process: a 2-weight module, the same on every rank or `kind` apart; what the check says."""
    from mtlops.training.distributed import check_same_weights

    rank = Ranks.current().rank
    values = {"same": [0.1, 0.2], "swapped": [[0.1, 0.2], [0.2, 0.1]][rank],  # equal sums, other weights
              "one ulp": [0.1, float(np.nextafter(np.float32(0.2), np.float32(1.0))) if rank else 0.2]}[kind]
    module = torch.nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        module.weight.copy_(torch.tensor([values], dtype=torch.float32))
    try:
        check_same_weights(module, epoch=1)
    except DistributedError as err:
        return str(err)
    return "same"


def every_weights_check() -> dict:
    return {kind: weights_check(kind) for kind in ("same", "swapped", "one ulp")}


def test_the_end_of_epoch_check_compares_the_weights_bitwise():
    """Its docstring said bitwise; it compared per-parameter sums, blind to two weights swapped (#25)."""
    out = launch(every_weights_check, processes=2, threads=1)
    assert out["same"] == "same"
    for kind in ("swapped", "one ulp"):
        assert "weights differ after epoch 1" in out[kind], (kind, out[kind])
