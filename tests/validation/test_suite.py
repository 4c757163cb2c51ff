"""The suites are built from the config: each declared column gets the checks its role asks for."""

from __future__ import annotations

import pytest

from mtlops.schema import Config


def _config(**validation) -> Config:
    return Config.model_validate(
        {
            "data": {"source": "file", "key": ["user", "day"], "date_column": "day"},
            "features": {"numeric": ["age"], "categorical": ["city"], "text": "review", "image": "photo"},
            "tasks": [
                {"name": "stars", "column": "stars", "type": "multiclass", "classes": ["bad", "ok", "good"]},
                {"name": "box", "column": ["x0", "y0"], "type": "multi_regression"},
                {"name": "price", "column": "price", "type": "regression", "bounds": [0, 10]},
            ],
            "validation": validation,
        }
    )


def _by_column(suite) -> dict:
    out: dict = {}
    for e in suite.expectations:
        config = e.configuration
        column = config.kwargs.get("column") or tuple(config.kwargs.get("column_list", ())) or None
        out.setdefault(column, {})[config.type] = config.kwargs
    return out


def _has(exps: dict, part: str) -> bool:
    return any(part in name for name in exps)


def test_contract_follows_each_columns_role():
    from mtlops.validation.suite import NUMERIC_TYPES, TEXT_TYPES, contract_suite

    cfg = _config(max_null_fraction=0.1, null_fraction={"review": 0.5, "photo": 1.0}, ranges={"age": [0, 120]})
    cols = _by_column(contract_suite(cfg))

    declared = {"user", "day", "age", "city", "review", "photo", "stars", "x0", "y0", "price"}
    assert declared <= {c for c, exps in cols.items() if "expect_column_to_exist" in exps}
    types = {c: e["expect_column_values_to_be_in_type_list"]["type_list"] for c, e in cols.items() if _has(e, "type_")}
    assert types == {
        "age": NUMERIC_TYPES, "x0": NUMERIC_TYPES, "y0": NUMERIC_TYPES, "price": NUMERIC_TYPES,
        "city": TEXT_TYPES, "review": TEXT_TYPES, "stars": TEXT_TYPES,
    }  # fmt: skip
    mostly = {c: e["expect_column_values_to_not_be_null"]["mostly"] for c, e in cols.items() if _has(e, "not_be_null")}
    assert mostly["review"] == pytest.approx(0.5) and mostly["age"] == pytest.approx(0.9)
    assert "photo" not in mostly  # a maximum of 1 needs no check
    assert cols["stars"]["expect_column_values_to_be_in_set"]["value_set"] == ["bad", "ok", "good"]
    bounds = cols["price"]["expect_column_values_to_be_between"]
    assert (bounds["min_value"], bounds["max_value"]) == (0, 10)
    assert cols["age"]["expect_column_values_to_be_between"]["max_value"] == 120
    assert ("user", "day") in cols and "expect_compound_columns_to_be_unique" in cols[("user", "day")]
    assert cols[None]["expect_table_row_count_to_be_between"]["min_value"] == cfg.validation.min_rows


def test_label_columns_have_their_own_null_limit():
    """A missing label only masks its task: by default a label column may be mostly empty while a feature may
    not; `label_null_fraction` sets a limit for labels, and a per-column `null_fraction` wins over both."""
    from mtlops.validation.suite import contract_suite

    def mostly(cfg: Config) -> dict:
        cols = _by_column(contract_suite(cfg))
        return {c: e["expect_column_values_to_not_be_null"]["mostly"]
                for c, e in cols.items() if _has(e, "not_be_null")}

    default = mostly(_config())
    assert default["age"] == pytest.approx(0.95) and not {"stars", "x0", "y0", "price"} & set(default)
    limited = mostly(_config(label_null_fraction=0.4, null_fraction={"price": 0.9}))
    assert limited["stars"] == pytest.approx(0.6) and limited["x0"] == pytest.approx(0.6)
    assert limited["price"] == pytest.approx(0.1) and limited["age"] == pytest.approx(0.95)


def test_drift_suite_levels_become_severities_and_off_checks_vanish():
    from mtlops.validation.suite import drift_suite

    cfg = _config(
        drift={
            "row_count_change": {"threshold": 0.2, "level": "fail"},
            "unseen_categories": {"threshold": 0.1, "level": "warn"},
            "mean_shift": {"threshold": 0.5, "level": "off"},
            "quantile_shift": {"threshold": 0.5, "level": "off"},
        }
    )
    profile = {
        "rows": 1000,
        "quantiles": [0.5],
        "numeric": {"age": {"mean": 40, "std": 10, "quantiles": [39]}},
        "categorical": {"city": ["a", "b"]},
    }
    suite = drift_suite(cfg, profile)

    got = {(e.configuration.type, e.configuration.kwargs.get("column")): e for e in suite.expectations}
    assert set(got) == {("expect_table_row_count_to_be_between", None), ("expect_column_values_to_be_in_set", "city")}
    rows = got[("expect_table_row_count_to_be_between", None)]
    assert (rows.min_value, rows.max_value, rows.severity) == (800, 1200, "critical")
    unseen = got[("expect_column_values_to_be_in_set", "city")]
    assert unseen.mostly == pytest.approx(0.9) and unseen.severity == "warning"
