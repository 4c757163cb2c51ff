"""Input encoders: a registry of input kind -> "module:Class", imported only when the data has that input.

`build_encoder(inputs_meta, encoder_cfg)` returns one `Encoder` for all inputs present: the
tabular encoder for `num`/`cat`, plus image and text encoders when the data declares them, their
outputs concatenated.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from mtlops.models.encoders.base import Encoder
from mtlops.models.spec import ModelSpecError

# input kind (a key of meta["inputs"]) -> the encoder class that reads it
ENCODERS: dict[str, str] = {
    "num": "mtlops.models.encoders.tabular:TabularEncoder",
    "cat": "mtlops.models.encoders.tabular:TabularEncoder",
    "image": "mtlops.models.encoders.image:ImageEncoder",
    "text": "mtlops.models.encoders.text:TextEncoder",
}


def encoder_class(target: str) -> type[Encoder]:
    module_name, _, cls_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ModelSpecError(f"encoder {target!r} cannot be imported: {err}") from err
    return getattr(module, cls_name)


class CompositeEncoder(Encoder):
    """The encoders for the inputs present, side by side; `out_dim` is the sum of theirs."""

    parts: Sequence[Encoder]

    def __init__(self, inputs_meta: dict[str, Any], encoder_cfg: dict[str, Any]) -> None:
        super().__init__(inputs_meta, encoder_cfg)
        unknown = sorted(set(inputs_meta) - set(ENCODERS))
        if unknown:
            raise ModelSpecError(f"inputs {unknown} have no encoder; known inputs: {sorted(ENCODERS)}")
        targets = list(dict.fromkeys(ENCODERS[kind] for kind in ENCODERS if kind in inputs_meta))
        parts = [encoder_class(t)(inputs_meta, encoder_cfg) for t in targets]
        self.parts = nn.ModuleList(p for p in parts if p.out_dim > 0)  # type: ignore[assignment]  # torch's ModuleList/ModuleDict are not generic
        if not self.parts:
            raise ModelSpecError(f"the inputs {sorted(inputs_meta)} give no features (all empty)")
        self.out_dim = sum(p.out_dim for p in self.parts)

    def forward(self, batch: dict[str, Tensor]) -> Tensor:
        if len(self.parts) == 1:
            return self.parts[0](batch)
        return torch.cat([p(batch) for p in self.parts], dim=1)

    def last_layer_parameters(self) -> list[nn.Parameter]:
        return [w for p in self.parts for w in p.last_layer_parameters()]


def build_encoder(inputs_meta: dict[str, Any], encoder_cfg: dict[str, Any] | None = None) -> Encoder:
    return CompositeEncoder(inputs_meta, dict(encoder_cfg or {}))


__all__ = ["ENCODERS", "CompositeEncoder", "Encoder", "build_encoder", "encoder_class"]
