"""Model files and resumable training checkpoints (plain dicts of tensors: `torch.load(weights_only=True)`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from mtlops.errors import UserError
from mtlops.io import write_with
from mtlops.models import ModelSpec, MultiTaskModel, build_model

FORMAT = 1
LAST = "last.pt"


class ModelFileError(UserError, ValueError):
    """A model or checkpoint file is missing or not one mtlops wrote."""


def save_model(model: MultiTaskModel, path: str | Path, extra: dict[str, Any] | None = None) -> None:
    """Write the model's spec and weights (atomically); `load_model` rebuilds it with no config."""
    payload = {
        "format": FORMAT,
        "spec": model.spec.to_dict(),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "extra": extra or {},
    }
    write_with(path, lambda tmp: torch.save(payload, tmp))


def read_model_file(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise ModelFileError(f"{path}: model file not found (run the train stage first)")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a truncated or foreign file
        raise ModelFileError(f"{path}: not a readable mtlops model file: {err}") from None
    if not isinstance(payload, dict) or "spec" not in payload or "state_dict" not in payload:
        raise ModelFileError(f"{path}: not an mtlops model file (no spec/state_dict)")
    return payload


def load_model(path: str | Path) -> MultiTaskModel:
    """The model saved at `path`, on the CPU, in eval mode; its `extra` dict is at `model.extra`."""
    payload = read_model_file(path)
    model = build_model(ModelSpec.from_dict(payload["spec"]))
    model.load_state_dict(payload["state_dict"])
    model.extra = payload.get("extra", {})
    return model.eval()


# what a checkpoint must hold to resume ("settings" is saved too, as a record of the run)
TRAINING_STATE_KEYS = ("epoch", "model", "optimizer", "weighting", "scaler", "rng", "history", "best", "elapsed",
                       "stop_reason")


def save_training_state(directory: str | Path, state: dict[str, Any]) -> Path:
    path = Path(directory) / LAST
    write_with(path, lambda tmp: torch.save({"format": FORMAT, **state}, tmp))
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
