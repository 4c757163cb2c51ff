"""The preprocessor: what each feature kind becomes, JSON round trips, and schema errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mtlops.data.preprocess import Preprocessor, SchemaError
from mtlops.errors import DataError
from mtlops.schema import FeaturesConfig


def _features(**kw) -> FeaturesConfig:
    return FeaturesConfig(**kw)


def test_numeric_impute_scale_and_indicators_from_train():
    train = pd.DataFrame({"a": [1.0, 2.0, np.nan, 5.0], "b": [10, 20, 30, 40], "c": [True, False, True, True]})
    pre = Preprocessor.fit(train, _features(numeric=["a", "b", "c"]))
    assert pre.indicators == ["a"]  # only a had missing values in training
    assert pre.median[0] == 2.0

    out = pre.transform(pd.DataFrame({"a": [np.nan, 2.0], "b": [np.nan, 25], "c": [False, True]}))
    num = out["num"]
    assert num.dtype == np.float32 and num.shape == (2, 4)  # a, b, c, a_missing
    filled_a = np.array([1.0, 2.0, 2.0, 5.0])
    assert num[1, 0] == pytest.approx((2.0 - filled_a.mean()) / filled_a.std(), rel=1e-6)
    assert num[0, 0] == num[1, 0]  # the median fills the gap
    assert num[0, 1] == pytest.approx((25.0 - 25.0) / np.std([10, 20, 30, 40]))  # b imputed, no indicator
    np.testing.assert_array_equal(num[:, 3], [1.0, 0.0])
    assert pre.num_columns == ["a", "b", "c", "a_missing"]
    assert out["cat"].shape == (2, 0) and out["cat"].dtype == np.int64


def test_constant_and_never_seen_numeric_columns_stay_finite():
    train = pd.DataFrame({"k": [3.0, 3.0, 3.0], "gone": [np.nan, np.nan, np.nan]})
    pre = Preprocessor.fit(train, _features(numeric=["k", "gone"]))
    out = pre.transform(pd.DataFrame({"k": [3.0, 4.0], "gone": [1.0, np.inf]}))
    assert np.isfinite(out["num"]).all()


def test_categorical_vocabulary_cap_min_count_unknown_and_missing():
    train = pd.DataFrame({"shop": ["a"] * 5 + ["b"] * 3 + ["c"] * 2 + ["rare"] + [None]})
    pre = Preprocessor.fit(train, _features(categorical=["shop"], max_categories=2, min_category_count=2))
    assert pre.vocab["shop"] == ["a", "b"] and pre.cardinalities == [3]
    out = pre.transform(pd.DataFrame({"shop": ["b", "a", "c", "never seen", None]}))
    np.testing.assert_array_equal(out["cat"][:, 0], [2, 1, 0, 0, 0])


def test_numeric_codes_as_categories_ignore_float_vs_int():
    pre = Preprocessor.fit(pd.DataFrame({"code": [1, 2, 2, 3]}), _features(categorical=["code"]))
    out = pre.transform(pd.DataFrame({"code": [2.0, np.nan, 3.0]}))  # NaN makes the column float
    ids = {code: i + 1 for i, code in enumerate(pre.vocab["code"])}
    np.testing.assert_array_equal(out["cat"][:, 0], [ids["2"], 0, ids["3"]])


def test_text_tokens_vocabulary_padding_and_length():
    train = pd.DataFrame({"review": ["Good food, good price", "bad FOOD", "good", None]})
    pre = Preprocessor.fit(train, _features(text="review", text_max_len=3, text_min_count=2))
    assert pre.text_vocab == ["good", "food"]  # by count, then alphabetically; singletons dropped
    out = pre.transform(pd.DataFrame({"review": ["food is GOOD good", "", None, "Unknown"]}))
    good, food, unk = 2, 3, 1
    np.testing.assert_array_equal(out["text"], [[food, unk, good], [0, 0, 0], [0, 0, 0], [unk, 0, 0]])
    np.testing.assert_array_equal(out["text_len"], [3, 1, 1, 1])
    assert out["text"].dtype == np.int64 and out["text_len"].dtype == np.int64
    assert pre.inputs_meta()["text"]["vocab_size"] == 4 and pre.inputs_meta()["text"]["max_len"] == 3


@pytest.mark.parametrize(
    "cells",
    [
        [np.arange(16.0) + i for i in range(3)],  # flat square
        [(np.arange(16.0) + i).reshape(4, 4).tolist() for i in range(3)],  # HxW nested lists
        [(np.arange(16.0) + i).reshape(1, 4, 4) for i in range(3)],  # CxHxW
    ],
)
def test_image_cells_stack_to_nchw(cells):
    pre = Preprocessor.fit(pd.DataFrame({"img": cells}), _features(image="img"))
    out = pre.transform(pd.DataFrame({"img": cells[:2]}))
    assert out["image"].shape == (2, 1, 4, 4) and out["image"].dtype == np.float32
    assert pre.inputs_meta()["image"]["shape"] == [1, 4, 4]
    # standardised with the training channel statistics
    assert out["image"][0, 0, 0, 1] - out["image"][0, 0, 0, 0] == pytest.approx(1.0 / pre.image_std[0], rel=1e-5)


def test_image_from_parquet_round_trip(tmp_path):
    df = pd.DataFrame({"img": [np.arange(12.0).reshape(3, 2, 2) * i for i in range(1, 4)]})
    df.assign(img=[a.tolist() for a in df["img"]]).to_parquet(tmp_path / "i.parquet")
    back = pd.read_parquet(tmp_path / "i.parquet")
    pre = Preprocessor.fit(back, _features(image="img"))
    assert pre.image_shape == [3, 2, 2] and len(pre.image_mean) == 3
    with pytest.raises(SchemaError, match=r"'img'.*row 1.*shape"):
        pre.transform(pd.DataFrame({"img": [np.zeros((3, 2, 2)), np.zeros((3, 3, 3))]}))


def test_json_round_trip_transforms_the_same(tmp_path):
    train = pd.DataFrame({"a": [1.0, np.nan, 3.0], "s": ["x", "y", "x"], "t": ["hi there", "hi", "there hi"]})
    pre = Preprocessor.fit(train, _features(numeric=["a"], categorical=["s"], text="t", text_min_count=1))
    json.dumps(pre.to_dict())  # JSON-safe
    pre.save(tmp_path / "pre.json")
    back = Preprocessor.load(tmp_path / "pre.json")
    again = Preprocessor.from_dict(json.loads(json.dumps(pre.to_dict())))
    for other in (back, again):
        a, b = pre.transform(train), other.transform(train)
        assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    with pytest.raises(DataError, match="not found"):
        Preprocessor.load(tmp_path / "absent.json")


def test_schema_errors_name_the_column():
    train = pd.DataFrame({"a": [1.0, 2.0], "s": ["x", "y"], "t": ["w", "v"]})
    pre = Preprocessor.fit(train, _features(numeric=["a"], categorical=["s"], text="t"))
    with pytest.raises(SchemaError, match="'s' is missing"):
        pre.transform(train.drop(columns="s"))
    with pytest.raises(SchemaError, match=r"'a' must be numeric.*'oops'"):
        pre.transform(train.assign(a=["1.5", "oops"]))
    with pytest.raises(SchemaError, match="'t' must hold text"):
        pre.transform(train.assign(t=[1, 2]))
    assert issubclass(SchemaError, DataError)
    # numbers arriving as Python objects (e.g. from JSON with nulls) are fine
    ok = pre.transform(train.assign(a=pd.Series([None, 2], dtype=object)))
    assert np.isfinite(ok["num"]).all()


# ------------------------------------------------------------------------------- numeric embeddings
def _embedding_config(numeric: str = "piecewise_linear", **encoder):
    from tests.data.helpers import config_of
    from tests.helpers import mixed_params

    params = mixed_params("unused.csv")
    return config_of(params, {"model": {"encoder": {"numeric": numeric, **encoder}}})


def _skewed(n: int = 500, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x1 = rng.exponential(size=n)
    return pd.DataFrame({"x1": x1, "x2": rng.normal(size=n),
                         "x3": np.where(rng.random(n) < 0.1, np.nan, rng.normal(size=n)),
                         "shop": rng.choice(["a", "b"], size=n), "churn": (x1 > 1.5).astype(int),
                         "segment": rng.integers(0, 3, size=n), "amount": 3 * x1 + rng.normal(size=n)})


def test_quantile_bins_are_training_quantiles_in_scaled_units():
    train = _skewed()
    pre = Preprocessor.fit(train, _embedding_config(n_bins=4))
    assert pre.embedded == ["x1", "x2", "x3"] and set(pre.bins) == {"x1", "x2", "x3"}
    x1 = train["x1"].to_numpy()
    expected = (np.quantile(x1, [0, 0.25, 0.5, 0.75, 1.0]) - x1.mean()) / x1.std()
    np.testing.assert_allclose(pre.bins["x1"], expected, rtol=1e-5, atol=1e-6)
    meta = pre.inputs_meta()["num"]
    assert meta["embedding"] == "piecewise_linear" and meta["embedded"] == [0, 1, 2]  # x3_missing passes through
    assert meta["bins"] == [pre.bins[c] for c in ("x1", "x2", "x3")]


def test_tree_bins_split_where_a_task_changes():
    from mtlops.data.contract import encode_labels

    train = _skewed(2000)
    cfg = _embedding_config(bins="tree", n_bins=6)
    pre = Preprocessor.fit(train, cfg, labels={t.name: encode_labels(train, t) for t in cfg.tasks})
    x1 = train["x1"].to_numpy()
    step = (1.5 - x1.mean()) / x1.std()  # churn flips at x1 = 1.5
    edges = np.asarray(pre.bins["x1"])
    assert np.abs(edges - step).min() < 0.05
    assert edges[0] == pytest.approx((x1.min() - x1.mean()) / x1.std(), rel=1e-5)
    assert np.all(np.diff(edges) > 0)


def test_embedding_state_round_trips_and_a_standard_file_is_unchanged():
    pre = Preprocessor.fit(_skewed(), _embedding_config(n_bins=8))
    again = Preprocessor.from_dict(json.loads(json.dumps(pre.to_dict())))
    assert again == pre and again.inputs_meta() == pre.inputs_meta()
    standard = Preprocessor.fit(_skewed(), _embedding_config("standard")).to_dict()
    assert not {"numeric_embedding", "embedded", "bins"} & standard.keys()
    assert Preprocessor.from_dict(standard).inputs_meta()["num"].keys() == {"dim", "columns"}


def test_constant_and_empty_columns_are_left_unembedded_with_a_warning():
    train = _skewed().assign(x2=7.0, x3=np.nan)
    with pytest.warns(UserWarning, match=r"\['x2', 'x3'\].*unembedded"):
        pre = Preprocessor.fit(train, _embedding_config("periodic"))
    assert pre.embedded == ["x1"] and pre.bins == {}
    assert pre.inputs_meta()["num"]["embedded"] == [0]


def test_bins_come_from_the_training_split_only(tmp_path):
    """prepare twice, the second time with every validation row's features changed: same bins, other val arrays."""
    from mtlops.data.ingest import ingest
    from mtlops.data.prepare import load_split, prepare
    from mtlops.data.splits import split_frame
    from tests.helpers import make_project

    runs = []
    for name, shift in (("a", 0.0), ("b", 50.0)):
        cfg, paths = make_project(tmp_path / name, kind="mixed",
                                  overrides={"model": {"encoder": {"numeric": "piecewise_linear", "n_bins": 8}}})
        source = tmp_path / name / "source" / "mixed.csv"
        rows = pd.read_csv(source)
        val_ids = split_frame(rows, cfg)[0]["val"]["id"]
        rows.loc[rows["id"].isin(val_ids), ["x1", "x2", "x3"]] += shift
        rows.to_csv(source, index=False)
        ingest(cfg, paths)
        prepare(cfg, paths)
        runs.append((Preprocessor.load(paths.preprocessor), load_split(paths, "val")["num"]))
    (first, val_a), (second, val_b) = runs
    assert first.bins and first.bins == second.bins
    assert not np.allclose(val_a, val_b)


def _with_limit(limit: float | None, **features):
    """What `Preprocessor.fit` reads from a Config: its features and validation.max_abs_value."""
    from types import SimpleNamespace

    return SimpleNamespace(features=_features(**features), validation=SimpleNamespace(max_abs_value=limit))


def test_a_value_beyond_max_abs_is_refused_when_fitting_and_when_scoring():
    train = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [0.5, 1e300, 0.7]})
    with pytest.raises(SchemaError, match=r"column 'b': 1 value\(s\) beyond ±1e\+15 .*e\.g\. 1e\+300 in row 2"):
        Preprocessor.fit(train, _with_limit(1e15, numeric=["a", "b"]))

    pre = Preprocessor.fit(train.assign(b=[0.5, 0.6, 0.7]), _with_limit(1e15, numeric=["a", "b"]))
    assert pre.max_abs == 1e15 and Preprocessor.from_dict(pre.to_dict()).max_abs == 1e15
    scoring = pd.DataFrame({"a": [1.0, -3e16, 2.0], "b": [0.5, 0.5, np.inf]})  # inf: missing, as documented
    with pytest.raises(SchemaError, match=r"column 'a': 1 value\(s\) beyond ±1e\+15.*-3e\+16 in row 2"):
        pre.transform(scoring)
    assert np.isfinite(pre.transform(scoring.assign(a=[1.0, 1e15, 2.0]))["num"]).all()


def test_without_a_limit_infinite_statistics_or_inputs_are_refused_by_column():
    train = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [0.5, 1e300, 0.7]})  # std overflows: b would be constant
    with pytest.raises(DataError, match=r"column 'b': its mean or standard deviation .* not finite"):
        Preprocessor.fit(train, _with_limit(None, numeric=["a", "b"]))

    old = Preprocessor.fit(train.assign(b=[0.5, 0.6, 0.7]), _features(numeric=["a", "b"]))  # no limit recorded
    assert old.max_abs is None
    with pytest.raises(SchemaError, match=r"column 'b': 1 value\(s\) beyond the model's float32 range"):
        old.transform(pd.DataFrame({"a": [1.0, 2.0], "b": [0.6, 1e300]}))  # scaled: inf, the prediction NaN
    saved = old.to_dict()
    del saved["max_abs"]  # a preprocessor saved before the limit existed still loads
    assert Preprocessor.from_dict(saved).max_abs is None
