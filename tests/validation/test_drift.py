"""Drift against the last accepted snapshot when data arrives over time (params.yaml's drift defaults):
a month's ordinary growth passes; half the rows missing, or a flood of unseen categories, fails."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from mtlops.validation import ValidationFailed
from mtlops.validation.run import validate
from tests.orchestration.helpers import REPO
from tests.validation.helpers import project, write_snapshot

PER_DAY = 40


def _params(tmp_path) -> dict:
    drift = yaml.safe_load((REPO / "params.yaml").read_text())["validation"]["drift"]  # the shipped defaults
    return {
        "project": {"name": "arrivals", "experiment": "arrivals", "model_name": "arrivals", "seed": 0},
        "data": {"source": "file", "file": {"path": str(tmp_path / "rows.csv")}, "key": ["id"], "date_column": "date"},
        "features": {"numeric": ["x"], "categorical": ["shop"]},
        "tasks": [{"name": "y", "column": "y", "type": "regression", "metric": "mae"}],
        "split": {"method": "time", "val_days": 5, "test_days": 5},
        "validation": {"min_rows": 10, "drift": drift},
    }


def _rows(days: int, seed: int = 0, shops: tuple[str, ...] = ("a", "b", "c", "d")) -> pd.DataFrame:
    """PER_DAY rows a day (give or take 10 %) from 2013-01-01, the same kinds of rows every day."""
    rng = np.random.default_rng(seed)
    per_day = rng.integers(int(PER_DAY * 0.9), int(PER_DAY * 1.1), size=days)
    dates = np.repeat(pd.date_range("2013-01-01", periods=days), per_day)
    n = len(dates)
    return pd.DataFrame({"id": np.arange(n), "date": dates, "x": rng.normal(size=n),
                         "shop": rng.choice(shops, size=n), "y": rng.normal(size=n)})


@pytest.fixture
def january(tmp_path):
    """A project whose accepted snapshot is January."""
    cfg, paths = project(tmp_path / "proj", _params(tmp_path))
    write_snapshot(paths, _rows(31))
    validate(cfg, paths)
    return cfg, paths


def _drift_failures(err: ValidationFailed) -> set[str]:
    return {c["check"] for c in err.summary["drift"]["checks"] if c["status"] == "fail"}


def test_a_month_of_growth_passes_on_the_arrival_rate(january):
    cfg, paths = january
    write_snapshot(paths, _rows(59, seed=1))  # January + February: 1.9x the rows
    summary = validate(cfg, paths)
    assert summary["success"] and summary["drift"]["failures"] == 0
    assert summary["drift"]["reference_days"] == 31

    # judged on total rows, as before, the next month's growth (59 -> 90 days) stops the run
    total, _ = project(paths.root, _params(paths.root.parent),
                       {"validation": {"drift": {"row_count_change": {"per_day": False}}}})
    write_snapshot(paths, _rows(90, seed=2))
    with pytest.raises(ValidationFailed) as info:
        validate(total, paths)
    assert _drift_failures(info.value) == {"row_count_change"}


def _thinned(rows: pd.DataFrame, since: str, keep: float) -> pd.DataFrame:
    """`rows` with only a `keep` share of the rows dated `since` or later (a partial newest stretch)."""
    late = rows["date"] >= since
    kept = rows[late].sample(frac=keep, random_state=0)
    return pd.concat([rows[~late], kept]).sort_values("id").reset_index(drop=True)


@pytest.mark.parametrize(
    ("reference_days", "days", "since", "keep"),
    [(334, 365, "2013-12-01", 0.1),  # December at a tenth of its rate, after eleven months
     (31, 59, "2013-02-01", 0.5),  # February at half its rate, after January
     (334, 341, "2013-12-01", 0.2)],  # a week at a fifth of its rate
)
def test_a_thin_newest_stretch_fails_on_its_own_arrival_rate(tmp_path, reference_days, days, since, keep):
    """The whole snapshot's rate hides it (the months before dilute it); the new days' own rate does not."""
    cfg, paths = project(tmp_path / "proj", _params(tmp_path))
    write_snapshot(paths, _rows(reference_days))
    validate(cfg, paths)
    reference = paths.accepted_profile.read_text()

    write_snapshot(paths, _thinned(_rows(days, seed=1), since, keep))
    with pytest.raises(ValidationFailed) as info:
        validate(cfg, paths)
    assert _drift_failures(info.value) == {"arrival_rate"}  # row_count_change alone passed it before #25
    check = next(c for c in info.value.summary["drift"]["checks"] if c["check"] == "arrival_rate")
    assert check["value"] == pytest.approx(1 - keep, abs=0.12)
    assert info.value.summary["drift"]["new_days"]["first"] == since
    assert paths.accepted_profile.read_text() == reference

    write_snapshot(paths, _rows(days, seed=1))  # the same stretch at its usual rate passes
    summary = validate(cfg, paths)
    assert summary["success"] and summary["drift"]["failures"] == 0
    assert {c["check"] for c in summary["drift"]["checks"]} >= {"row_count_change", "arrival_rate"}


def test_half_the_rows_missing_fails_on_the_arrival_rate(january):
    cfg, paths = january
    reference = paths.accepted_profile.read_text()
    grown = _rows(59, seed=1)
    write_snapshot(paths, grown.sample(frac=0.5, random_state=0).sort_values("id"))
    with pytest.raises(ValidationFailed) as info:
        validate(cfg, paths)
    assert _drift_failures(info.value) == {"row_count_change", "arrival_rate"}  # the new days are half too
    assert paths.accepted_profile.read_text() == reference


def test_a_flood_of_unseen_categories_fails(january):
    cfg, paths = january
    grown = _rows(59, seed=1)
    flooded = grown.index[grown["date"] >= "2013-02-01"]
    grown.loc[flooded, "shop"] = np.random.default_rng(3).choice(["x", "y", "z"], size=len(flooded))
    write_snapshot(paths, grown)
    with pytest.raises(ValidationFailed) as info:
        validate(cfg, paths)
    assert _drift_failures(info.value) == {"unseen_categories"}
