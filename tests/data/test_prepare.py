"""Prepare: the processed-array contract, label masks, no leakage from val/test, atomic outputs."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mtlops.data.contract import raw_columns
from mtlops.data.ingest import ingest
from mtlops.data.prepare import load_meta, load_split, prepare
from mtlops.errors import DataError
from tests.data.helpers import files_under, flights_project, with_classes
from tests.helpers import make_project


@pytest.fixture
def mixed_prepared(tmp_path):
    cfg, paths = make_project(tmp_path, kind="mixed")
    ingest(cfg, paths)
    return cfg, paths, prepare(cfg, paths)


def test_arrays_follow_the_contract(mixed_prepared):
    cfg, paths, summary = mixed_prepared
    meta = load_meta(paths)
    assert sum(meta["rows"].values()) == 800 and summary["rows"] == meta["rows"]
    assert meta["tasks"]["segment"] == {
        "type": "multiclass", "column": "segment", "dim": 3, "n_classes": 3, "loss": "ce", "pos_weight": None,
        "metric": "accuracy", "higher_is_better": True, "classes": [0, 1, 2],
    }
    assert meta["tasks"]["amount"]["higher_is_better"] is False
    for split in ("train", "val", "test"):
        a = load_split(paths, split)
        n = meta["rows"][split]
        assert a["num"].dtype == np.float32 and a["num"].shape == (n, meta["inputs"]["num"]["dim"])
        assert a["cat"].dtype == np.int64 and a["cat"].shape == (n, 1)
        assert a["cat"].min() >= 0 and a["cat"].max() < meta["inputs"]["cat"]["cardinalities"][0]
        assert a["y_churn"].dtype == np.float32 and set(np.unique(a["y_churn"])) <= {0.0, 1.0}
        assert a["y_segment"].dtype == np.int64 and a["y_segment"].shape == (n,)
        assert a["y_amount"].dtype == np.float32
        for task in cfg.task_names:
            assert a[f"mask_{task}"].dtype == np.bool_
            assert meta["label_rate"][split][task] == pytest.approx(a[f"mask_{task}"].mean(), abs=1e-6)
        assert (a["y_amount"][~a["mask_amount"]] == 0).all() and not a["mask_amount"].all()
        assert not {"text", "text_len", "image"} & a.keys()

    test = load_split(paths, "test")
    raw = pd.read_parquet(paths.test_raw)
    assert list(raw.columns) == raw_columns(cfg) and len(raw) == meta["rows"]["test"]
    np.testing.assert_array_equal(test["mask_amount"], raw["amount"].notna())
    np.testing.assert_array_equal(test["y_segment"], raw["segment"])  # classes [0, 1, 2] map to themselves
    np.testing.assert_allclose(test["y_amount"][test["mask_amount"]], raw["amount"].dropna(), rtol=1e-6)


def test_flights_label_masks(flights_week):
    _cfg, paths, _, summary = flights_week
    test, raw = load_split(paths, "test"), pd.read_parquet(paths.test_raw)
    cancelled = raw["cancelled"].to_numpy() == 1
    assert cancelled.any() and (~cancelled).any()
    assert not test["mask_delayed"][cancelled].any() and not test["mask_arr_delay"][cancelled].any()
    assert test["mask_cancelled"].all() and (test["y_cancelled"][cancelled] == 1).all()
    assert test["mask_delayed"][~cancelled].all()  # every flight that left has a delay label
    assert summary["label_rate"]["test"]["cancelled"] == 1.0


def test_time_split_has_no_leakage(flights_week):
    _cfg, paths, *_ = flights_week
    split = load_meta(paths)["split"]
    (_train_lo, train_hi), (val_lo, val_hi), (test_lo, test_hi) = (split["dates"][p] for p in ("train", "val", "test"))
    assert train_hi < val_lo <= val_hi < test_lo
    assert (test_lo, test_hi) == ("2013-01-06", "2013-01-07") and val_lo == "2013-01-04"
    assert (pd.read_parquet(paths.test_raw)["date"] >= pd.Timestamp(test_lo)).all()


def test_preprocessor_statistics_come_from_train_only(flights_week, tmp_path):
    _cfg, paths, *_ = flights_week
    snapshot = pd.read_parquet(paths.raw_snapshot)
    fitted = json.loads(paths.preprocessor.read_text())
    later = snapshot["date"] >= pd.Timestamp(load_meta(paths)["split"]["val_start"])

    def prepare_with(frame: pd.DataFrame, name: str):
        cfg2, paths2 = flights_project(tmp_path / name)
        paths2.raw_dir.mkdir(parents=True)
        frame.to_parquet(paths2.raw_snapshot, index=False)
        prepare(cfg2, paths2)
        return json.loads(paths2.preprocessor.read_text()), load_split(paths2, "val")

    shifted = snapshot.copy()
    shifted.loc[later, "temp"] += 100.0
    shifted.loc[later, "carrier"] = "ZZ"
    refit, val = prepare_with(shifted, "later_changed")
    assert refit == fitted  # medians, means, stds and vocabularies ignore validation and test rows
    assert not np.array_equal(val["num"], load_split(paths, "val")["num"])  # ...which did change

    shifted = snapshot.copy()
    shifted.loc[~later, "temp"] += 100.0
    refit, _ = prepare_with(shifted, "train_changed")
    i = refit["numeric"].index("temp")
    assert refit["mean"][i] == pytest.approx(fitted["mean"][i] + 100.0)  # the check above can fail


def test_class_outside_the_declared_classes_fails_and_writes_nothing(tmp_path):
    cfg, paths = make_project(tmp_path, kind="mixed")
    ingest(cfg, paths)
    narrow = with_classes(cfg, "segment", [0, 1])
    with pytest.raises(DataError, match=r"snapshot\.parquet.*'segment'.*classes \[0, 1\], e\.g\. 2"):
        prepare(narrow, paths)
    assert files_under(paths.processed_dir) == []


def test_string_classes_map_to_indices(tmp_path):
    cfg, paths = make_project(tmp_path, kind="mixed")
    df = pd.read_csv(cfg.data.file.path)
    df.assign(segment=df["segment"].map({0: "low", 1: "mid", 2: "high"})).to_csv(cfg.data.file.path, index=False)
    cfg = with_classes(cfg, "segment", ["low", "mid", "high"])
    ingest(cfg, paths)
    prepare(cfg, paths)
    y = load_split(paths, "test")["y_segment"]
    raw = pd.read_parquet(paths.test_raw)["segment"]
    np.testing.assert_array_equal(y, raw.map({"low": 0, "mid": 1, "high": 2}))


def test_failed_prepare_keeps_previous_outputs(mixed_prepared):
    cfg, paths, _ = mixed_prepared
    before = {p.name: p.read_bytes() for p in paths.processed_dir.iterdir()}
    df = pd.read_parquet(paths.raw_snapshot)
    df.assign(amount=np.nan).to_parquet(paths.raw_snapshot, index=False)
    with pytest.raises(DataError, match=r"'amount'.*train split of 480 rows: 0 labelled rows"):
        prepare(cfg, paths)
    assert {p.name: p.read_bytes() for p in paths.processed_dir.iterdir()} == before
    assert sorted(p.name for p in paths.processed_dir.parent.iterdir()) == ["processed", "raw"]


def test_missing_inputs_say_what_to_run(tmp_path):
    cfg, paths = make_project(tmp_path)
    with pytest.raises(DataError, match="mtlops ingest"):
        prepare(cfg, paths)
    with pytest.raises(DataError, match="mtlops prepare"):
        load_split(paths, "train")
    with pytest.raises(DataError, match=r"meta.json"):
        load_meta(paths)
    with pytest.raises(ValueError, match="split must be one of"):
        load_split(paths, "holdout")
