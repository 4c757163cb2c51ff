"""Numeric embeddings: each numeric column becomes a learned vector instead of one scaled number.

Gorishniy, Rubachev & Babenko, "On Embeddings for Numerical Features in Tabular Deep Learning"
(NeurIPS 2022), through their library `rtdl_num_embeddings` (torch only, imported here on first use,
so the encoders package still imports with torch + numpy alone):

- `piecewise_linear`: the value's position within bins fitted by `prepare` on the training split
  (version "B": a linear embedding plus the piecewise-linear part, which starts at zero), so the
  network starts from "linear in x" and learns the non-linear shape per column. Values are clamped to
  the training range first: a month or a temperature never seen in training is not extrapolated.
- `periodic`: sin/cos of learned frequencies, then a linear layer and ReLU per column (PLR).

Which columns are embedded is decided by `prepare` (`meta["inputs"]["num"]["embedded"]`: numeric
feature columns with at least two distinct training values); the others (missing indicators,
constant columns) pass through unchanged.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from mtlops.models.spec import ModelSpecError

KINDS = ("standard", "piecewise_linear", "periodic")


def _library() -> Any:
    try:
        import rtdl_num_embeddings
    except ImportError as err:
        raise ModelSpecError(
            f"model.encoder.numeric needs the package rtdl_num_embeddings ({err}); "
            "install mtlops with its dependencies, or set model.encoder.numeric: standard"
        ) from None
    return rtdl_num_embeddings


def numeric_embedding(num_meta: dict[str, Any], encoder_cfg: dict[str, Any]) -> NumericEmbedding | None:
    """The embedding `encoder_cfg["numeric"]` asks for, or None (`standard`, or no column to embed).

    The data must have been prepared for the same kind: bins and the embedded columns come from there.
    """
    kind = encoder_cfg.get("numeric", "standard")
    if kind not in KINDS:
        raise ModelSpecError(f"model.encoder.numeric: {kind!r}; allowed: {list(KINDS)}")
    if kind == "standard" or not int(num_meta.get("dim", 0) or 0):
        return None
    prepared = num_meta.get("embedding", "standard")
    if prepared != kind:
        raise ModelSpecError(
            f"model.encoder.numeric is {kind!r} but the processed data was prepared for {prepared!r} "
            "(bins and embedded columns are fitted there): rerun `mtlops prepare` with this params file"
        )
    return NumericEmbedding(num_meta, encoder_cfg) if num_meta.get("embedded") else None


class NumericEmbedding(nn.Module):
    """[B, Dn] -> [B, out_dim]: the embedded columns' vectors (flattened), then the other columns as they are."""

    low: Tensor | None
    high: Tensor | None
    embedded: Tensor
    rest: Tensor

    def __init__(self, num_meta: dict[str, Any], encoder_cfg: dict[str, Any]) -> None:
        super().__init__()
        kind = encoder_cfg["numeric"]
        embedded = [int(j) for j in num_meta["embedded"]]
        rest = [j for j in range(int(num_meta["dim"])) if j not in set(embedded)]
        d = int(encoder_cfg.get("numeric_dim", 16))
        rne = _library()
        if kind == "piecewise_linear":
            edges = num_meta.get("bins") or []
            if len(edges) != len(embedded):
                raise ModelSpecError(
                    f"the processed data has bins for {len(edges)} of its {len(embedded)} embedded numeric columns: "
                    "rerun `mtlops prepare`"
                )
            bins = [torch.tensor(e, dtype=torch.float32) for e in edges]
            self.module = rne.PiecewiseLinearEmbeddings(bins, d, activation=False, version="B")
            self.register_buffer("low", torch.stack([b[0] for b in bins]), persistent=False)
            self.register_buffer("high", torch.stack([b[-1] for b in bins]), persistent=False)
        else:
            self.module = rne.PeriodicEmbeddings(
                len(embedded), d, n_frequencies=int(encoder_cfg.get("frequencies", 48)),
                frequency_init_scale=float(encoder_cfg.get("frequency_scale", 0.1)), lite=False,
            )
            self.low = self.high = None
        self.register_buffer("embedded", torch.tensor(embedded, dtype=torch.long), persistent=False)
        self.register_buffer("rest", torch.tensor(rest, dtype=torch.long), persistent=False)
        self.out_dim = len(embedded) * d + len(rest)

    def forward(self, x: Tensor) -> Tensor:
        values = x.index_select(1, self.embedded)
        if self.low is not None and self.high is not None:
            values = torch.maximum(torch.minimum(values, self.high), self.low)
        parts = [self.module(values).flatten(1)]
        if len(self.rest):
            parts.append(x.index_select(1, self.rest))
        return torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]


def categorical_width(cardinality: int, encoder_cfg: dict[str, Any]) -> int:
    """An embedding table's width: `fixed` min(embedding_dim, card); `cardinality`
    min(embedding_dim, round(1.6·card^0.56)).

    The power rule (fastai's heuristic) gives a 4-valued column 3 dimensions and a 100-valued one 21,
    so wide tables go where there is something to learn; both are capped by `embedding_dim`.
    """
    cap = int(encoder_cfg.get("embedding_dim", 8))
    if encoder_cfg.get("categorical_width", "fixed") == "cardinality":
        return max(1, min(cap, round(1.6 * cardinality**0.56)))
    return min(cap, cardinality)
