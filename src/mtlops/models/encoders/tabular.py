"""Numeric columns (scaled, or embedded per `model.encoder.numeric`) + one embedding table per categorical column."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from mtlops.models.encoders.base import Encoder
from mtlops.models.encoders.numeric import categorical_width, numeric_embedding


class TabularEncoder(Encoder):
    """`num` [B, Dn] (prepare already scaled it) as is or embedded + one embedding per `cat` column.

    `encoder_cfg["numeric"]`: `standard` passes the scaled values through; `piecewise_linear` /
    `periodic` embed them (`numeric.NumericEmbedding`). Column i's categorical table has `cardinalities[i]`
    rows (id 0 is the unknown bucket); its width follows `categorical_width`.
    """

    embeddings: Sequence[nn.Embedding]

    def __init__(self, inputs_meta: dict[str, Any], encoder_cfg: dict[str, Any]) -> None:
        super().__init__(inputs_meta, encoder_cfg)
        num_meta = inputs_meta.get("num") or {}
        self.num_dim = int(num_meta.get("dim", 0) or 0)
        self.numeric = numeric_embedding(num_meta, encoder_cfg)
        cards = [int(c) for c in (inputs_meta.get("cat") or {}).get("cardinalities", [])]
        self.embeddings = nn.ModuleList(nn.Embedding(card, categorical_width(card, encoder_cfg)) for card in cards)  # type: ignore[assignment]  # torch's ModuleList/ModuleDict are not generic
        num_out = self.numeric.out_dim if self.numeric is not None else self.num_dim
        self.out_dim = num_out + sum(e.embedding_dim for e in self.embeddings)

    def forward(self, batch: dict[str, Tensor]) -> Tensor:
        num = batch["num"] if self.numeric is None else self.numeric(batch["num"])
        parts = [num] if self.num_dim else []
        if self.embeddings:
            cat = batch["cat"]
            parts += [emb(cat[:, i]) for i, emb in enumerate(self.embeddings)]
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)

    def last_layer_parameters(self) -> list[nn.Parameter]:
        return [e.weight for e in self.embeddings]  # type: ignore[misc]  # torch types Embedding.weight as Tensor: a Parameter
