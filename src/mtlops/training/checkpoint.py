"""Model files and resumable training checkpoints (plain dicts of tensors: `torch.load(weights_only=True)`).

A model file holds one network (`spec`, `state_dict`) or, when the task grouping split the tasks, a
composite (`kind: "composite"`, `groups`: one spec and state per network, `task_order`); `load_model`
reads both, so a file written before grouping existed loads as it did.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from mtlops.errors import UserError
from mtlops.io import write_with
from mtlops.models import ModelSpec, MultiTaskModel, build_model
from mtlops.models.composite import CompositeModel

FORMAT = 1
LAST = "last.pt"
COMPOSITE = "composite"


class ModelFileError(UserError, ValueError):
    """A model or checkpoint file is missing or not one mtlops wrote."""


def _network(model: MultiTaskModel) -> dict[str, Any]:
    return {"spec": model.spec.to_dict(), "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}}


def _torch_save(obj: Any, tmp: Path) -> None:
    """torch.save through a file handle: the archive's inner folder is then "archive", not the temporary file's
    random name, so the same weights make the same bytes (DVC and a byte comparison see no change)."""
    with open(tmp, "wb") as fh:
        torch.save(obj, fh)


def save_model(model: MultiTaskModel | CompositeModel, path: str | Path, extra: dict[str, Any] | None = None) -> None:
    """Write the model's spec(s) and weights (atomically); `load_model` rebuilds it with no config.

    A composite with one member is written as that member: one network is one network however it was made.
    """
    if isinstance(model, CompositeModel) and len(model.members) == 1:
        model = model.members[0]
    if isinstance(model, CompositeModel):
        body = {"kind": COMPOSITE, "task_order": list(model.task_names),
                "groups": [{"tasks": list(m.task_names), **_network(m), "extra": dict(getattr(m, "extra", {}))}
                           for m in model.members]}
    else:
        body = _network(model)
    write_with(path, lambda tmp: _torch_save({"format": FORMAT, **body, "extra": extra or {}}, tmp))


def read_model_file(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise ModelFileError(f"{path}: model file not found (run the train stage first)")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a truncated or foreign file
        raise ModelFileError(f"{path}: not a readable mtlops model file: {err}") from None
    if not isinstance(payload, dict):
        raise ModelFileError(f"{path}: not an mtlops model file (no spec/state_dict)")
    if payload.get("kind") == COMPOSITE:
        if not payload.get("groups") or any("spec" not in g or "state_dict" not in g for g in payload["groups"]):
            raise ModelFileError(f"{path}: a composite model file without its groups' spec/state_dict")
    elif "spec" not in payload or "state_dict" not in payload:
        raise ModelFileError(f"{path}: not an mtlops model file (no spec/state_dict)")
    return payload


def _build(entry: dict[str, Any]) -> MultiTaskModel:
    model = build_model(ModelSpec.from_dict(entry["spec"]))
    model.load_state_dict(entry["state_dict"])
    model.extra = entry.get("extra", {})
    return model.eval()


def load_model(path: str | Path) -> MultiTaskModel | CompositeModel:
    """The model saved at `path`, on the CPU, in eval mode; its `extra` dict is at `model.extra`."""
    payload = read_model_file(path)
    if payload.get("kind") != COMPOSITE:
        return _build(payload)
    model = CompositeModel([_build(g) for g in payload["groups"]], payload["task_order"])
    model.extra = payload.get("extra", {})
    return model.eval()


# what a checkpoint must hold to resume ("settings" is saved too, as a record of the run)
TRAINING_STATE_KEYS = ("epoch", "model", "optimizer", "weighting", "scaler", "rng", "history", "best", "elapsed",
                       "stop_reason")


def save_training_state(directory: str | Path, state: dict[str, Any]) -> Path:
    path = Path(directory) / LAST
    write_with(path, lambda tmp: _torch_save({"format": FORMAT, **state}, tmp))
    return path


def load_training_state(directory: str | Path) -> dict[str, Any] | None:
    """The checkpoint in `directory` (None when there is none); one this version cannot resume is refused."""
    path = Path(directory) / LAST
    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ModelFileError(f"{path}: training checkpoint is not readable: {err}") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise ModelFileError(f"{path}: not a training checkpoint of format {FORMAT} (found {found!r}); "
                             "delete it to train from scratch")
    missing = [k for k in TRAINING_STATE_KEYS if k not in state]
    if missing:
        raise ModelFileError(f"{path}: training checkpoint lacks {missing}; delete it to train from scratch")
    return state
