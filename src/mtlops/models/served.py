"""The served model: each task answered by the model chosen for it on validation (`mtlops.serving`).

A task is served by one of (simplest first, `KINDS`) the network of its group (`shared`: the multi-task
network, or its single-task network where the task grouping left it alone), its single-task network
(`single_task`), its LightGBM (`gbdt`), or a blend `w × shared + (1 − w) × LightGBM` (`blend`; the task
type combines the two: `TaskType.blend`). `ServedModel` holds those parts and answers in the formats of
`mtlops.training.predict`, which scores it like any network, so evaluation, the packaged pyfunc,
`mtlops predict` and serving never ask what serves a task. Inference only.

LightGBM is imported where a booster is loaded (`mtlops.models.gbdt`): this module imports with torch and
numpy alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from torch import nn

from mtlops.models.gbdt import GbdtModel
from mtlops.models.model import INPUT_KEYS
from mtlops.models.spec import ModelSpecError
from mtlops.task_types import task_type

SHARED, SINGLE_TASK, GBDT, BLEND = "shared", "single_task", "gbdt", "blend"
KINDS = (SHARED, SINGLE_TASK, GBDT, BLEND)  # the candidates, simplest (cheapest to serve) first
GBDT_INPUTS = ("num", "cat")  # LightGBM's features (`mtlops.models.gbdt.gbdt_features`)

NetworkPredict = Callable[[nn.Module], dict[str, np.ndarray]]


@dataclass(frozen=True)
class ServedBy:
    """What serves one task: a kind of `KINDS` and, for a blend, the shared network's weight in (0, 1)."""

    kind: str
    weight: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ModelSpecError(f"served by {self.kind!r}: not one of {list(KINDS)}")
        if (self.kind == BLEND) != (self.weight is not None) or (self.weight is not None and not 0 < self.weight < 1):
            raise ModelSpecError(f"served by {self.kind!r} with weight {self.weight!r}: a blend, and only a blend, "
                                 "has a weight strictly between 0 and 1")

    @property
    def uses_network(self) -> bool:
        return self.kind in (SHARED, BLEND)

    @property
    def uses_gbdt(self) -> bool:
        return self.kind in (GBDT, BLEND)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "weight": self.weight}


class ServedModel(nn.Module):
    """`network` (one network or a composite) plus, per task that needs them, its single-task network and
    its LightGBM; `served_by[task]` says which answers. Outputs come back in the network's task order."""

    network: Any  # a MultiTaskModel or a CompositeModel (`mtlops.models`)
    single_task: nn.ModuleDict

    def __init__(
        self,
        network: nn.Module,
        served_by: Mapping[str, ServedBy],
        single_task: Mapping[str, nn.Module] | None = None,
        gbdt: Mapping[str, GbdtModel] | None = None,
    ) -> None:
        super().__init__()
        self.task_names: list[str] = list(network.served_task_names)  # type: ignore[arg-type]  # auxiliaries aren't served
        single_task, gbdt = dict(single_task or {}), dict(gbdt or {})
        if sorted(served_by) != sorted(self.task_names):
            raise ModelSpecError(f"served model: a choice for tasks {sorted(served_by)}, the network serves "
                                 f"{sorted(self.task_names)}")
        for task, by in served_by.items():
            if by.kind == SINGLE_TASK and task not in single_task:
                raise ModelSpecError(f"served model: task {task!r} is served by its single-task network, "
                                     "which is missing")
            if by.uses_gbdt and task not in gbdt:
                raise ModelSpecError(f"served model: task {task!r} is served by {by.kind}, but has no LightGBM")
        self.network = network
        self.single_task = nn.ModuleDict(single_task)
        self.gbdt = gbdt
        self.served_by = dict(served_by)
        self.extra: dict[str, Any] = {}

    def predict(self, arrays: dict[str, np.ndarray], network_predict: NetworkPredict) -> dict[str, np.ndarray]:
        """Every task's prediction; `network_predict(net)` scores one network on `arrays` (the caller's batching
        and device). A network is run only when some task uses it."""
        by = self.served_by
        shared = network_predict(self.network) if any(b.uses_network for b in by.values()) else {}
        out: dict[str, np.ndarray] = {}
        for task in self.task_names:
            kind = by[task].kind
            if kind == SHARED:
                out[task] = shared[task]
            elif kind == SINGLE_TASK:
                out[task] = network_predict(self.single_task[task])[task]
            else:
                gbdt = self.gbdt[task]
                boosted = gbdt.predict(arrays)
                out[task] = (boosted if kind == GBDT else
                             task_type(gbdt.task_type).blend(shared[task], boosted, float(by[task].weight or 0.0)))
        return out

    @property
    def input_keys(self) -> list[str]:
        """The arrays the parts in use read (LightGBM reads `num` and `cat`)."""
        wanted = set(self.network.input_keys) if any(b.uses_network for b in self.served_by.values()) else set()
        for task, net in self.single_task.items():
            if self.served_by[task].kind == SINGLE_TASK:
                wanted |= set(_any(net).input_keys)
        if any(b.uses_gbdt for b in self.served_by.values()):
            wanted |= set(GBDT_INPUTS)
        return [k for k in INPUT_KEYS if k in wanted]

    @property
    def n_params(self) -> int:
        """The networks' parameters (LightGBM's trees are not counted)."""
        return int(self.network.n_params) + sum(int(_any(m).n_params) for m in self.single_task.values())

    @property
    def device(self):
        return self.network.device


def _any(module: nn.Module) -> Any:
    """A member network as what it is (a `MultiTaskModel`), not the `nn.Module` a ModuleDict types it as."""
    return module
