"""The multi-task modeling core: encoders, sharing architectures and the model (torch + numpy only).

Each task's head comes from its task type (`mtlops.task_types`) by the `heads.HEADS` table.
"""

from mtlops.models.composite import CompositeModel
from mtlops.models.model import Cut, MultiTaskModel, build_model
from mtlops.models.spec import ModelSpec, ModelSpecError, TaskSpec

__all__ = ["CompositeModel", "Cut", "ModelSpec", "ModelSpecError", "MultiTaskModel", "TaskSpec", "build_model"]
