"""The encoder interface: one module per input kind turns a batch into a flat feature vector."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn


class Encoder(nn.Module):
    """Base class of every input encoder.

    Interface (every encoder, including those written outside this package):

    - ``__init__(inputs_meta: dict, encoder_cfg: dict)``: ``inputs_meta`` is the whole
      ``meta.json["inputs"]`` (an encoder picks out its own entry: ``"num"``/``"cat"`` for tabular,
      ``"text"`` -> ``{"vocab_size", "max_len"}``, ``"image"`` -> ``{"shape": [C, H, W]}``);
      ``encoder_cfg`` is ``params.yaml``'s ``model.encoder`` as a plain dict (read keys with
      ``.get`` and a default: the dict may be empty).
    - ``out_dim: int``: the width of the vector ``forward`` returns (set it in ``__init__``).
    - ``forward(batch: dict[str, Tensor]) -> Tensor [B, out_dim]``: ``batch`` holds the processed
      arrays as tensors: ``batch["num"]`` float [B, Dn], ``batch["cat"]`` int64 [B, Dc],
      ``batch["text"]`` int64 [B, L] with ``batch["text_len"]`` int64 [B],
      ``batch["image"]`` float [B, C, H, W]. Label keys (``y_*``, ``mask_*``) may be present too.

    An encoder must not move data between devices or assume one: it runs where its parameters are.
    """

    out_dim: int = 0

    def __init__(self, inputs_meta: dict[str, Any], encoder_cfg: dict[str, Any]) -> None:
        super().__init__()
        self.inputs_meta = inputs_meta
        self.encoder_cfg = encoder_cfg

    def forward(self, batch: dict[str, Tensor]) -> Tensor:  # pragma: no cover - interface
        raise NotImplementedError

    def last_layer_parameters(self) -> list[nn.Parameter]:
        """The weights of the last layer (GradNorm's reference when the architecture shares nothing)."""
        with_weight = [m for m in self.modules() if isinstance(getattr(m, "weight", None), nn.Parameter)]
        return [with_weight[-1].weight] if with_weight else []  # type: ignore[list-item]  # a Parameter: filtered above
