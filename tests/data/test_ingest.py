"""Ingest: the raw snapshot and its record; bad input fails naming file and column, writing nothing."""

from __future__ import annotations

import hashlib
import json

import pandas as pd
import pytest

from mtlops.config import with_overrides
from mtlops.data.ingest import ingest
from mtlops.errors import DataError
from tests.data.helpers import files_under
from tests.helpers import make_project


def test_snapshot_record_matches_the_file(flights_week):
    _cfg, paths, summary, _ = flights_week
    record = json.loads(paths.raw_meta.read_text())
    assert record == summary
    df = pd.read_parquet(paths.raw_snapshot)
    assert record["source"] == "flights" and record["rows"] == len(df)
    assert list(record["columns"]) == list(df.columns)
    assert record["date_range"] == {"column": "date", "min": "2013-01-01", "max": "2013-01-07"}
    assert record["sha256"] == hashlib.sha256(paths.raw_snapshot.read_bytes()).hexdigest()
    assert record["params"]["end"] == "2013-01-07"
    assert record["input_path"] is record["input_sha256"] is None  # a package's data, no file of the user's


def test_ingest_is_reproducible_and_replaces_the_snapshot(tmp_path):
    cfg, paths = make_project(tmp_path)
    first = ingest(cfg, paths)
    assert ingest(cfg, paths)["sha256"] == first["sha256"]  # same data, same bytes: DVC sees no change
    bigger = ingest(with_overrides(cfg, {"data": {"synthetic": {"n": 700}}}), paths)
    assert bigger["rows"] == 700 and bigger["sha256"] != first["sha256"]
    assert sorted(p.name for p in paths.raw_dir.iterdir()) == ["snapshot.json", "snapshot.parquet"]
    assert [p.name for p in paths.raw_dir.parent.iterdir()] == ["raw"]  # no temp folders left


def test_file_source_csv_and_parquet(tmp_path):
    cfg, paths = make_project(tmp_path / "csv", kind="mixed")
    from_csv = ingest(cfg, paths)
    parquet = tmp_path / "m.parquet"
    pd.read_csv(cfg.data.file.path).to_parquet(parquet, index=False)
    cfg_pq, paths_pq = make_project(tmp_path / "pq", kind="mixed", overrides={"data": {"file": {"path": str(parquet)}}})
    from_parquet = ingest(cfg_pq, paths_pq)
    assert from_csv["rows"] == from_parquet["rows"] == 800
    source = tmp_path / "csv" / "source" / "mixed.csv"
    assert from_csv["input_path"] == str(source) and from_parquet["input_path"] == str(parquet)
    assert from_csv["input_sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
    assert from_parquet["input_bytes"] == parquet.stat().st_size
    pd.testing.assert_frame_equal(pd.read_parquet(paths.raw_snapshot), pd.read_parquet(paths_pq.raw_snapshot))


def _edit_csv(path, edit):
    df = pd.read_csv(path)
    edit(df).to_csv(path, index=False)


def _add_column(path, name):
    """Another column called `name` (a copy of x2's values), written as is: pandas' writer cannot repeat a name."""
    df = pd.read_csv(path)
    df.insert(len(df.columns), "new", df["x2"])
    path.write_text(df.to_csv(index=False).replace(",new\n", f",{name}\n", 1))


BAD_FILES = {
    "missing": (lambda p: p.unlink(), "file not found", None),
    "empty": (lambda p: p.write_text(""), "file is empty", None),
    "header only": (lambda p: p.write_text("id,x1,x2,x3,shop,churn,segment,amount\n"), "no rows", None),
    "not utf-8": (lambda p: p.write_bytes(b"id,x1\n\xff\xfe,1\n"), "not a readable CSV", None),
    "column absent": (lambda p: _edit_csv(p, lambda d: d.drop(columns="x2")), "not in the data", "x2"),
    "text numeric feature": (lambda p: _edit_csv(p, lambda d: d.assign(x1="high")), "must be numeric", "x1"),
    "text binary label": (
        lambda p: _edit_csv(p, lambda d: d.assign(churn=d.churn.map({0: "no", 1: "yes"}))), "numeric", "churn"),
    "binary not 0/1": (lambda p: _edit_csv(p, lambda d: d.assign(churn=d.churn * 2)), "0/1", "churn"),
    "text regression label": (lambda p: _edit_csv(p, lambda d: d.assign(amount="lots")), "numeric", "amount"),
    "class outside classes": (lambda p: _edit_csv(p, lambda d: d.assign(segment=d.segment + 5)), "classes", "segment"),
    "a repeated label column": (lambda p: _add_column(p, "churn"), "appears 2 times", "churn"),
    "a repeated key column": (lambda p: _add_column(p, "id"), "(data.key) appears 2 times", "id"),
    "a feature's case twin": (lambda p: _add_column(p, "X1"), "ambiguous: the data also has ['X1']", "x1"),
    "a feature's spaced twin": (lambda p: _add_column(p, "x3 "), "differ only by case or spaces", "x3"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_file_fails_naming_file_and_column_and_writes_nothing(tmp_path, case):
    cfg, paths = make_project(tmp_path, kind="mixed")  # the file was fine when the config loaded
    damage, needle, column = BAD_FILES[case]
    path = tmp_path / "source" / "mixed.csv"
    damage(path)
    with pytest.raises(DataError) as err:
        ingest(cfg, paths)
    message = str(err.value)
    assert "\n" not in message and "mixed.csv" in message and needle in message
    if column:
        assert repr(column) in message
    assert files_under(paths.root / "data") == []


def test_unreadable_parquet(tmp_path):
    bad = tmp_path / "broken.parquet"
    cfg, _ = make_project(tmp_path / "csv", kind="mixed")
    pd.read_csv(cfg.data.file.path).to_parquet(bad)
    cfg, paths = make_project(tmp_path / "pq", kind="mixed", overrides={"data": {"file": {"path": str(bad)}}})
    bad.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(DataError, match=r"broken\.parquet: not a readable Parquet file"):
        ingest(cfg, paths)
    assert files_under(paths.root / "data") == []


def test_failed_ingest_keeps_the_previous_snapshot(tmp_path):
    cfg, paths = make_project(tmp_path, kind="mixed")
    ingest(cfg, paths)
    before = paths.raw_snapshot.read_bytes(), paths.raw_meta.read_text()
    (tmp_path / "source" / "mixed.csv").write_text("")
    with pytest.raises(DataError):
        ingest(cfg, paths)
    assert (paths.raw_snapshot.read_bytes(), paths.raw_meta.read_text()) == before
    assert [p.name for p in (tmp_path / "data").iterdir()] == ["raw"]
