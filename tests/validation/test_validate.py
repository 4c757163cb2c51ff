"""The gate end to end on real GX: a clean snapshot passes, each kind of corruption fails naming what broke."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mtlops.errors import DataError, UserError
from mtlops.schema import ConfigError
from mtlops.validation import ValidationFailed
from mtlops.validation.run import validate
from tests.validation.helpers import project, write_snapshot


def run(tmp_path, mixed, df=None, overrides=None):
    """Validate `df` (default: the clean rows) in a fresh project; return (summary, error or None, paths)."""
    params, clean = mixed
    cfg, paths = project(tmp_path, params, overrides)
    write_snapshot(paths, clean if df is None else df)
    try:
        return validate(cfg, paths), None, paths
    except ValidationFailed as err:
        return err.summary, err, paths


def failed_pairs(summary) -> set[tuple[str, str | None]]:
    return {(f["expectation"], _col(f["column"])) for f in summary["failed"]}


def _col(column):
    return "+".join(column) if isinstance(column, list) else column


# ------------------------------------------------------------------------------------------------ clean
def test_clean_snapshot_passes_and_writes_report_docs_and_profile(tmp_path, mixed, capfd):
    summary, err, paths = run(tmp_path, mixed)

    assert err is None and summary["success"] is True and summary["status"] == "passed"
    assert summary["failed"] == [] and summary["rows"] == len(mixed[1])
    assert summary["drift"]["skipped"] is True and "no accepted profile" in summary["drift"]["reason"]
    assert summary["statistics"]["evaluated"] > 20  # built from the config: one set per declared column
    assert json.loads(paths.validation_summary.read_text()) == json.loads(json.dumps(summary))
    assert (paths.data_docs_dir / "index.html").is_file()
    assert any((paths.data_docs_dir / "validations").rglob("*.html"))
    profile = json.loads(paths.accepted_profile.read_text())
    assert profile["rows"] == len(mixed[1]) and set(profile["categorical"]["shop"]) == {"a", "b", "c", "d"}
    assert summary["gx_version"].startswith("1.")
    out = capfd.readouterr()
    assert "Calculating Metrics" not in out.err + out.out  # GX's tqdm bars are off


def test_second_clean_run_checks_drift_and_passes(tmp_path, mixed, with_profile):
    params, _ = mixed
    _, paths = project(tmp_path, params)
    with_profile(paths)
    summary, err, _ = run(tmp_path, mixed)

    assert err is None
    drift = summary["drift"]
    assert drift["skipped"] is False and drift["failures"] == 0 and drift["warnings"] == 0
    checks = {(c["check"], c["column"]) for c in drift["checks"]}
    expected = {("row_count_change", None), ("unseen_categories", "shop"), ("mean_shift", "x1")}
    expected.add(("quantile_shift", "amount"))
    assert expected <= checks
    assert all(c["value"] == pytest.approx(0.0) for c in drift["checks"])  # same rows: no shift at all


def test_other_dtypes_of_the_same_kinds_pass(tmp_path, mixed):
    df = mixed[1].astype({"shop": "category", "churn": "bool", "x1": "float32", "segment": "Int64"})
    summary, err, _ = run(tmp_path, mixed, df)

    assert err is None, err
    assert summary["success"] is True


# ------------------------------------------------------------------------------------------- contract
def _drop_x2(df):
    return df.drop(columns=["x2"])


def _x1_as_text(df):
    return df.assign(x1=df["x1"].map(lambda v: f"{v:.3f}"))


def _churn_2(df):
    df = df.copy()
    df.loc[3, "churn"] = 2
    return df


def _x3_all_null(df):
    return df.assign(x3=np.nan)


def _duplicate_id(df):
    df = df.copy()
    df.loc[1, "id"] = df.loc[0, "id"]
    return df


def _segment_7(df):
    df = df.copy()
    df.loc[0, "segment"] = 7
    return df


def _x1_100(df):
    df = df.copy()
    df.loc[0, "x1"] = 100.0
    return df


def _duplicate_row(df):
    return pd.concat([df, df.iloc[[5]]], ignore_index=True)


def _x2_1e300(df):
    df = df.copy()
    df.loc[3, "x2"] = 1e300  # its std overflows: the column would become constant
    return df


def _x1_inf(df):
    df = df.copy()
    df.loc[[0, 9], "x1"] = [np.inf, -np.inf]
    return df


def _churn_one_class(df):
    return df.assign(churn=0)


X2_MAX_1 = {"column": "x2", "max_value": 1}  # x2 is standard normal: its max is well above 1
CORRUPTIONS = {
    "missing column": (_drop_x2, None, ("expect_column_to_exist", "x2")),
    "strings in a numeric column": (_x1_as_text, None, ("expect_column_values_to_be_in_type_list", "x1")),
    "binary label 2": (_churn_2, None, ("expect_column_values_to_be_in_set", "churn")),
    "all-null feature": (_x3_all_null, None, ("expect_column_values_to_not_be_null", "x3")),
    "duplicated key": (_duplicate_id, None, ("expect_column_values_to_be_unique", "id")),
    "duplicated compound key": (
        _duplicate_row,
        {"data": {"key": ["id", "shop"]}},
        ("expect_compound_columns_to_be_unique", "id+shop"),
    ),
    "label outside the classes": (_segment_7, None, ("expect_column_values_to_be_in_set", "segment")),
    "out of range": (
        _x1_100,
        {"validation": {"ranges": {"x1": [-10, 10]}}},
        ("expect_column_values_to_be_between", "x1"),
    ),
    "too few rows": (None, {"validation": {"min_rows": 5000}}, ("expect_table_row_count_to_be_between", None)),
    "1e300 in a feature (#18.4)": (_x2_1e300, None, ("expect_column_values_to_be_between", "x2")),
    "±inf in a feature": (_x1_inf, None, ("expect_column_values_to_be_between", "x1")),
    "a value beyond a lowered max_abs_value": (
        _x1_100, {"validation": {"max_abs_value": 50}}, ("expect_column_values_to_be_between", "x1")),
    "binary label with one class (#18.3)": (
        _churn_one_class, None, ("expect_column_unique_value_count_to_be_between", "churn")),
    "extra expectation": (
        None,
        {"validation": {"expectations": [{"type": "ExpectColumnMaxToBeBetween", "kwargs": X2_MAX_1}]}},
        ("expect_column_max_to_be_between", "x2"),
    ),
}


@pytest.mark.parametrize("case", list(CORRUPTIONS))
def test_corrupted_snapshot_fails_naming_the_expectation(tmp_path, mixed, case):
    corrupt, overrides, (expectation, column) = CORRUPTIONS[case]
    df = corrupt(mixed[1]) if corrupt else None
    summary, err, paths = run(tmp_path, mixed, df, overrides)

    assert isinstance(err, ValidationFailed) and isinstance(err, UserError)
    assert summary["success"] is False
    assert (expectation, column) in failed_pairs(summary)
    assert expectation in str(err) and f"{column or 'table'}: " in str(err)
    assert "data/raw/snapshot.parquet" in str(err)
    on_disk = json.loads(paths.validation_summary.read_text())  # the report is written on failure too
    assert (expectation, column) in failed_pairs(on_disk)
    assert not paths.accepted_profile.exists()  # never accepted
    assert (paths.data_docs_dir / "index.html").is_file()


def test_regression_bounds_and_nullable_label(tmp_path, mixed):
    params, df = mixed
    tasks = [dict(t) for t in params["tasks"]]
    tasks[2]["bounds"] = [-50.0, 50.0]
    bad = df.copy()
    bad.loc[bad["amount"].first_valid_index(), "amount"] = 1e6
    summary, err, _ = run(tmp_path, mixed, bad, {"tasks": tasks})

    assert err is not None
    assert failed_pairs(summary) == {("expect_column_values_to_be_between", "amount")}
    # ~20% of amount is missing and null_fraction.amount = 0.5 allows it (the GX `mostly` counts all rows)
    assert not any(f["expectation"] == "expect_column_values_to_not_be_null" for f in summary["failed"])


def test_null_fraction_just_over_the_limit_fails(tmp_path, mixed):
    df = mixed[1].copy()
    df.loc[: int(0.06 * len(df)), "x2"] = np.nan  # default max_null_fraction 0.05
    summary, err, _ = run(tmp_path, mixed, df)

    (entry,) = [f for f in summary["failed"] if f["column"] == "x2"]
    assert entry["expectation"] == "expect_column_values_to_not_be_null"
    assert entry["observed"]["unexpected_percent"] == pytest.approx(100 * df["x2"].isna().mean())
    # the line says how much may be missing and which key allows more
    assert "x2: expect_column_values_to_not_be_null (" in str(err)
    assert "at most 5 % may be missing: validation.null_fraction.x2 allows more" in str(err)


def test_a_wrongly_typed_column_names_the_kind_its_role_needs(tmp_path, mixed):
    summary, err, _ = run(tmp_path, mixed, _x1_as_text(mixed[1]))

    assert ("expect_column_values_to_be_in_type_list", "x1") in failed_pairs(summary)
    line = str(err)[str(err).index("expect_column_values_to_be_in_type_list"):]
    assert line.startswith(f"expect_column_values_to_be_in_type_list ({len(mixed[1])} unexpected, e.g. '")
    assert "'; expected numbers)" in line


SHOP_CODES = {"a": 1, "b": 2, "c": 3, "d": 4}


@pytest.mark.parametrize("dtype", ["int64", "float64 with blanks"])
def test_number_coded_categories_pass_and_are_judged_as_the_model_reads_them(tmp_path, mixed, dtype):
    """Integer codes (or the floats a CSV makes of them when some are blank) are categories, as prepare reads
    them: the profile holds "3", never "3.0", so the next snapshot's codes compare whatever their dtype."""
    params, df = mixed
    coded = df.assign(shop=df["shop"].map(SHOP_CODES))
    if dtype != "int64":
        coded["shop"] = coded["shop"].astype("float64").mask(np.arange(len(df)) % 50 == 0)
    summary, err, paths = run(tmp_path / "first", mixed, coded)

    assert err is None, err
    assert json.loads(paths.accepted_profile.read_text())["categorical"]["shop"] == ["1", "2", "3", "4"]

    level = {"validation": {"drift": {"unseen_categories": {"threshold": 0.05, "level": "fail"}}}}
    for later, unseen in ((coded.assign(shop=coded["shop"].astype("float64")), 0.0),
                          (coded.assign(shop=np.where(np.arange(len(df)) % 2 == 0, 9, coded["shop"])), 0.5)):
        _, next_paths = project(tmp_path / f"later{unseen}", params)
        next_paths.profile_dir.mkdir(parents=True)
        next_paths.accepted_profile.write_bytes(paths.accepted_profile.read_bytes())
        summary, err, _ = run(tmp_path / f"later{unseen}", mixed, later, level)
        (check,) = [c for c in summary["drift"]["checks"] if c["check"] == "unseen_categories"]
        assert check["value"] == pytest.approx(unseen, abs=0.03)
        assert (err is None) == (unseen == 0.0)


def test_warning_severity_extra_expectation_is_recorded_not_fatal(tmp_path, mixed):
    extra = {"type": "ExpectColumnMaxToBeBetween", "kwargs": {"column": "x2", "max_value": 1, "severity": "warning"}}
    summary, err, paths = run(tmp_path, mixed, overrides={"validation": {"expectations": [extra]}})

    assert err is None and summary["success"] is True
    assert [(w["expectation"], w["column"]) for w in summary["warnings"]] == [("expect_column_max_to_be_between", "x2")]
    assert paths.accepted_profile.exists()


def test_unknown_extra_expectation_is_a_config_error(tmp_path, mixed):
    bad = {"validation": {"expectations": [{"type": "ExpectColumnValuesToBeBetwen", "kwargs": {"column": "x1"}}]}}
    with pytest.raises(ConfigError, match=r"ExpectColumnValuesToBeBetwen.*did you mean ExpectColumnValuesToBeBetween"):
        run(tmp_path, mixed, overrides=bad)
    wrong_kwargs = {"validation": {"expectations": [{"type": "ExpectColumnToExist", "kwargs": {"colum": "x1"}}]}}
    with pytest.raises(ConfigError, match=r"validation\.expectations\.0\.kwargs: ExpectColumnToExist"):
        run(tmp_path, mixed, overrides=wrong_kwargs)


# ----------------------------------------------------------------------------------------- bad files
def test_empty_snapshot_fails_naming_the_file(tmp_path, mixed):
    summary, err, _ = run(tmp_path, mixed, mixed[1].iloc[:0])

    assert isinstance(err, ValidationFailed)
    assert "snapshot.parquet" in str(err) and "0 rows" in str(err)
    assert ("expect_table_row_count_to_be_between", None) in failed_pairs(summary)


@pytest.mark.parametrize("content", [None, b"", b"not parquet at all"])
def test_missing_or_unreadable_snapshot_is_a_data_error_naming_the_file(tmp_path, mixed, content):
    params, _ = mixed
    cfg, paths = project(tmp_path, params)
    if content is not None:
        paths.raw_dir.mkdir(parents=True)
        paths.raw_snapshot.write_bytes(content)
    with pytest.raises(DataError, match=r"snapshot\.parquet"):
        validate(cfg, paths)
    on_disk = json.loads(paths.validation_summary.read_text())
    assert on_disk["success"] is False and "snapshot.parquet" in on_disk["error"]


# ------------------------------------------------------------------------------------------------ drift
def test_half_the_rows_fails_row_count_drift_and_keeps_the_profile(tmp_path, mixed, with_profile):
    params, df = mixed
    _, paths = project(tmp_path, params)
    profile = with_profile(paths)
    before = profile.read_bytes()
    summary, err, _ = run(tmp_path, mixed, df.iloc[: len(df) // 2])

    assert isinstance(err, ValidationFailed)
    (entry,) = [f for f in summary["failed"] if f.get("drift") == "row_count_change"]
    assert entry["expectation"] == "expect_table_row_count_to_be_between"
    assert entry["value"] == pytest.approx(0.5) and entry["threshold"] == 0.3
    assert "drift row_count_change" in str(err)
    assert profile.read_bytes() == before and summary["profile_updated"] is False


def test_unseen_category_flood_fails_at_fail_level(tmp_path, mixed, with_profile):
    params, df = mixed
    _, paths = project(tmp_path, params)
    with_profile(paths)
    flooded = df.assign(shop=np.where(np.arange(len(df)) % 2 == 0, "zz", df["shop"]))
    level = {"validation": {"drift": {"unseen_categories": {"threshold": 0.05, "level": "fail"}}}}
    summary, err, _ = run(tmp_path, mixed, flooded, level)

    assert isinstance(err, ValidationFailed)
    (entry,) = [f for f in summary["failed"] if f.get("drift") == "unseen_categories"]
    assert entry["column"] == "shop" and entry["value"] == pytest.approx(0.5)
    assert "shop: drift unseen_categories" in str(err)


def test_warn_level_drift_passes_with_a_warning_and_replaces_the_profile(tmp_path, mixed, with_profile):
    params, df = mixed
    _, paths = project(tmp_path, params)
    profile = with_profile(paths)
    before = profile.read_bytes()
    shifted = df.assign(x1=df["x1"] + df["x1"].std())  # one reference std: mean and quantiles move by ~1
    summary, err, _ = run(tmp_path, mixed, shifted)

    assert err is None and summary["success"] is True
    warned = {(w["drift"], w["column"]) for w in summary["warnings"] if "drift" in w}
    assert warned == {("mean_shift", "x1"), ("quantile_shift", "x1")}
    mean = next(c for c in summary["drift"]["checks"] if c["check"] == "mean_shift" and c["column"] == "x1")
    assert mean["status"] == "warn" and mean["value"] == pytest.approx(1.0, abs=0.01)
    assert profile.read_bytes() != before and summary["profile_updated"] is True
    json.dumps(summary, allow_nan=False)  # plain JSON: no NumPy scalars, no NaN


def test_drift_checks_can_be_turned_off(tmp_path, mixed, with_profile):
    params, df = mixed
    _, paths = project(tmp_path, params)
    with_profile(paths)
    off = {"validation": {"drift": {"row_count_change": {"threshold": 0.3, "level": "off"}}}}
    summary, err, _ = run(tmp_path, mixed, df.iloc[: len(df) // 2], off)

    assert err is None
    assert "row_count_change" in summary["drift"]["off"]
    assert all(c["check"] != "row_count_change" for c in summary["drift"]["checks"])


def test_disabled_validation_records_that_and_accepts_nothing(tmp_path, mixed):
    summary, err, paths = run(tmp_path, mixed, overrides={"validation": {"enabled": False}})

    assert err is None and summary["enabled"] is False
    written = json.loads(paths.validation_summary.read_text())
    assert written["enabled"] is False and written["status"] == "skipped" and written["success"] is None
    assert not paths.accepted_profile.exists()


def test_importing_the_stage_does_not_import_gx():
    import subprocess
    import sys

    code = "import sys, mtlops.validation, mtlops.validation.run; print('great_expectations' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
