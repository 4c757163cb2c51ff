"""The multi-task modeling core: encoders, sharing architectures, task heads and losses (torch + numpy only)."""

from mtlops.models.model import Cut, MultiTaskModel, build_model
from mtlops.models.spec import ModelSpec, ModelSpecError, TaskSpec

__all__ = ["Cut", "ModelSpec", "ModelSpecError", "MultiTaskModel", "TaskSpec", "build_model"]
