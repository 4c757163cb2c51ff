"""train: the multi-task model on the processed data, with the search's best params when asked.

Reads `data/processed/`, `reports/baselines.json` (the single-task validation metrics early stopping
measures Δm against) and, when `train.use_search`, `data/models/best_params.json` (a config
overlay; in a DVC experiment, an overlay that would replace a key the experiment set is refused);
writes `data/models/mtl/model.pt` and `reports/history.json` (with the inter-task affinity matrix
when `train.affinity_every` > 0: `mtlops.training.affinity`). The work:
`mtlops.training.from_config.train_from_config` (the loop itself: `mtlops.training.trainer`).

Each epoch ends with a checkpoint in `data/checkpoints/train/<fingerprint>/` (outside every DVC
output, which DVC deletes before rerunning the stage). The fingerprint covers what the weights
depend on: the model and train sections as applied, the seed, mtlops' version and the processed
arrays. A rerun after a kill resumes from the last finished epoch of the same fingerprint and, on
the CPU, ends with the weights an uninterrupted run has; any other change starts afresh.

With `train.processes` > 1 the training runs in that many data-parallel processes started by torchrun
(`mtlops.training.distributed`); this process writes the model and history from rank 0's result.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mtlops.config import with_overrides
from mtlops.experiment import refuse_hidden_overrides
from mtlops.io import read_json, write_json
from mtlops.training import save_model
from mtlops.training.affinity import TaskAffinity, affinity_from_history
from mtlops.training.checkpoint import LAST, ModelFileError, load_training_state
from mtlops.training.from_config import train_from_config

if TYPE_CHECKING:
    from mtlops.paths import Paths
    from mtlops.schema import Config


def run(cfg: Config, paths: Paths) -> dict[str, Any]:
    """Writes data/models/mtl/model.pt and reports/history.json; returns a short summary."""
    applied = False
    if cfg.train.use_search and paths.best_params.exists():
        overlay = read_json(paths.best_params, "best params")
        if cfg.search.enabled:  # whichever trial won (trial 0 keeps the config): the same answer every time
            refuse_hidden_overrides(paths.root / "params.yaml", _searched(cfg))
        if overlay:
            cfg = with_overrides(cfg, overlay)
            applied = True
    folder = checkpoint_folder(cfg, paths)
    resumed_from = _resumable_epoch(folder)
    hooks = {}
    if cfg.train.affinity_every:
        affinity = TaskAffinity(cfg.task_names, cfg.train.affinity_every)
        hooks = {"step_hooks": [affinity], "callbacks": [affinity.end_epoch]}
    result = train_from_config(cfg, paths, checkpoint_dir=folder, resume=True, reference=_reference(cfg, paths),
                                processes=cfg.train.processes, **hooks)
    model = result.model
    arch, weighting = cfg.model.architecture, cfg.model.weighting
    save_model(
        model,
        paths.checkpoint,
        extra={
            "config_hash": cfg.section_hash("model", "train"),
            "architecture": arch.name,
            "weighting": weighting.name,
            "best_epoch": result.best_epoch,
        },
    )
    report = {
        "wall_time_s": round(result.wall_time_s, 3),
        "n_params": model.n_params,
        "best_epoch": result.best_epoch,
        "epochs_run": result.epochs_run,
        "stop_reason": result.stop_reason,
        "device": result.device,
        "resumed_from_epoch": resumed_from,
        "architecture": {"name": arch.name, "params": dict(arch.params)},
        "weighting": {"name": weighting.name, "params": dict(weighting.params)},
        "train": {**cfg.train.model_dump(mode="json"), "search_params_applied": applied},
        "history": result.history,
        "affinity": affinity_from_history(result.history, cfg.task_names),
    }
    write_json(paths.history, report)
    keys = ("wall_time_s", "n_params", "best_epoch", "epochs_run", "stop_reason", "device", "resumed_from_epoch")
    return {k: report[k] for k in keys} | {
        "architecture": arch.name,
        "weighting": weighting.name,
        "search_params_applied": applied,
        "best_val_objective": min((r["val_objective"] for r in result.history), default=None),
    }


def _searched(cfg: Config) -> dict[str, list[str]]:
    """The keys a search trial may choose ({section: [keys]}), less `search.fixed`."""
    from mtlops.schema import SEARCHED_KEYS

    keys: dict[str, list[str]] = {}
    for dotted in SEARCHED_KEYS:
        if dotted not in cfg.search.fixed:
            section, key = dotted.split(".")
            keys.setdefault(section, []).append(key)
    return keys


def _reference(cfg: Config, paths: Paths) -> dict[str, float] | None:
    """The single-task models' validation metrics: early stopping judges epochs by Δm against them, as the
    search judged trials (None without them: the first epoch is the reference)."""
    from mtlops.baselines.run import baseline_val_metrics

    if not (cfg.baselines.stl and paths.baselines_metrics.exists()):
        return None
    return baseline_val_metrics(paths) or None


def fingerprint(cfg: Config, paths: Paths) -> str:
    """A short hash of everything the trained weights depend on: config as applied, seed, code version, data."""
    from mtlops import __version__

    digest = hashlib.sha256(json.dumps({
        "config": cfg.section_hash("model", "train"), "seed": cfg.project.seed, "mtlops": __version__,
    }, sort_keys=True).encode())
    for path in (paths.processed_meta, paths.split_arrays("train"), paths.split_arrays("val"), paths.baselines_metrics):
        if path.is_file():
            with path.open("rb") as fh:
                digest.update(hashlib.file_digest(fh, "sha256").digest())
    return digest.hexdigest()[:16]


def checkpoint_folder(cfg: Config, paths: Paths) -> Path:
    """This fingerprint's checkpoint folder; other fingerprints' folders (stale runs) are removed."""
    folder = paths.train_checkpoints / fingerprint(cfg, paths)
    if paths.train_checkpoints.is_dir():
        for other in paths.train_checkpoints.iterdir():
            if other != folder:
                shutil.rmtree(other, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _resumable_epoch(folder: Path) -> int:
    """The last finished epoch of the folder's checkpoint (0: none); an unreadable one is removed."""
    try:
        state = load_training_state(folder)
    except ModelFileError as err:
        print(f"train: starting afresh, the checkpoint cannot be resumed: {err}", file=sys.stderr)
        (folder / LAST).unlink(missing_ok=True)
        return 0
    return int(state["epoch"]) if state else 0
