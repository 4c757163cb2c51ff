"""Token ids → features: an embedding and a (bi)LSTM whose final hidden states are the encoding.

Sequences are packed with their true lengths (`pack_padded_sequence`), so the LSTM never reads the
padding: the encoding of a review does not depend on how far the batch is padded. Reads
`batch["text"]` int64 [B, L] (0 = pad, 1 = unknown) and `batch["text_len"]` int64 [B] (>= 1).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from mtlops.models.encoders.base import Encoder


class TextEncoder(Encoder):
    """Shared text encoder: vocabulary size from `inputs_meta["text"]`, sizes from the encoder config."""

    def __init__(self, inputs_meta: dict[str, Any], encoder_cfg: dict[str, Any]):
        super().__init__(inputs_meta, encoder_cfg)
        vocab = int(inputs_meta["text"]["vocab_size"])
        emb = int(encoder_cfg.get("text_embedding_dim", 64))
        hidden = int(encoder_cfg.get("text_hidden", 64))
        bidirectional = bool(encoder_cfg.get("text_bidirectional", True))
        self.embedding = nn.Embedding(vocab, emb, padding_idx=0)
        # small corpora: the embedding table is most of the parameters and overfits first
        self.dropout = nn.Dropout(float(encoder_cfg.get("text_dropout", 0.0)))
        self.lstm = nn.LSTM(emb, hidden, batch_first=True, bidirectional=bidirectional)
        self.out_dim = hidden * (2 if bidirectional else 1)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        tokens = batch["text"]
        # pack_padded_sequence wants lengths on the CPU; a length above L would read past the row
        lengths = batch["text_len"].detach().to("cpu", torch.int64).clamp(1, tokens.shape[1])
        packed = pack_padded_sequence(self.dropout(self.embedding(tokens)), lengths, batch_first=True,
                                      enforce_sorted=False)
        _, (h_n, _) = self.lstm(packed)  # h_n: [directions, B, hidden], in the batch's own order
        return torch.cat(list(h_n), dim=1)
