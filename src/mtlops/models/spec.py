"""What a model is, as plain data: enough to rebuild it from a checkpoint with no config at hand."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from mtlops.errors import UserError
from mtlops.task_types import task_type


class ModelSpecError(UserError, ValueError):
    """A model spec names an unknown task type, loss, architecture or input."""


@dataclass
class TaskSpec:
    """One task's head: its type (`mtlops.task_types`), `dim` values per row, `n_classes` for class labels.

    `loss_weight` scales the task's loss in training; an `auxiliary` task trains (its head and the trunk
    learn from its labels) but the model never predicts it (`MultiTaskModel.served_task_names`).
    """

    name: str
    type: str
    dim: int = 1
    n_classes: int | None = None
    loss: str | None = None
    pos_weight: float | None = None
    loss_weight: float = 1.0
    auxiliary: bool = False

    def __post_init__(self) -> None:
        try:
            kind = task_type(self.type)
            self.loss = kind.loss_for(self.loss)
        except ValueError as err:  # an unknown type, or a loss the type does not know
            raise ModelSpecError(f"task {self.name!r}: {err}") from None
        problem = kind.spec_problem(self)
        if problem:
            raise ModelSpecError(f"task {self.name!r}: {problem}")
        if not kind.vector:
            self.dim = 1
        if self.dim < 1:
            raise ModelSpecError(f"task {self.name!r}: dim must be >= 1, got {self.dim}")
        if not self.loss_weight >= 0:
            raise ModelSpecError(f"task {self.name!r}: loss_weight must be >= 0, got {self.loss_weight}")

    @property
    def out_features(self) -> int:
        """Width of the head's raw output: 1 logit, K class logits, or `dim` values."""
        return task_type(self.type).out_features(self)

    @classmethod
    def from_meta(cls, name: str, meta_task: dict[str, Any]) -> TaskSpec:
        """From one entry of meta.json["tasks"] (the prepare stage's contract)."""
        return cls(
            name=name,
            type=meta_task["type"],
            dim=int(meta_task.get("dim") or 1),
            n_classes=meta_task.get("n_classes"),
            loss=meta_task.get("loss"),
            pos_weight=meta_task.get("pos_weight"),
        )


@dataclass
class ModelSpec:
    """Inputs (meta.json["inputs"]), tasks, the sharing architecture with its params, encoder options."""

    inputs: dict[str, Any]
    tasks: list[TaskSpec]
    architecture: str = "hard"
    arch_params: dict[str, Any] = field(default_factory=dict)
    encoder: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.tasks = [t if isinstance(t, TaskSpec) else TaskSpec(**t) for t in self.tasks]
        if not self.tasks:
            raise ModelSpecError("a model needs at least one task")
        names = [t.name for t in self.tasks]
        if len(set(names)) != len(names):
            raise ModelSpecError(f"task names must be unique, got {names}")
        if all(t.auxiliary for t in self.tasks):
            raise ModelSpecError(f"a model needs a task it serves; every task is auxiliary: {names}")

    @property
    def task_names(self) -> list[str]:
        return [t.name for t in self.tasks]

    @property
    def served_task_names(self) -> list[str]:
        """The tasks the model predicts: all but the auxiliary ones."""
        return [t.name for t in self.tasks if not t.auxiliary]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelSpec:
        return cls(**{**d, "tasks": [TaskSpec(**t) for t in d["tasks"]]})
