"""Each source on small data: what rows and columns it yields, and its failures."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from mtlops.data.sources import flights, source_of, synthetic
from mtlops.data.sources.flights import Flights
from mtlops.errors import DataError
from tests.data.helpers import config_of
from tests.helpers import mixed_params, synthetic_params, write_mixed_csv


def load_source(cfg) -> pd.DataFrame:
    return source_of(cfg).load(cfg)


def available_columns(cfg) -> set[str] | None:
    return source_of(cfg).columns(cfg)


# ---------------------------------------------------------------------------------------------- flights
def test_flights_week_rows_columns_and_labels(flights_week):
    _cfg, paths, *_ = flights_week
    df = pd.read_parquet(paths.raw_snapshot)

    raw = pd.read_csv(flights.data_dir() / "flights.csv.zip")
    raw = raw[(raw.year == 2013) & (raw.month == 1) & (raw.day <= 7)].reset_index(drop=True)
    assert len(df) == len(raw)  # no flight dropped or duplicated by the joins
    assert list(df.columns) == flights.COLUMNS
    assert df["flight_id"].is_unique
    assert pd.api.types.is_datetime64_any_dtype(df["date"])
    assert df["date"].min() == pd.Timestamp("2013-01-01") and df["date"].max() == pd.Timestamp("2013-01-07")

    cancelled = raw["dep_time"].isna().to_numpy()
    assert cancelled.any()
    np.testing.assert_array_equal(df["cancelled"].to_numpy(), cancelled.astype(float))
    assert df.loc[cancelled, "delayed"].isna().all()  # no departure: not labelled for delay
    np.testing.assert_array_equal(df.loc[~cancelled, "delayed"], (raw.loc[~cancelled, "dep_delay"] > 15).astype(float))
    np.testing.assert_array_equal(df["arr_delay"].isna(), raw["arr_delay"].isna())
    np.testing.assert_array_equal(df["sched_dep_hour"], raw["sched_dep_time"] // 100)
    # weather at the origin and plane facts are joined for most rows
    assert df["temp"].notna().mean() > 0.95 and df["seats"].notna().mean() > 0.7


def test_flights_threshold_moves_the_label():
    params = {**synthetic_params(), "features": {"numeric": ["distance"]},
              "tasks": [{"name": "delayed", "column": "delayed", "type": "binary"}]}

    def delayed_rate(threshold: float) -> float:
        window = {"source": "flights", "flights": {"start": "2013-03-01", "end": "2013-03-02",
                                                    "delay_threshold_min": threshold}}
        return load_source(config_of(params, {"data": window}))["delayed"].mean()

    assert delayed_rate(0) > delayed_rate(60) > 0


@pytest.mark.parametrize(
    ("start", "end", "needle"),
    [("2013-02-10", "2013-02-01", "data.flights.start"), ("2014-01-01", "2014-02-01", "no flights"),
     ("soon", "2013-02-01", "data.flights.start")],
)
def test_flights_bad_range(start, end, needle):
    params = {**synthetic_params(), "data": {"source": "flights", "flights": {"start": start, "end": end}}}
    with pytest.raises(DataError, match=needle):
        load_source(config_of(params))


# -------------------------------------------------------------------------------------------- synthetic
def _corr(p: float, seed: int = 0) -> float:
    df = synthetic.generate(n=3000, d=16, correlation=p, seed=seed)
    return float(np.corrcoef(df["y1"], df["y2"])[0, 1])


def test_synthetic_label_correlation_follows_p():
    r = {p: _corr(p) for p in (-0.5, 0.0, 0.5, 0.9, 1.0)}
    assert r[1.0] > 0.95
    assert r[0.9] > r[0.5] + 0.2 > r[0.0] + 0.2
    assert r[0.0] > r[-0.5] + 0.2
    assert abs(r[0.0]) < 0.1


def test_synthetic_sines_bend_the_labels_only_slightly_as_in_the_paper():
    """α_k, β_k ~ N(0, 0.01): the labels stay close to linear in x (with α_k ~ N(0, 1) the sines dominate)."""
    df = synthetic.generate(n=4000, d=16, correlation=0.5, seed=3)
    x = np.c_[df[[f"x{i}" for i in range(16)]].to_numpy(), np.ones(len(df))]
    for task in ("y1", "y2"):
        y = df[task].to_numpy()
        residual = y - x @ np.linalg.lstsq(x, y, rcond=None)[0]
        assert 0.95 < 1 - residual.var() / y.var() < 0.9999  # linear, and yet not purely so


def test_synthetic_columns_and_determinism():
    cfg = config_of(synthetic_params(n=50, d=5))
    a, b = load_source(cfg), load_source(cfg)
    assert list(a.columns) == ["id", "x0", "x1", "x2", "x3", "x4", "y1", "y2"]
    assert set(a.columns) == available_columns(cfg)
    assert a["id"].is_unique and len(a) == 50
    pd.testing.assert_frame_equal(a, b)
    other = load_source(config_of(synthetic_params(n=50, d=5), {"data": {"synthetic": {"seed": 7}}}))
    assert not np.allclose(a["y1"], other["y1"])


def test_synthetic_needs_two_inputs():
    with pytest.raises(DataError, match=r"data.synthetic.d"):
        synthetic.generate(n=10, d=1, correlation=0.5)


# ------------------------------------------------------------------------------------------------- file
def test_file_csv_and_parquet_give_the_same_rows(tmp_path):
    csv = write_mixed_csv(tmp_path / "m.csv", n=60)
    parquet = tmp_path / "m.parquet"
    pd.read_csv(csv).to_parquet(parquet, index=False)
    from_csv = load_source(config_of(mixed_params(csv)))
    from_parquet = load_source(config_of(mixed_params(parquet)))
    pd.testing.assert_frame_equal(from_csv, from_parquet, check_dtype=False)
    assert available_columns(config_of(mixed_params(csv))) == set(from_csv.columns)
    assert available_columns(config_of(mixed_params(parquet))) == set(from_csv.columns)


def test_file_format_can_be_forced(tmp_path):
    csv = write_mixed_csv(tmp_path / "data.dump", n=20)
    cfg = config_of(mixed_params(csv))
    with pytest.raises(DataError, match=r"data\.dump.*data\.file\.format"):
        load_source(cfg)
    assert len(load_source(config_of(mixed_params(csv), {"data": {"file": {"format": "csv"}}}))) == 20


@pytest.mark.parametrize("sep", [";", "\t", "|"])
def test_a_csv_with_another_separator_is_named_and_read_with_data_file_sep(tmp_path, sep):
    csv = write_mixed_csv(tmp_path / "m.csv", n=20)
    pd.read_csv(csv).to_csv(csv, sep=sep, index=False)
    said = re.escape(repr(sep))
    with pytest.raises(DataError, match=rf"m\.csv: the header reads as one column .*separated by {said}: "
                                        rf"set data\.file\.sep: {said}"):
        load_source(config_of(mixed_params(csv)))
    rows = load_source(config_of(mixed_params(csv), {"data": {"file": {"sep": sep}}}))
    pd.testing.assert_frame_equal(rows, pd.read_csv(csv, sep=sep))


def test_available_columns_static_sets():
    assert available_columns(config_of(synthetic_params(), {"data": {"source": "flights"}})) == set(flights.COLUMNS)
    assert available_columns(config_of(synthetic_params(d=3))) == {"id", "x0", "x1", "x2", "y1", "y2"}


# ------------------------------------------------------------------------------------- arrival hooks
def test_flights_arrival_maps_a_cutoff_to_its_end_date():
    from datetime import date

    from mtlops.errors import UserError

    cfg = config_of(synthetic_params())  # the hook reads no params: the cut-off alone decides
    today = date(2026, 11, 23)
    assert Flights().arrival(cfg, "2013-02", today) == {"data.flights.end": "2013-02-28"}
    assert Flights().arrival(cfg, "2013-07-04", today) == {"data.flights.end": "2013-07-04"}
    # 'auto': the month before today's, mapped into 2013 (the data's only year)
    assert Flights().arrival(cfg, "auto", today) == {"data.flights.end": "2013-10-31"}
    assert Flights().arrival(cfg, "auto", date(2027, 1, 5)) == {"data.flights.end": "2013-12-31"}
    with pytest.raises(UserError, match="expected YYYY-MM-DD, YYYY-MM or 'auto'"):
        Flights().arrival(cfg, "June", today)


def test_only_sources_with_an_arrival_hook_offer_one():
    from datetime import date

    cfg = config_of(synthetic_params())
    assert source_of(cfg).arrival(cfg, "auto", date(2026, 11, 23)) is None  # the base class: no arrival
    cfg = config_of(synthetic_params(), {"data": {"source": "flights"}})
    assert source_of(cfg).arrival(cfg, "auto", date(2026, 11, 23)) == {"data.flights.end": "2013-10-31"}


# ------------------------------------------------------------------------------------- the contract
def test_importing_the_sources_loads_no_data_library():
    """Config load imports every source: their pandas, numpy and scikit-learn wait inside the methods."""
    import subprocess
    import sys

    code = ("import sys, mtlops.schema; before = set(sys.modules); import mtlops.data.sources; "
            "print(sorted({'pandas', 'numpy', 'sklearn', 'scipy', 'pyarrow'} & (set(sys.modules) - before)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_each_source_checks_its_own_options_at_config_load_naming_the_key():
    from mtlops.checks import check_config
    from mtlops.config import ConfigError, deep_merge, validate

    def load(data):
        cfg = validate(deep_merge(synthetic_params(), {"data": data}), source="p.yaml")
        check_config(cfg, "p.yaml")  # an example source's `data.options` is its own model's to check
        return cfg

    with pytest.raises(ConfigError,
                       match=r"p\.yaml: data\.flights\.ends: unknown key; allowed: \['delay_threshold_min'"):
        load({"source": "flights", "flights": {"ends": "2013-02-01"}})
    with pytest.raises(DataError, match=r"data\.options\.size \(source 'digits_boxes'\): unknown key; allowed"):
        load({"source": "digits_boxes", "options": {"size": 3}})
