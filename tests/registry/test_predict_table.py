"""Batch scoring of files with a registered model."""

from __future__ import annotations

import pandas as pd
import pytest

from mtlops.errors import DataError, UserError
from mtlops.registry.predict_table import predict_file
from mtlops.registry.pyfunc import conform
from mtlops.registry.store import RegistryError


@pytest.fixture(scope="module")
def scored(champion):
    """(cfg, paths, test rows as a CSV-round-tripped frame, the champion's predictions on them)."""
    cfg, paths, model, rows = champion
    schema = model.metadata.get_input_schema()
    return cfg, paths, rows, model.predict(conform(rows[schema.input_names()], schema))


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_scores_in_batches_keeping_order_and_ids(scored, tmp_path, suffix):
    cfg, paths, rows, expected = scored
    src = tmp_path / f"in{suffix}"
    rows.to_csv(src, index=False) if suffix == ".csv" else rows.to_parquet(src, index=False)
    out_path = tmp_path / "out" / ("pred.parquet" if suffix == ".csv" else "pred.csv")
    result = predict_file(f"{cfg.project.model_name}@champion", src, out_path, batch_size=37, paths=paths)
    assert result["rows"] == len(rows) and result["batches"] == -(-len(rows) // 37) and result["version"] == "1"
    out = pd.read_parquet(out_path) if out_path.suffix == ".parquet" else pd.read_csv(out_path)
    carried = list(rows.columns)  # every input column by default (`--keep all`), features too
    assert list(out.columns) == [*carried, *expected.columns]
    assert set(cfg.features.all_columns()) <= set(carried)
    # the labels come through untouched next to the predictions (`amount` beside `pred_amount`)
    assert "amount" in carried and "pred_amount" in expected.columns
    pd.testing.assert_series_equal(out["amount"], rows["amount"].reset_index(drop=True), check_dtype=False)
    assert out["id"].astype(int).tolist() == rows["id"].tolist()
    pd.testing.assert_frame_equal(out[list(expected.columns)], expected, check_dtype=False, rtol=1e-6)


def test_version_reference_and_kept_columns(scored, tmp_path):
    cfg, paths, rows, expected = scored
    src = tmp_path / "in.parquet"
    rows.to_parquet(src, index=False)
    out_path = tmp_path / "pred.parquet"
    predict_file(f"models:/{cfg.project.model_name}/1", src, out_path, paths=paths, keep_columns=["id"])
    assert list(pd.read_parquet(out_path).columns) == ["id", *expected.columns]
    predict_file(f"models:/{cfg.project.model_name}/1", src, out_path, paths=paths, keep="none")
    assert list(pd.read_parquet(out_path).columns) == list(expected.columns)
    with pytest.raises(UserError, match="keep must be one of"):
        predict_file(f"models:/{cfg.project.model_name}/1", src, out_path, paths=paths, keep="some")


def test_the_output_of_keep_all_scores_again_to_the_same_predictions(scored, tmp_path):
    """`--keep all` keeps the features, so a scored file can be scored again (#27: it lacked 22 columns)."""
    cfg, paths, rows, expected = scored
    src, first, second = tmp_path / "in.csv", tmp_path / "scored.csv", tmp_path / "again.csv"
    rows.to_csv(src, index=False)
    ref = f"{cfg.project.model_name}@champion"
    predict_file(ref, src, first, paths=paths)
    predict_file(ref, first, second, paths=paths, keep="none")  # its pred_ columns are not carried
    again = pd.read_csv(second)
    pd.testing.assert_frame_equal(again, expected, check_dtype=False, rtol=1e-6)


def test_bad_inputs_name_what_is_wrong(scored, tmp_path):
    cfg, paths, rows, _ = scored
    ref = f"{cfg.project.model_name}@champion"
    out_path = tmp_path / "pred.csv"
    with pytest.raises(DataError, match="input file not found"):
        predict_file(ref, tmp_path / "nope.csv", out_path, paths=paths)
    src = tmp_path / "in.csv"
    rows.drop(columns=["x3"]).to_csv(src, index=False)
    with pytest.raises(DataError, match=r"missing column\(s\) \['x3'\]"):
        predict_file(ref, src, out_path, paths=paths)
    rows.to_csv(src, index=False, sep=";")
    with pytest.raises(DataError, match=r"in\.csv: the header reads as one column; the file looks separated by ';'"):
        predict_file(ref, src, out_path, paths=paths)
    rows.assign(x1="oops").to_csv(src, index=False)
    with pytest.raises(DataError, match=r"rows 1-.*x1"):
        predict_file(ref, src, out_path, paths=paths)
    with pytest.raises(UserError, match="unknown file type"):
        predict_file(ref, src, tmp_path / "pred.xlsx", paths=paths)
    rows.to_csv(src, index=False)
    with pytest.raises(RegistryError, match="alias 'staging'"):
        predict_file(f"{cfg.project.model_name}@staging", src, out_path, paths=paths)
    assert not out_path.exists()  # nothing half-written


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_the_outcome_does_not_depend_on_the_batch_size(scored, tmp_path, suffix):
    """A category column empty for a whole batch, and a carried column empty at first then text, score
    the same in batches of 5 as all at once (#18: a batch's inferred dtype failed the whole file)."""
    cfg, paths, rows, _ = scored
    rows = rows.head(40).reset_index(drop=True)
    rows["shop"] = rows["shop"].astype(object).where(rows.index >= 10, None)
    rows["note"] = [None] * 10 + [f"n{i}" for i in range(30)]
    src = tmp_path / f"in{suffix}"
    rows.to_csv(src, index=False) if suffix == ".csv" else rows.to_parquet(src, index=False)
    ref = f"{cfg.project.model_name}@champion"
    outputs = {}
    for size in (5, 1000):
        out_path = tmp_path / f"out{size}.parquet"
        result = predict_file(ref, src, out_path, batch_size=size, paths=paths)
        assert result["batches"] == -(-40 // size)
        outputs[size] = pd.read_parquet(out_path)
    pd.testing.assert_frame_equal(outputs[5], outputs[1000])
    assert outputs[5]["note"].isna().sum() == 10 and not outputs[5].filter(like="pred_").isna().any().any()


def test_an_input_column_named_like_a_prediction_is_refused_not_overwritten(scored, tmp_path):
    cfg, paths, rows, _expected = scored
    src = tmp_path / "scored.parquet"
    rows.assign(pred_amount=1.0).to_parquet(src, index=False)
    with pytest.raises(DataError, match=r"\['pred_amount'\] have the names of prediction columns"):
        predict_file(f"{cfg.project.model_name}@champion", src, tmp_path / "out.parquet", paths=paths)
