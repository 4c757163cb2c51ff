"""The example sources: what each column means is checked against the data, not just its shape."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from mtlops.data.sources import digits_boxes, food_reviews
from mtlops.data.sources.digits_boxes import DigitsBoxes
from mtlops.data.sources.food_reviews import FoodReviews
from mtlops.data.sources.r_datasets import RDatasets
from mtlops.errors import DataError


def _cfg(source: str, **options):
    return SimpleNamespace(data=SimpleNamespace(source=source, options=options))


# ------------------------------------------------------------------------------------------ digits_boxes
def test_digit_boxes_enclose_the_ink_tightly():
    df = DigitsBoxes().load(_cfg("digits_boxes", canvas=24, min_size=8, max_size=20, seed=3))
    assert len(df) == 1797 and df["id"].is_unique
    assert set(df["digit"]) == set(range(10))
    side = 24
    for _, row in df.sample(60, random_state=0).iterrows():
        img = np.asarray(row["image"], dtype=np.float32).reshape(side, side)
        x0, y0, x1, y1 = (row[c] * side for c in digits_boxes.BOX)
        assert 0 <= x0 < x1 <= side and 0 <= y0 < y1 <= side
        assert 8 <= row["size"] <= 20 and img.min() >= 0 and img.max() <= 1
        ys, xs = np.nonzero(img > 1e-6)
        # bilinear resampling smears ink by under one canvas pixel; nothing lies further out
        assert xs.min() >= np.floor(x0) - 1 and xs.max() <= np.ceil(x1) and ys.min() >= np.floor(y0) - 1
        assert ys.max() <= np.ceil(y1)
        # and the box is tight: ink reaches (near) each of its edges
        assert xs.min() <= x0 + 1 and xs.max() >= x1 - 2 and ys.min() <= y0 + 1 and ys.max() >= y1 - 2


def test_digit_boxes_are_seeded_and_copies_multiply_rows():
    a = DigitsBoxes().load(_cfg("digits_boxes", seed=1))
    b = DigitsBoxes().load(_cfg("digits_boxes", seed=1))
    c = DigitsBoxes().load(_cfg("digits_boxes", seed=2, copies=2))
    np.testing.assert_array_equal(a[digits_boxes.BOX].to_numpy(), b[digits_boxes.BOX].to_numpy())
    assert len(c) == 2 * len(a)
    assert not np.allclose(a[digits_boxes.BOX].to_numpy(), c[digits_boxes.BOX].to_numpy()[: len(a)])


@pytest.mark.parametrize(
    ("options", "match"),
    [({"canvs": 32}, r"data\.options\.canvs.*unknown key"), ({"max_size": 40}, "does not fit a canvas of 32"),
     ({"min_size": 20, "max_size": 10}, "above max_size"), ({"copies": 0}, r"data\.options\.copies")],
)
def test_digit_boxes_bad_options_name_the_key(options, match):
    with pytest.raises(DataError, match=match):
        DigitsBoxes().options(_cfg("digits_boxes", **options))


# ------------------------------------------------------------------------------------------ food_reviews
def test_food_reviews_labels():
    df = FoodReviews().load(_cfg("food_reviews"))
    assert len(df) == 5000 and df["id"].is_unique
    assert set(df.columns) == FoodReviews().columns(_cfg("food_reviews"))
    assert df["part"].value_counts().to_dict() == {"training": 4000, "testing": 1000}
    assert ((df["score"] == "great") == (df["sentiment"] == 1)).all()
    assert not df["review"].str.contains("<br", regex=False).any()
    assert set(df["topic"]) == set(food_reviews.CLASSES)
    assert (df["topic"] == df["review"].map(food_reviews.topic_of)).all()


def test_topic_rule_counts_keywords_breaks_ties_by_order():
    assert food_reviews.topic_of("Great coffee, better than any tea") == "beverages"
    assert food_reviews.topic_of("my dog and my cat like the chocolate") == "pet_food"  # 2 hits vs 1
    assert food_reviews.topic_of("chocolate in my coffee") == "beverages"  # a tie: the earlier topic
    assert food_reviews.topic_of("K-Cups arrived fast") == "beverages"
    assert food_reviews.topic_of("arrived quickly, well packed") == "other"
    assert food_reviews.topic_of("hotdog") == "other"  # whole words only


def test_food_reviews_takes_no_options():
    with pytest.raises(DataError, match=r"data\.options\.limit"):
        FoodReviews().load(_cfg("food_reviews", limit=10))


# ------------------------------------------------------------------------------------------- rdatasets
def test_rdatasets_reads_a_packaged_frame():
    cfg = _cfg("rdatasets", package="palmerpenguins", item="penguins")
    df = RDatasets().load(cfg)
    assert len(df) == 344 and df["rownames"].is_unique
    assert {"species", "sex", "island", "bill_length_mm"} <= RDatasets().columns(cfg)


@pytest.mark.parametrize(
    ("options", "match"),
    [({"package": "palmerpenguin", "item": "penguins"}, r"data\.options\.package.*'palmerpenguin'.*palmerpenguins"),
     ({"package": "palmerpenguins", "item": "pengiuns"},
      r"data\.options\.item.*available: \['penguins', 'penguins_raw'\]"),
     ({"item": "penguins"}, r"data\.options\.package.*Field required")],
)
def test_rdatasets_wrong_names_say_what_exists(options, match):
    with pytest.raises(DataError, match=match):
        RDatasets().load(_cfg("rdatasets", **options))
