"""Monthly replay: the months it walks, and two real months of flights through the flow."""

from __future__ import annotations

import pytest
import yaml

from mtlops.config import deep_merge
from mtlops.errors import UserError
from mtlops.orchestration.dvc import StageFailed
from mtlops.orchestration.replay import failed_row, months, short_reason
from tests.orchestration.helpers import REPO, registered_versions


def test_months_walk_across_the_year_and_refuse_a_backward_range():
    assert months("2013-11", "2014-01") == ["2013-11", "2013-12", "2014-01"]
    assert months("2013-06", "2013-06") == ["2013-06"]
    with pytest.raises(UserError, match="after"):
        months("2013-06", "2013-01")
    with pytest.raises(UserError, match="expected YYYY-MM"):
        months("June", "2013-07")


def test_a_failed_month_names_its_reason_in_one_short_cell():
    err = StageFailed("stage 'prepare': split: the train part is empty (train < 2012-12-30 <= val < 2013-01-29 "
                      "<= test; the data's 'date' runs 2013-01-01..2013-02-28); check split.val_days\nmore")
    row = failed_row("2013-02", err, 3.0)
    assert row["promotion"]["decision"] == "run failed: stage 'prepare': split: the train part is empty"
    assert row["promotion"]["champion"] is None and row["challenger"] == {}
    long = short_reason(StageFailed("stage 'train': " + "word " * 40 + "| end"))
    assert len(long) <= 80 and long.endswith("…") and not long[:-1].endswith(" ")
    assert short_reason(StageFailed("stage 'ingest': column a|b is missing")) == "stage 'ingest': column a/b is missing"


@pytest.mark.e2e
@pytest.mark.xdist_group("prefect")
def test_two_simulated_months_make_a_champion_then_a_gate_decision(tmp_path, prefect_harness):
    """Flights, January then February 2013: month one crowns a champion, month two is monitored on its
    arriving rows, then gated on new data."""
    from mtlops.orchestration.replay import simulate

    root = tmp_path / "sim"
    root.mkdir()
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params = deep_merge(params, {
        "project": {"model_name": "sim-mtl", "experiment": "sim"},
        "split": {"val_days": 5, "test_days": 5, "max_train_rows": 3000},
        # January -> January+February nearly doubles the rows: the shipped drift checks (rows per day) pass it
        "validation": {"min_rows": 1000},
        "train": {"epochs": 1, "batch_size": 512, "device": "cpu"},
        "baselines": {"gbdt_params": {"n_estimators": 10, "num_leaves": 7}},
        "search": {"enabled": False},
        "evaluation": {"bootstrap": 20},
        # a 1-epoch model may trail its single-task models: this test is about the replay, not the gate
        "promotion": {"delta_m_floor": -1000.0, "allow_tradeoff": ["delayed", "cancelled", "arr_delay"]},
    })
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))

    rows = simulate(root / "params.yaml", start="2013-01", end="2013-02", through_dvc=False)

    assert [r["month"] for r in rows] == ["2013-01", "2013-02"]
    first, second = rows[0]["promotion"], rows[1]["promotion"]
    assert first["promoted"] and int(first["champion"]) == int(first["version"]) == 1
    assert int(second["version"]) == 2 and second["decision"] and second["reasons"]
    versions = {int(v.version): v for v in registered_versions(root, "sim-mtl")}
    assert set(versions) == {1, 2}
    assert any("decision" in key for key in versions[2].tags), versions[2].tags
    assert yaml.safe_load((root / "params.yaml").read_text())["data"]["flights"]["end"] == "2013-02-28"
    report = (root / "reports" / "simulation.md").read_text()
    assert "| 2013-01 |" in report and "| 2013-02 |" in report and "delayed roc_auc ↑ challenger" in report
    assert (root / "reports" / "simulation.png").stat().st_size > 0
    assert rows[1]["champion_before"] and all(r["seconds"] > 0 for r in rows)
    # between the months the monitor checks the champion on the arriving rows (none in month one)
    assert rows[0]["monitor"]["verdict"].startswith("—") and "champion" in rows[0]["monitor"]["verdict"]
    watched = rows[1]["monitor"]
    assert watched["verdict"] in ("ok", "drifted", "degraded") and watched["version"] == "1"
    assert all(isinstance(watched["realised"][t], float) for t in ("delayed", "cancelled", "arr_delay"))
    assert "champion on arriving rows" in report and f"{watched['verdict']} (v1," in report
