"""The multi-task modeling core: encoders, sharing architectures and the model (torch + numpy only).

Each task's head and loss come from its task type (`mtlops.task_types`).
"""

from mtlops.models.composite import CompositeModel
from mtlops.models.model import Cut, MultiTaskModel, build_model
from mtlops.models.spec import ModelSpec, ModelSpecError, TaskSpec

__all__ = ["CompositeModel", "Cut", "ModelSpec", "ModelSpecError", "MultiTaskModel", "TaskSpec", "build_model"]
