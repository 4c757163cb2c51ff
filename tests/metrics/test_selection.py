"""The selection rule the search and the grouping share: Δm less a penalty per shortfall, then the
cheapest candidate within the noise band."""

from __future__ import annotations

import math

from mtlops.metrics.selection import cheapest_within_band, penalised_score, shortfalls

HIGHER = {"auc": True, "mae": False}


def test_a_shortfall_is_how_far_a_task_falls_below_its_reference_in_percent():
    below = shortfalls({"auc": 0.72, "mae": 9.0}, {"auc": 0.8, "mae": 10.0}, HIGHER)
    assert math.isclose(below["auc"], 10.0) and below["mae"] == 0.0  # mae improved: no shortfall
    assert list(below) == ["auc", "mae"]


def test_no_usable_reference_is_no_shortfall_and_digits_round():
    assert shortfalls({"auc": 0.5, "mae": 9.0}, {"mae": float("nan")}, HIGHER) == {"auc": 0.0, "mae": 0.0}
    assert shortfalls({"auc": 0.7}, {"auc": 0.9}, HIGHER, digits=6) == {"auc": round(100 * 0.2 / 0.9, 6)}


def test_the_score_is_delta_m_less_the_penalty_per_shortfall():
    assert penalised_score(3.0, {"auc": 1.0, "mae": 0.5}, 2.0) == 0.0


def test_the_cheapest_within_the_band_wins_and_cost_breaks_ties():
    cands = [("big", 2.0, 100), ("small", 1.7, 10), ("tiny", 0.5, 1)]

    def pick(band):
        return cheapest_within_band(cands, lambda c: c[1], lambda c: (c[2], -c[1]), band)[0]

    assert (pick(0.5), pick(0.2), pick(5.0)) == ("small", "big", "tiny")
    assert cheapest_within_band([], lambda c: c, lambda c: c, 1.0) is None


def test_a_diverged_task_falls_infinitely_short_and_its_candidate_is_never_chosen():
    """A NaN metric against a usable reference is a diverged task, not a missing one (#25)."""
    below = shortfalls({"auc": math.nan, "mae": 9.0}, {"auc": 0.8, "mae": 10.0}, HIGHER)
    assert below == {"auc": math.inf, "mae": 0.0}
    for penalty in (0.0, 1.0):
        assert math.isnan(penalised_score(5.0, below, penalty))
    cands = [("diverged", math.nan, 1), ("worse", -3.0, 100), ("inf", math.inf, 1)]
    assert cheapest_within_band(cands, lambda c: c[1], lambda c: c[2], 10.0)[0] == "worse"
    assert cheapest_within_band(cands[:1], lambda c: c[1], lambda c: c[2], 10.0) is None
