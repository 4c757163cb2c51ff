"""The tabular encoder, the composite of the inputs present, and the lazy encoder registry."""

from __future__ import annotations

import pytest
import torch

from mtlops.models.encoders import ENCODERS, CompositeEncoder, build_encoder, encoder_class
from mtlops.models.encoders.tabular import TabularEncoder
from mtlops.models.spec import ModelSpecError


def test_embedding_width_is_capped_by_cardinality():
    enc = TabularEncoder({"num": {"dim": 3}, "cat": {"cardinalities": [2, 50, 8]}}, {"embedding_dim": 8})
    assert [e.embedding_dim for e in enc.embeddings] == [2, 8, 8]
    assert [e.num_embeddings for e in enc.embeddings] == [2, 50, 8]
    assert enc.out_dim == 3 + 2 + 8 + 8
    batch = {"num": torch.randn(5, 3), "cat": torch.tensor([[1, 49, 7]] * 5)}
    out = enc(batch)
    assert out.shape == (5, enc.out_dim)
    torch.testing.assert_close(out[:, :3], batch["num"])  # numeric columns pass through


def test_numeric_only_and_categorical_only_inputs():
    assert build_encoder({"num": {"dim": 4}}, {}).out_dim == 4
    enc = build_encoder({"num": {"dim": 0}, "cat": {"cardinalities": [5]}}, {"embedding_dim": 3})
    assert enc.out_dim == 3
    assert enc({"num": torch.zeros(2, 0), "cat": torch.zeros(2, 1, dtype=torch.long)}).shape == (2, 3)


def test_registry_points_media_inputs_to_their_encoders_lazily():
    assert ENCODERS["image"] == "mtlops.models.encoders.image:ImageEncoder"
    assert ENCODERS["text"] == "mtlops.models.encoders.text:TextEncoder"
    assert encoder_class(ENCODERS["num"]) is TabularEncoder


def test_an_input_without_encoder_or_without_features_fails_clearly():
    with pytest.raises(ModelSpecError, match="audio"):
        CompositeEncoder({"num": {"dim": 2}, "audio": {}}, {})
    with pytest.raises(ModelSpecError, match="no features"):
        build_encoder({"num": {"dim": 0}}, {})
    with pytest.raises(ModelSpecError, match="cannot be imported"):
        encoder_class("mtlops.models.encoders.nothing_here:Nope")
