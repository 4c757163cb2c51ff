"""What a model is, as plain data: enough to rebuild it from a checkpoint with no config at hand."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from mtlops.errors import UserError

TASK_TYPES = ("binary", "multiclass", "regression", "multi_regression")
DEFAULT_LOSS = {"binary": "bce", "multiclass": "ce", "regression": "mse", "multi_regression": "mse"}
ALLOWED_LOSSES = {
    "binary": ("bce",),
    "multiclass": ("ce",),
    "regression": ("mse", "huber", "l1"),
    "multi_regression": ("mse", "huber", "l1"),
}


class ModelSpecError(UserError, ValueError):
    """A model spec names an unknown task type, loss, architecture or input."""


@dataclass
class TaskSpec:
    """One task's head: `dim` values per row (regression/multi_regression), `n_classes` for multiclass."""

    name: str
    type: str
    dim: int = 1
    n_classes: int | None = None
    loss: str | None = None
    pos_weight: float | None = None

    def __post_init__(self) -> None:
        if self.type not in TASK_TYPES:
            raise ModelSpecError(f"task {self.name!r}: unknown type {self.type!r}; allowed: {list(TASK_TYPES)}")
        if self.loss is None:
            self.loss = DEFAULT_LOSS[self.type]
        if self.loss not in ALLOWED_LOSSES[self.type]:
            raise ModelSpecError(
                f"task {self.name!r}: loss {self.loss!r} does not fit type {self.type!r}; "
                f"allowed: {list(ALLOWED_LOSSES[self.type])}"
            )
        if self.type == "multiclass" and (self.n_classes is None or self.n_classes < 2):
            raise ModelSpecError(f"task {self.name!r}: multiclass needs n_classes >= 2, got {self.n_classes}")
        if self.type in ("binary", "regression"):
            self.dim = 1
        if self.dim < 1:
            raise ModelSpecError(f"task {self.name!r}: dim must be >= 1, got {self.dim}")
        if self.pos_weight is not None and self.type != "binary":
            raise ModelSpecError(f"task {self.name!r}: pos_weight is only for binary tasks")

    @property
    def out_features(self) -> int:
        """Width of the head's raw output: 1 logit, K class logits, or `dim` values."""
        return self.n_classes if self.type == "multiclass" else self.dim

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

    @property
    def task_names(self) -> list[str]:
        return [t.name for t in self.tasks]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelSpec:
        return cls(**{**d, "tasks": [TaskSpec(**t) for t in d["tasks"]]})
