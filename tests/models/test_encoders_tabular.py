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


# ------------------------------------------------------------------------------- numeric embeddings
def _num_meta(kind: str = "piecewise_linear") -> dict:
    """Three numeric columns: 0 and 1 embedded (with bins for piecewise_linear), 2 a missing indicator."""
    meta = {"dim": 3, "columns": ["a", "b", "a_missing"], "embedding": kind, "embedded": [0, 1]}
    if kind == "piecewise_linear":
        meta["bins"] = [[-1.0, 0.0, 0.5, 2.0], [-3.0, 0.0, 3.0]]
    return meta


def test_piecewise_linear_embeds_binned_columns_and_passes_the_rest_through():
    enc = TabularEncoder({"num": _num_meta(), "cat": {"cardinalities": [4]}},
                         {"numeric": "piecewise_linear", "numeric_dim": 5, "embedding_dim": 8})
    assert enc.out_dim == 2 * 5 + 1 + 4
    x = torch.tensor([[0.2, 1.0, 1.0], [-0.3, -2.0, 0.0]])
    out = enc({"num": x, "cat": torch.tensor([[1], [3]])})
    assert out.shape == (2, enc.out_dim) and torch.isfinite(out).all()
    torch.testing.assert_close(out[:, 10], x[:, 2])  # the indicator as it is


def test_values_outside_the_training_range_are_clamped_to_its_edges():
    enc = TabularEncoder({"num": _num_meta()}, {"numeric": "piecewise_linear", "numeric_dim": 4})
    inside = enc({"num": torch.tensor([[2.0, -3.0, 0.0]])})
    beyond = enc({"num": torch.tensor([[9.0, -30.0, 0.0]])})
    torch.testing.assert_close(beyond, inside)


def test_periodic_embeds_without_bins():
    enc = TabularEncoder({"num": _num_meta("periodic")}, {"numeric": "periodic", "numeric_dim": 6, "frequencies": 8})
    assert enc.out_dim == 2 * 6 + 1
    assert enc({"num": torch.randn(4, 3)}).shape == (4, 13)


def test_embedding_needs_data_prepared_for_it():
    standard = {"dim": 3, "columns": ["a", "b", "a_missing"]}
    with pytest.raises(ModelSpecError, match=r"prepared for 'standard'.*rerun `mtlops prepare`"):
        TabularEncoder({"num": standard}, {"numeric": "piecewise_linear"})
    with pytest.raises(ModelSpecError, match="prepared for 'periodic'"):
        TabularEncoder({"num": _num_meta("periodic")}, {"numeric": "piecewise_linear"})


def test_nothing_to_embed_leaves_the_scaled_values():
    """Every numeric column constant in training: prepare embeds none, and the model trains on what there is."""
    meta = {"dim": 2, "columns": ["k", "k_missing"], "embedding": "piecewise_linear", "embedded": []}
    enc = TabularEncoder({"num": meta, "cat": {"cardinalities": [3]}}, {"numeric": "piecewise_linear"})
    assert enc.numeric is None and enc.out_dim == 2 + 3


def test_categorical_width_by_cardinality():
    enc = TabularEncoder({"num": {"dim": 0}, "cat": {"cardinalities": [2, 4, 17, 97, 5000]}},
                         {"categorical_width": "cardinality", "embedding_dim": 16})
    assert [e.embedding_dim for e in enc.embeddings] == [2, 3, 8, 16, 16]


def test_a_constant_numeric_column_trains_with_embeddings():
    """prepare's fallback end to end: the constant column passes through, gradients stay finite."""
    import numpy as np
    import pandas as pd

    from mtlops.data.preprocess import Preprocessor
    from mtlops.schema import Config

    cfg = Config.model_validate({
        "data": {"source": "synthetic"}, "features": {"numeric": ["x", "k"]},
        "tasks": [{"name": "y", "column": "y", "type": "regression", "metric": "mae"}],
        "model": {"encoder": {"numeric": "piecewise_linear", "n_bins": 4, "numeric_dim": 3}},
    })
    train = pd.DataFrame({"x": np.linspace(0, 1, 50), "k": 2.0, "y": np.linspace(0, 1, 50)})
    with pytest.warns(UserWarning, match="'k'"):
        pre = Preprocessor.fit(train, cfg)
    enc = TabularEncoder(pre.inputs_meta(), cfg.model.encoder.model_dump())
    out = enc({"num": torch.from_numpy(pre.transform(train)["num"])})
    assert out.shape == (50, 3 + 1)  # x embedded (3 wide), k as it is
    out.pow(2).mean().backward()
    assert all(torch.isfinite(p.grad).all() for p in enc.parameters() if p.grad is not None)
