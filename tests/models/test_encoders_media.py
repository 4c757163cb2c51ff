"""Image and text encoders: shapes, gradients, label masks through a full model, padding invariance."""

from __future__ import annotations

import pytest
import torch

from mtlops.models import ModelSpec, ModelSpecError, TaskSpec, build_model
from mtlops.models.encoders.image import ImageEncoder
from mtlops.models.encoders.text import TextEncoder

TABULAR_EMPTY = {"num": {"dim": 0, "columns": []}, "cat": {"cardinalities": [], "columns": []}}


def _texts(lengths: list[int], max_len: int, vocab: int = 50, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, vocab, (len(lengths), max_len), generator=g)
    lens = torch.tensor(lengths)
    ids[torch.arange(max_len)[None, :] >= lens[:, None]] = 0
    return {"text": ids, "text_len": lens}


# --------------------------------------------------------------------------------------------- image
def test_image_encoder_shape_and_gradients():
    torch.manual_seed(0)
    enc = ImageEncoder({"image": {"shape": [1, 32, 24]}}, {"image_channels": [4, 8, 16]})
    assert enc.out_dim == 16 * 4 * 3  # three halvings: 32x24 -> 4x3, flattened (position kept)
    x = torch.randn(5, 1, 32, 24, requires_grad=True)
    out = enc({"image": x})
    assert out.shape == (5, enc.out_dim)
    out.square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in enc.parameters())
    assert x.grad is not None


def test_image_encoder_keeps_position():
    """The same blob in two places must encode differently (a box head needs where, not only what)."""
    enc = ImageEncoder({"image": {"shape": [1, 16, 16]}}, {"image_channels": [4, 4]})
    a, b = torch.zeros(1, 1, 16, 16), torch.zeros(1, 1, 16, 16)
    a[..., 1:4, 1:4], b[..., 10:13, 10:13] = 1.0, 1.0
    assert not torch.allclose(enc({"image": a}), enc({"image": b}))


def test_image_encoder_too_many_layers_names_the_key():
    with pytest.raises(ModelSpecError, match="image_channels"):
        ImageEncoder({"image": {"shape": [1, 8, 8]}}, {"image_channels": [4, 4, 4, 4]})
    with pytest.raises(ModelSpecError, match="image_channels"):
        ImageEncoder({"image": {"shape": [1, 8, 8]}}, {"image_channels": []})


def test_image_model_with_label_masks_trains_only_on_labelled_rows():
    """digit (multiclass) + box (multi_regression, 4) on a shared CNN: masked rows add no loss."""
    torch.manual_seed(0)
    spec = ModelSpec(
        inputs={**TABULAR_EMPTY, "image": {"shape": [1, 16, 16]}},
        tasks=[TaskSpec("digit", "multiclass", n_classes=10), TaskSpec("box", "multi_regression", dim=4)],
        architecture="hard",
        arch_params={"width": 16, "depth": 1, "tower_depth": 0},
        encoder={"image_channels": [4, 8]},
    )
    model = build_model(spec)
    n = 6
    batch = {
        "image": torch.randn(n, 1, 16, 16),
        "y_digit": torch.randint(0, 10, (n,)),
        "mask_digit": torch.tensor([True, True, True, False, False, True]),
        "y_box": torch.rand(n, 4),
        "mask_box": torch.tensor([True, False, True, True, True, True]),
    }
    losses = model.losses(model(batch), batch)
    sum(losses.values()).backward()
    assert all(torch.isfinite(v) for v in losses.values())
    assert all(p.grad is not None for p in model.encoder.parameters())

    changed = {**batch, "y_digit": batch["y_digit"].clone(), "y_box": batch["y_box"].clone()}
    changed["y_digit"][~batch["mask_digit"]] = (changed["y_digit"][~batch["mask_digit"]] + 3) % 10
    changed["y_box"][~batch["mask_box"]] += 5.0
    with torch.no_grad():
        again = model.losses(model(changed), changed)
    for t in losses:
        assert torch.allclose(again[t], losses[t].detach()), t


# ---------------------------------------------------------------------------------------------- text
@pytest.mark.parametrize("bidirectional", [True, False])
def test_text_encoder_shape_and_gradients(bidirectional: bool):
    torch.manual_seed(0)
    cfg = {"text_embedding_dim": 8, "text_hidden": 6, "text_bidirectional": bidirectional}
    enc = TextEncoder({"text": {"vocab_size": 50, "max_len": 7}}, cfg)
    assert enc.out_dim == 6 * (2 if bidirectional else 1)
    batch = _texts([7, 3, 1, 5], max_len=7)
    out = enc(batch)
    assert out.shape == (4, enc.out_dim)
    out.square().mean().backward()
    assert enc.embedding.weight.grad[0].abs().sum() == 0  # the padding row never learns
    assert all(p.grad is not None for p in enc.lstm.parameters())


def test_text_encoding_ignores_padding():
    """Appending padding, or changing what sits past a row's length, leaves its encoding unchanged."""
    torch.manual_seed(0)
    enc = TextEncoder(
        {"text": {"vocab_size": 50, "max_len": 6}}, {"text_embedding_dim": 8, "text_hidden": 5, "text_dropout": 0.3}
    )
    enc.eval()  # dropout off: an encoding is a function of the tokens
    batch = _texts([6, 2, 4, 1], max_len=6)
    with torch.no_grad():
        base = enc(batch)
        padded = enc({"text": torch.cat([batch["text"], torch.zeros(4, 9, dtype=torch.int64)], 1),
                      "text_len": batch["text_len"]})
        junk = batch["text"].clone()
        junk[torch.arange(6)[None, :] >= batch["text_len"][:, None]] = 7
        past_length = enc({"text": junk, "text_len": batch["text_len"]})
        alone = enc({"text": batch["text"][1:2, :2], "text_len": batch["text_len"][1:2]})
    torch.testing.assert_close(padded, base)
    torch.testing.assert_close(past_length, base)
    torch.testing.assert_close(alone, base[1:2])  # a row's encoding does not depend on its batch
    # ...while the tokens inside the length do matter
    inside = batch["text"].clone()
    inside[0, 0] = (inside[0, 0] % 48) + 2
    with torch.no_grad():
        assert not torch.allclose(enc({"text": inside, "text_len": batch["text_len"]})[0], base[0])


def test_text_model_with_label_masks():
    """sentiment (binary) + topic (multiclass) on a shared LSTM: forward, masked losses, backward."""
    torch.manual_seed(0)
    spec = ModelSpec(
        inputs={**TABULAR_EMPTY, "text": {"vocab_size": 40, "max_len": 9}},
        tasks=[TaskSpec("sentiment", "binary"), TaskSpec("topic", "multiclass", n_classes=5)],
        arch_params={"width": 8, "depth": 1, "tower_depth": 0},
        encoder={"text_embedding_dim": 8, "text_hidden": 8},
    )
    model = build_model(spec)
    batch = {
        **_texts([9, 4, 1, 6, 2], max_len=9, vocab=40),
        "y_sentiment": torch.tensor([1.0, 0.0, 1.0, 1.0, 0.0]),
        "mask_sentiment": torch.tensor([True, True, False, True, True]),
        "y_topic": torch.tensor([0, 4, 2, 1, 3]),
        "mask_topic": torch.tensor([False, True, True, True, True]),
    }
    outputs = model(batch)
    assert outputs["sentiment"].shape == (5,) and outputs["topic"].shape == (5, 5)
    losses = model.losses(outputs, batch)
    sum(losses.values()).backward()
    assert model.encoder.parts[0].lstm.weight_ih_l0.grad.abs().sum() > 0
    probs = model.predict_outputs(outputs)
    assert torch.all((probs["sentiment"] >= 0) & (probs["sentiment"] <= 1))
    torch.testing.assert_close(probs["topic"].sum(1), torch.ones(5))
