"""The served model's folder, `data/models/mtl/` (the train stage's output), read back as one model.

    model.pt          the network(s) the task grouping chose (`mtlops.training.checkpoint`)
    serving.json      per task: what serves it (`kind`, blend `weight`), its type and the files it needs,
                      with the validation figures the choice was made on (`mtlops.serving`)
    stl_<task>.pt     a task's single-task network, for a task served by it
    gbdt_<task>*.txt  a task's LightGBM booster(s), for a task served by LightGBM or a blend

serving.json is written last, so a folder holding it is complete. `load_served` also takes a bare model
file or a folder without serving.json (a model made before serving choices existed): its network then
serves every task, as it did.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mtlops.io import read_json
from mtlops.models.gbdt import GbdtModel
from mtlops.models.served import SHARED, SINGLE_TASK, ServedBy, ServedModel
from mtlops.models.spec import ModelSpecError
from mtlops.training.checkpoint import ModelFileError, load_model

NETWORK = "model.pt"
SERVING = "serving.json"


def served_by(entry: dict[str, Any]) -> ServedBy:
    """A serving.json task entry's choice."""
    return ServedBy(entry["kind"], entry.get("weight"))


def load_served(path: str | Path) -> ServedModel:
    """The served model in folder `path` (or the network in model file `path`, serving every task), on the CPU."""
    path = Path(path)
    folder = path if path.is_dir() else None
    network = load_model(folder / NETWORK if folder else path)
    every_task_shared = {t: ServedBy(SHARED) for t in network.served_task_names}
    if folder is None or not (folder / SERVING).is_file():
        return ServedModel(network, every_task_shared).eval()
    doc = read_json(folder / SERVING, what="serving choice")
    try:
        entries = doc["tasks"]
        choice = {task: served_by(entry) for task, entry in entries.items()}
        single = {t: load_model(folder / e["single_task"]) for t, e in entries.items() if choice[t].kind == SINGLE_TASK}
        gbdt = {t: _gbdt(folder, t, e) for t, e in entries.items() if choice[t].uses_gbdt}
        model = ServedModel(network, choice, single, gbdt)
    except (KeyError, TypeError, ModelSpecError) as err:
        raise ModelFileError(f"{folder / SERVING}: not a serving choice this version reads: {err}") from None
    model.extra = {"serving": {t: choice[t].to_dict() for t in model.task_names}}
    return model.eval()


def _gbdt(folder: Path, task: str, entry: dict[str, Any]) -> GbdtModel:
    info = entry["gbdt"]
    missing = [name for name in info["files"] if not (folder / name).is_file()]
    if missing:
        raise ModelFileError(f"{folder}: LightGBM file(s) {missing} of task {task!r} not found; run `mtlops train`")
    return GbdtModel.load(folder, entry["type"], info)
