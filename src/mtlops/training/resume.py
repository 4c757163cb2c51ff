"""Where the train stage's per-epoch checkpoints live, so a killed run resumes and any other change starts afresh.

Each epoch ends with a checkpoint in `data/checkpoints/train/<fingerprint>/` (outside every DVC
output, which DVC deletes before rerunning the stage). The fingerprint covers what the weights
depend on: the model and train sections as applied, the seed, the code the train stage runs
(`mtlops.code_identity`: a one-line change to training code trains afresh, an edited comment does not)
and the processed arrays (and the single-task validation metrics early stopping measures against). A
rerun after a kill resumes from the last finished epoch of the same fingerprint and, on the CPU, ends
with the weights an uninterrupted run has.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from mtlops.training.checkpoint import LAST, ModelFileError, load_training_state

if TYPE_CHECKING:
    from mtlops.paths import Paths
    from mtlops.schema import Config


def weights_fingerprint(cfg: Config, paths: Paths) -> str:
    """A short hash of everything the trained weights depend on: config as applied, seed, code, data."""
    from mtlops import __version__
    from mtlops.code_identity import stage_code_hash

    digest = hashlib.sha256(json.dumps({
        # tasks: their loss weights and roles (auxiliary on or off) shape the weights too
        "config": cfg.section_hash("model", "train", "tasks"), "seed": cfg.project.seed, "mtlops": __version__,
        "code": stage_code_hash("train"),
    }, sort_keys=True).encode())
    for path in (paths.processed_meta, paths.split_arrays("train"), paths.split_arrays("val"), paths.baselines_metrics):
        if path.is_file():
            with path.open("rb") as fh:
                digest.update(hashlib.file_digest(fh, "sha256").digest())
    return digest.hexdigest()[:16]


def checkpoint_folder(cfg: Config, paths: Paths) -> Path:
    """This fingerprint's checkpoint folder; other fingerprints' folders (stale runs) are removed."""
    folder = paths.train_checkpoints / weights_fingerprint(cfg, paths)
    if paths.train_checkpoints.is_dir():
        for other in paths.train_checkpoints.iterdir():
            if other != folder:
                shutil.rmtree(other, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def resumable_epoch(folder: Path) -> int:
    """The last finished epoch of the folder's checkpoint (0: none); an unreadable one is removed."""
    try:
        state = load_training_state(folder)
    except ModelFileError as err:
        print(f"train: starting afresh, the checkpoint cannot be resumed: {err}", file=sys.stderr)
        (folder / LAST).unlink(missing_ok=True)
        return 0
    return int(state["epoch"]) if state else 0
