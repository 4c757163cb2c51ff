"""Several multi-task networks behind one model: each task is served by the network of its group.

The task grouping (`mtlops.grouping`) may split the tasks into groups that share a trunk within, but
not across, groups (a group of one task is that task's single-task network). `CompositeModel` has
the interface `mtlops.training.predict` and the packaged pyfunc use (`model(batch)`,
`predict_outputs`, `task_names`, `input_keys`, `device`), so predicting, serving and evaluating do
not ask how many networks there are. It is for inference: each member was trained on its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from torch import Tensor, nn

from mtlops.models.model import INPUT_KEYS, MultiTaskModel
from mtlops.models.spec import ModelSpecError


class CompositeModel(nn.Module):
    """`members[i]` serves the tasks `members[i].served_task_names`; outputs come back in `task_order`.

    A member may carry auxiliary heads (trained with it, never served): they are left out."""

    members: Sequence[MultiTaskModel]

    def __init__(self, members: Sequence[MultiTaskModel], task_order: Sequence[str]) -> None:
        super().__init__()
        served = [t for m in members for t in m.served_task_names]
        if sorted(served) != sorted(task_order) or len(set(served)) != len(served):
            raise ModelSpecError(f"composite: the members' tasks {served} must be the tasks {list(task_order)}, "
                                 "each served once")
        self.members = nn.ModuleList(members)  # type: ignore[assignment]  # torch's ModuleList/ModuleDict are not generic
        self.task_names = list(task_order)
        self.served_task_names = self.task_names
        self.extra: dict = {}

    @property
    def networks(self) -> list[MultiTaskModel]:
        """The members as networks (`self.members` registers them as submodules)."""
        return cast(list[MultiTaskModel], list(self.members))

    @property
    def groups(self) -> list[list[str]]:
        """The tasks each member serves, in member order."""
        return [list(m.served_task_names) for m in self.networks]

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        outputs = {t: out for m in self.networks for t, out in m(batch).items() if t in m.served_task_names}
        return {t: outputs[t] for t in self.task_names}

    def predict_outputs(self, outputs: dict[str, Tensor]) -> dict[str, Tensor]:
        preds = {t: p for m in self.networks
                 for t, p in m.predict_outputs({t: outputs[t] for t in m.served_task_names}).items()}
        return {t: preds[t] for t in self.task_names}

    @property
    def input_keys(self) -> list[str]:
        wanted = {k for m in self.members for k in m.input_keys}
        return [k for k in INPUT_KEYS if k in wanted]

    @property
    def n_params(self) -> int:
        return sum(m.n_params for m in self.members)

    @property
    def device(self):
        return self.members[0].device
