"""train: the multi-task model on the processed data, with the search's best params when asked.

Reads `data/processed/`, `reports/baselines.json` (the single-task validation metrics early stopping
measures Δm against) and, when `train.use_search`, `data/models/best_params.json` (a config
overlay; in a DVC experiment, an overlay that would replace a key the experiment set is refused);
writes `data/models/mtl/model.pt` and `reports/history.json` (with the inter-task affinity matrix
when `train.affinity_every` > 0: `mtlops.training.affinity`). Then it chooses, on the validation split,
what serves each task — by default the best blend of its network and its LightGBM, or a single model
that clearly beats it (`mtlops.serving`, `serving` in params.yaml) — and writes that beside the network:
`data/models/mtl/serving.json` plus the baseline files the choice needs (read with
`mtlops.training.served.load_served`).

With `grouping.enabled`, it follows `data/models/grouping.json` (`mtlops.grouping.chosen`): one network
per group of two or more tasks, a task alone keeps its single-task baseline network
(`mtlops.training.groups`). Each epoch ends with a checkpoint in `data/checkpoints/train/<fingerprint>/`,
from which a killed run resumes (`mtlops.training.resume`). With `train.processes` > 1 each group trains
in that many data-parallel processes started by torchrun (`mtlops.training.distributed`); this process
writes the model and history from rank 0's result.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mtlops.baselines.reference import BaselinesMissing, stl_cost, stl_val_reference
from mtlops.grouping.chosen import task_groups
from mtlops.io import atomic_dir, write_json
from mtlops.search.overlay import searched_config
from mtlops.serving.build import serve_best
from mtlops.training import save_model
from mtlops.training.groups import train_groups
from mtlops.training.resume import checkpoint_folder

if TYPE_CHECKING:
    from mtlops.paths import Paths
    from mtlops.schema import Config

RUN_KEYS = ("wall_time_s", "n_params", "best_epoch", "epochs_run", "stop_reason", "device", "resumed_from_epoch")


def run(cfg: Config, paths: Paths) -> dict[str, Any]:
    """Writes data/models/mtl/model.pt and reports/history.json; returns a short summary."""
    cfg, applied = searched_config(cfg, paths)
    folder = checkpoint_folder(cfg, paths)
    groups = task_groups(cfg, paths)
    model, report = train_groups(cfg, paths, groups, folder, train_reference(cfg, paths), _budget(cfg, paths))
    arch, weighting = cfg.model.architecture, cfg.model.weighting
    with atomic_dir(paths.model_dir) as out:  # the network, then what serves each task: one folder swap
        save_model(
            model,
            out / paths.checkpoint.name,
            extra={
                "config_hash": cfg.section_hash("model", "train"),
                "architecture": arch.name,
                "weighting": weighting.name,
                "best_epoch": report["best_epoch"],
            },
        )
        serving = serve_best(cfg, paths, model, out)
    report = {
        **{k: report[k] for k in RUN_KEYS},
        "architecture": {"name": arch.name, "params": dict(arch.params)},
        "weighting": {"name": weighting.name, "params": dict(weighting.params)},
        "train": {**cfg.train.model_dump(mode="json"), "search_params_applied": applied},
        **{k: v for k, v in report.items() if k not in (*RUN_KEYS, "tasks", "source")},
    }
    write_json(paths.history, report)
    return {k: report[k] for k in RUN_KEYS} | {
        "architecture": arch.name,
        "weighting": weighting.name,
        "search_params_applied": applied,
        "groups": groups,
        "served_by": {t: {k: e[k] for k in ("kind", "weight")} for t, e in serving["tasks"].items()},
        "best_val_objective": min((r["val_objective"] for r in report["history"] if "val_objective" in r),
                                  default=None),
    }


def _budget(cfg: Config, paths: Paths):
    """The cost guard: a network for some target tasks may train `train.max_cost_ratio` × their single-task
    networks' parameter-epochs (None: no cap, or no single-task networks to measure against)."""
    ratio = cfg.train.max_cost_ratio
    if ratio is None or not cfg.baselines.stl:
        return None

    def param_epochs(targets: list[str]) -> float | None:
        cost = stl_cost(paths, targets)
        return None if cost is None else ratio * cost["param_epochs"]

    return param_epochs


def train_reference(cfg: Config, paths: Paths) -> dict[str, float] | None:
    """The single-task models' validation metrics: early stopping judges epochs by Δm against them, as the
    search judged trials (None without them: the first epoch is the reference)."""
    if not cfg.baselines.stl:
        return None
    try:
        return stl_val_reference(paths, cfg.target_names) or None
    except BaselinesMissing:
        return None
