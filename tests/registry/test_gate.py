"""The promotion gate as a pure function: constructed facts in, decision and reasons out."""

from __future__ import annotations

import math

import pytest

from mtlops.config import with_overrides
from mtlops.metrics.bootstrap import Interval
from mtlops.metrics.compare import Comparison
from mtlops.registry.gate import Facts, gate
from tests.helpers import make_project

NAN = math.nan
TASKS = ("churn", "segment", "amount")  # roc_auc ↑, accuracy ↑, mae ↓; tolerance 1% each


@pytest.fixture
def cfg(tmp_path):
    """Tasks churn, segment, amount (tolerance 1%); single-task tolerance 0; Δm floor -5%."""
    cfg, _ = make_project(tmp_path, kind="mixed")
    return cfg


def change(value: float, low: float, high: float, candidate: float = 0.8) -> Comparison:
    """A comparison whose relative change (fractions, positive = candidate better) is given."""
    return Comparison(candidate, candidate / (1 + value), Interval(value, low, high), relative=True)


SAME = change(0.0, -0.01, 0.01)
BETTER = change(0.05, 0.03, 0.07)


def facts(single=None, champion=None, vs=None, dm=1.0, validation=True, unusable=None, skipped=False,
          models=None) -> Facts:
    return Facts(
        validation_passed=validation,
        validation_skipped=skipped,
        delta_m_vs_stl=dm,
        single_task=dict.fromkeys(TASKS, SAME) | (single or {}),
        single_task_models=models or {},
        champion=champion,
        vs_champion=(dict.fromkeys(TASKS, SAME) | (vs or {})) if champion else {},
        champion_unusable=unusable,
    )


def test_as_good_everywhere_passes_with_one_reason_per_check(cfg):
    d = gate(facts(champion="1", vs={"churn": BETTER}), cfg)
    assert d.promote and not d.failures and not d.missing_evidence
    # validation, three tasks vs single-task, three vs the champion, Δm
    assert sum(r.startswith("pass") for r in d.reasons) == 8


def test_a_task_worse_than_the_champion_with_confidence_is_refused_by_name(cfg):
    # amount is 4% worse and the whole interval lies below -1%, although the others gain a lot
    d = gate(facts(champion="1", vs={"churn": BETTER, "segment": BETTER, "amount": change(-0.04, -0.06, -0.02)},
                   dm=10.0), cfg)
    assert not d.promote and not d.missing_evidence
    assert len(d.failures) == 1
    assert "'amount'" in d.failures[0] and "vs champion v1" in d.failures[0]
    assert "-4.00% [-6.00%, -2.00%]" in d.failures[0]
    assert "worse beyond tolerance 1% with 95% confidence" in d.failures[0]


def test_the_interval_decides_not_the_point_estimate(cfg):
    noise = change(-0.03, -0.07, 0.01)  # 3% worse at the point, but the interval reaches +1%
    d = gate(facts(champion="1", vs={"amount": noise}), cfg)
    assert d.promote, d.reasons
    (reason,) = [r for r in d.reasons if "'amount'" in r and "champion" in r]
    assert reason.startswith("pass") and "at the point estimate only" in reason
    # the same point estimate with a tight interval is a regression
    assert not gate(facts(champion="1", vs={"amount": change(-0.03, -0.04, -0.02)}), cfg).promote


def test_tolerance_is_per_task_and_from_config(cfg):
    worse = {"amount": change(-0.05, -0.07, -0.03)}
    assert not gate(facts(champion="1", vs=worse), cfg).promote
    loose = with_overrides(cfg, {"tasks": [{**t.model_dump(), "tolerance": 0.10} for t in cfg.tasks]})
    assert gate(facts(champion="1", vs=worse), loose).promote


def test_negative_transfer_refuses_unless_the_task_may_trade_off(cfg):
    below = {"segment": change(-0.02, -0.03, -0.005)}
    d = gate(facts(single=below), cfg)
    assert not d.promote and len(d.failures) == 1
    assert "'segment'" in d.failures[0] and "vs single-task" in d.failures[0] and "negative transfer" in d.failures[0]

    allowed = gate(facts(single=below), with_overrides(cfg, {"promotion": {"allow_tradeoff": ["segment"]}}))
    assert allowed.promote
    (note,) = [r for r in allowed.reasons if "'segment'" in r]
    assert note.startswith("note") and "promotion.allow_tradeoff" in note and "[-3.00%, -0.50%]" in note

    tolerant = with_overrides(cfg, {"promotion": {"single_task_tolerance": 0.01}})
    assert gate(facts(single=below), tolerant).promote  # the interval does not lie below -1%


def test_a_served_task_worse_than_its_best_single_task_model_is_refused_naming_that_model(cfg):
    """Each task is judged against the better on validation of its single-task network and its LightGBM; the
    reason names which, and a shortfall against LightGBM is not called negative transfer."""
    models = {"churn": "LightGBM", "segment": "network", "amount": "LightGBM"}
    d = gate(facts(single={"churn": change(-0.02, -0.03, -0.01)}, models=models), cfg)
    assert not d.promote and not d.missing_evidence
    (failure,) = d.failures
    assert "task 'churn'" in failure and "vs single-task LightGBM" in failure
    assert "(worse than its single-task LightGBM)" in failure and "negative transfer" not in failure
    passed = [r for r in d.reasons if r.startswith("pass") and "single-task" in r and "task '" in r]
    assert [r.split(" vs ")[1].split(":")[0] for r in passed] == ["single-task network", "single-task LightGBM"]
    # within tolerance of LightGBM it passes, as against the network
    tolerant = with_overrides(cfg, {"promotion": {"single_task_tolerance": 0.05}})
    assert gate(facts(single={"churn": change(-0.02, -0.03, -0.01)}, models=models), tolerant).promote


def test_an_unknown_trade_off_task_is_a_config_error(cfg):
    from mtlops.schema import ConfigError

    with pytest.raises((ConfigError, ValueError), match=r"allow_tradeoff.*'nope'"):
        with_overrides(cfg, {"promotion": {"allow_tradeoff": ["nope"]}})


def test_delta_m_is_a_secondary_floor(cfg):
    d = gate(facts(dm=-5.01), cfg)
    assert not d.promote and d.failures == ["FAIL: Δm vs single-task -5.01% < floor -5.00%"]
    assert gate(facts(dm=-5.0), cfg).promote
    off = with_overrides(cfg, {"promotion": {"delta_m_floor": None}})
    assert gate(facts(dm=-50.0), off).promote


def test_failed_validation_refuses_and_no_record_fails_closed(cfg):
    failed = gate(facts(validation=False), cfg)
    assert not failed.promote and "data validation failed" in failed.failures[0] and not failed.missing_evidence
    unknown = gate(facts(validation=None), cfg)
    assert not unknown.promote and unknown.missing_evidence == ["FAIL: data validation has no recorded result; "
                                                                "no evidence, refused (fail closed)"]
    relaxed = with_overrides(cfg, {"promotion": {"require_validation": False}})
    assert gate(facts(validation=False), relaxed).promote


def test_skipped_validation_is_not_a_pass_and_is_refused_by_name(cfg):
    """validation.enabled: false recorded "success: true" before #25, and the gate said "data validation passed"."""
    d = gate(facts(validation=None, skipped=True), cfg)
    assert not d.promote and not any("validation passed" in r for r in d.reasons)
    assert d.missing_evidence == [d.failures[0]]
    assert "data validation was skipped (validation.enabled: false)" in d.failures[0]
    assert "promotion.require_validation" in d.failures[0]
    policy = with_overrides(cfg, {"promotion": {"require_validation": False}})
    relaxed = gate(facts(validation=None, skipped=True), policy)
    assert relaxed.promote and "it was skipped" in relaxed.reasons[0]


def test_no_champion_judges_on_validation_single_task_and_delta_m(cfg):
    d = gate(facts(), cfg)
    assert d.promote and any(r.startswith("note: no champion") for r in d.reasons)
    assert not gate(facts(dm=-20.0), cfg).promote


@pytest.mark.parametrize(
    ("case", "kwargs", "named"),
    [
        ("champion unusable", {"champion": "3", "unusable": "model 'm' v3 cannot be loaded: gone"}, "cannot be loaded"),
        ("metric undefined on both", {"champion": "3", "vs": {"churn": change(NAN, NAN, NAN, NAN)}}, "undefined"),
        ("metric undefined on one",
         {"champion": "3", "vs": {"churn": Comparison(0.8, NAN, Interval(NAN, NAN, NAN), relative=True)}}, "undefined"),
        ("no interval", {"champion": "3", "vs": {"churn": change(0.0, NAN, NAN)}}, "no resample"),
        ("champion lacks a task", {"champion": "3", "vs": {"amount": "the champion does not predict this task"}},
         "does not predict"),
        ("missing baseline", {"single": {"amount": "no single-task model (stl_amount.pt not found)"}}, "not found"),
        ("no Δm", {"dm": NAN}, "unavailable"),
    ],
)
def test_missing_evidence_fails_closed(cfg, case, kwargs, named):
    d = gate(facts(**kwargs), cfg)
    assert not d.promote, case
    assert len(d.missing_evidence) == 1 and named in d.missing_evidence[0], d.reasons
    assert d.missing_evidence[0].startswith("FAIL") and d.missing_evidence[0].endswith("(fail closed)")


def test_a_trade_off_task_needs_no_baseline_but_still_faces_the_champion(cfg):
    policy = with_overrides(cfg, {"promotion": {"allow_tradeoff": ["amount"]}})
    d = gate(facts(single={"amount": "no single-task model (baselines.stl is false)"}), policy)
    assert d.promote and any(r.startswith("note") and "'amount'" in r for r in d.reasons)
    worse = gate(facts(champion="1", vs={"amount": change(-0.05, -0.07, -0.03)}), policy)
    assert not worse.promote and "'amount'" in worse.failures[0]


def test_the_gate_judges_relative_changes_only(cfg):
    absolute = Comparison(0.8, 0.79, Interval(0.01, 0.0, 0.02), relative=False)
    with pytest.raises(ValueError, match="relative"):
        gate(facts(single={"churn": absolute}), cfg)


def test_a_tie_reads_as_zero_change_not_a_signed_zero(cfg):
    """A candidate equal to the champion (a rerun with nothing changed) gives -0.0 changes for a lower-is-better
    metric; the reason says +0.00% throughout, never an interval that reads "[+0.00%, -0.00%]"."""
    tie = change(-0.0, -0.0, 0.0)
    d = gate(facts(champion="1", vs=dict.fromkeys(TASKS, tie)), cfg)
    lines = [r for r in d.reasons if "vs champion" in r]
    assert len(lines) == 3 and all("change +0.00% [+0.00%, +0.00%]" in r for r in lines), lines
    assert d.promote
