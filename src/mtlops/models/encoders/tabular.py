"""Numeric columns pass through; each categorical column gets its own embedding table."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from mtlops.models.encoders.base import Encoder


class TabularEncoder(Encoder):
    """`num` [B, Dn] as is (prepare already scaled it) + one embedding per `cat` column.

    Column i's table has `cardinalities[i]` rows (id 0 is the unknown bucket) and width
    min(embedding_dim, cardinality): a 3-valued column needs no 8-wide vector.
    """

    def __init__(self, inputs_meta: dict[str, Any], encoder_cfg: dict[str, Any]) -> None:
        super().__init__(inputs_meta, encoder_cfg)
        self.num_dim = int((inputs_meta.get("num") or {}).get("dim", 0) or 0)
        cards = [int(c) for c in (inputs_meta.get("cat") or {}).get("cardinalities", [])]
        emb_dim = int(encoder_cfg.get("embedding_dim", 8))
        self.embeddings = nn.ModuleList(nn.Embedding(card, min(emb_dim, card)) for card in cards)
        self.out_dim = self.num_dim + sum(e.embedding_dim for e in self.embeddings)

    def forward(self, batch: dict[str, Tensor]) -> Tensor:
        parts = [batch["num"]] if self.num_dim else []
        if self.embeddings:
            cat = batch["cat"]
            parts += [emb(cat[:, i]) for i, emb in enumerate(self.embeddings)]
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)

    def last_layer_parameters(self) -> list[nn.Parameter]:
        return [e.weight for e in self.embeddings]
