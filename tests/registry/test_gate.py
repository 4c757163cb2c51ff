"""The promotion gate as a pure function: constructed metric sets in, decision and reasons out."""

from __future__ import annotations

import pytest

from mtlops.config import with_overrides
from mtlops.registry.gate import compare_task, gate
from tests.helpers import make_project


@pytest.fixture
def cfg(tmp_path):
    """Tasks: churn (roc_auc ↑), segment (accuracy ↑), amount (mae ↓); tolerance 1%, floor -5%."""
    cfg, _ = make_project(tmp_path, kind="mixed")
    return cfg


CHAMPION = {"churn": 0.80, "segment": 0.70, "amount": 2.00}


def test_better_everywhere_passes(cfg):
    d = gate({"churn": 0.82, "segment": 0.71, "amount": 1.90}, CHAMPION, 3.0, True, cfg)
    assert d.promote
    assert not d.failures
    assert sum(r.startswith("pass") for r in d.reasons) == 5  # validation, Δm, three tasks


def test_better_on_average_but_one_task_beyond_tolerance_is_refused(cfg):
    # churn and segment gain a lot, amount (lower is better) is 5% worse: tolerance is 1%
    d = gate({"churn": 0.95, "segment": 0.90, "amount": 2.10}, CHAMPION, 10.0, True, cfg)
    assert not d.promote
    assert len(d.failures) == 1
    assert "'amount'" in d.failures[0] and "worse beyond tolerance 1%" in d.failures[0]


def test_drop_within_tolerance_passes_and_sign_is_respected(cfg):
    # mae 2.00 → 2.015 is 0.75% worse (within 1%); auc 0.80 → 0.795 is 0.625% worse (within 1%)
    d = gate({"churn": 0.795, "segment": 0.70, "amount": 2.015}, CHAMPION, 0.0, True, cfg)
    assert d.promote, d.reasons
    # a lower mae is better, never a failure however large the change
    assert gate({"churn": 0.80, "segment": 0.70, "amount": 0.5}, CHAMPION, 0.0, True, cfg).promote


def test_per_task_tolerance_comes_from_config(tmp_path):
    cfg, _ = make_project(tmp_path, kind="mixed", overrides={})
    loose = with_overrides(cfg, {"tasks": [{**t.model_dump(), "tolerance": 0.10} for t in cfg.tasks]})
    worse = {"churn": 0.80, "segment": 0.70, "amount": 2.10}  # amount 5% worse
    assert not gate(worse, CHAMPION, 0.0, True, cfg).promote
    assert gate(worse, CHAMPION, 0.0, True, loose).promote


def test_delta_m_below_floor_is_refused(cfg):
    d = gate({"churn": 0.9, "segment": 0.9, "amount": 1.0}, CHAMPION, -5.01, True, cfg)
    assert not d.promote
    assert d.failures == [d.failures[0]] and "Δm vs single-task -5.01% < floor -5.00%" in d.failures[0]
    assert gate({"churn": 0.9, "segment": 0.9, "amount": 1.0}, CHAMPION, -5.0, True, cfg).promote


def test_failed_or_unknown_validation_is_refused(cfg):
    better = {"churn": 0.9, "segment": 0.9, "amount": 1.0}
    failed = gate(better, CHAMPION, 1.0, False, cfg)
    assert not failed.promote and "data validation failed" in failed.failures[0]
    unknown = gate(better, CHAMPION, 1.0, None, cfg)
    assert not unknown.promote and "no recorded result" in unknown.failures[0]
    relaxed = with_overrides(cfg, {"promotion": {"require_validation": False}})
    assert gate(better, CHAMPION, 1.0, False, relaxed).promote


def test_no_champion_judges_on_validation_and_delta_m(cfg):
    d = gate({"churn": 0.5, "segment": 0.3, "amount": 9.0}, None, 0.0, True, cfg)
    assert d.promote
    assert any("no champion" in r for r in d.reasons)
    assert not gate({"churn": 0.5, "segment": 0.3, "amount": 9.0}, None, -20.0, True, cfg).promote


def test_missing_delta_m_fails_unless_there_are_no_baselines(cfg):
    assert not gate(CHAMPION, CHAMPION, None, True, cfg).promote
    assert not gate(CHAMPION, CHAMPION, float("nan"), True, cfg).promote
    no_stl = with_overrides(cfg, {"baselines": {"stl": False}})
    assert gate(CHAMPION, CHAMPION, None, True, no_stl).promote


def test_compare_task_edge_cases(cfg):
    churn = cfg.task("churn")
    ok, reason = compare_task(churn, 0.7, None)
    assert ok and "champion has no such task" in reason
    ok, _ = compare_task(churn, float("nan"), float("nan"))  # undefined for both: nothing lost
    assert ok
    ok, _ = compare_task(churn, float("nan"), 0.8)
    assert not ok
    ok, reason = compare_task(churn, 0.8, 0.8)
    assert ok and "+0.00%" in reason
