"""train: the multi-task model on the processed data, with the search's best params when asked.

Reads `data/processed/` and, when `train.use_search`, `data/models/best_params.json` (a config
overlay; in a DVC experiment, an overlay that would replace a key the experiment set is refused);
writes `data/models/mtl/model.pt` and `reports/history.json`. The work:
`mtlops.training.from_config.train_from_config` (the loop itself: `mtlops.training.trainer`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mtlops.config import with_overrides
from mtlops.experiment import refuse_hidden_overrides
from mtlops.io import read_json, write_json
from mtlops.training import save_model
from mtlops.training.from_config import train_from_config

if TYPE_CHECKING:
    from mtlops.paths import Paths
    from mtlops.schema import Config


def run(cfg: Config, paths: Paths) -> dict[str, Any]:
    """Writes data/models/mtl/model.pt and reports/history.json; returns a short summary."""
    applied = False
    if cfg.train.use_search and paths.best_params.exists():
        overlay = read_json(paths.best_params, "best params")
        if overlay:
            refuse_hidden_overrides(paths.root / "params.yaml", overlay)
            cfg = with_overrides(cfg, overlay)
            applied = True
    result = train_from_config(cfg, paths)
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
        "architecture": {"name": arch.name, "params": dict(arch.params)},
        "weighting": {"name": weighting.name, "params": dict(weighting.params)},
        "train": {**cfg.train.model_dump(mode="json"), "search_params_applied": applied},
        "history": result.history,
    }
    write_json(paths.history, report)
    return {k: report[k] for k in ("wall_time_s", "n_params", "best_epoch", "epochs_run", "stop_reason", "device")} | {
        "architecture": arch.name,
        "weighting": weighting.name,
        "search_params_applied": applied,
        "best_val_objective": min((r["val_objective"] for r in result.history), default=None),
    }
