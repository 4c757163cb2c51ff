"""Candidate partitions (all of them, or proposed by affinity) and how a partition is scored and chosen."""

from __future__ import annotations

import math

import pytest

from mtlops.grouping.partitions import affinity_partitions, choose, groups_of, score, set_partitions

HIGHER = {"a": True, "b": True, "c": False}


@pytest.mark.parametrize(("n", "bell"), [(1, 1), (2, 2), (3, 5), (4, 15), (5, 52)])
def test_every_partition_once_each_serving_every_task_once(n, bell):
    tasks = [f"t{i}" for i in range(n)]
    partitions = set_partitions(tasks)
    assert len(partitions) == bell
    assert len({tuple(p) for p in partitions}) == bell
    for p in partitions:
        assert sorted(t for g in p for t in g) == tasks
    assert partitions[0] == [tuple(tasks)]  # fewest groups first: all together
    assert [len(p) for p in partitions] == sorted(len(p) for p in partitions)


def test_groups_to_train_are_the_distinct_groups_of_the_candidates():
    groups = groups_of(set_partitions(["a", "b", "c"]))
    assert sorted(groups) == sorted([("a", "b", "c"), ("a", "b"), ("a", "c"), ("b", "c"), ("a",), ("b",), ("c",)])
    assert len(groups[0]) == 3


def test_affinity_merges_the_most_mutually_helpful_tasks_first_and_the_unrelated_one_last():
    tasks = ["a", "b", "c", "d", "noise"]
    # a↔b help each other most, then c↔d, then the two pairs; noise neither helps nor is helped (or hurts)
    z = {("a", "b"): 0.3, ("c", "d"): 0.2, ("a", "c"): 0.1, ("b", "d"): 0.1, ("a", "d"): 0.05, ("b", "c"): 0.05}
    matrix = [[z.get((i, j), z.get((j, i), 0.0)) if i != j else 0.5 for j in tasks] for i in tasks]
    matrix[4][0] = matrix[0][4] = -0.1
    levels = affinity_partitions(tasks, matrix)
    assert [len(p) for p in levels] == [1, 2, 3, 4, 5]
    assert levels[-1] == [(t,) for t in tasks]
    assert levels[3] == [("a", "b"), ("c",), ("d",), ("noise",)]
    assert levels[2] == [("a", "b"), ("c", "d"), ("noise",)]
    assert levels[1] == [("a", "b", "c", "d"), ("noise",)]
    assert len(groups_of(levels)) == 2 * len(tasks) - 1  # T singletons, T − 1 merges: not every subset


def test_unmeasured_pairs_count_as_no_affinity():
    levels = affinity_partitions(["a", "b", "c"], [[None, 0.2, None], [0.2, None, None], [None, None, None]])
    assert levels[1] == [("a", "b"), ("c",)]


def test_a_partition_takes_each_task_from_the_group_serving_it():
    metrics = {
        ("a", "b", "c"): {"a": 0.80, "b": 0.70, "c": 1.2},
        ("a", "b"): {"a": 0.90, "b": 0.60},
        ("a",): {"a": 0.80}, ("b",): {"b": 0.60}, ("c",): {"c": 1.0},
    }
    reference = {"a": 0.80, "b": 0.60, "c": 1.0}
    alone = score([("a",), ("b",), ("c",)], metrics, reference, HIGHER, penalty=1.0)
    assert alone["delta_m"] == 0.0 and alone["score"] == 0.0  # alone: the reference itself
    split = score([("a", "b"), ("c",)], metrics, reference, HIGHER, penalty=1.0)
    assert split["delta_m"] == pytest.approx(100 / 3 * (0.1 / 0.8))
    assert split["shortfalls"] == {"a": 0.0, "b": 0.0, "c": 0.0}
    shared = score([("a", "b", "c")], metrics, reference, HIGHER, penalty=1.0)
    # b +16.7 %, c 20 % worse (lower is better): Δm ≈ −1.1, and c's shortfall is charged again
    assert shared["delta_m"] == pytest.approx(100 / 3 * (0.1 / 0.6 - 0.2))
    assert shared["shortfalls"]["c"] == pytest.approx(20.0)
    assert shared["score"] == pytest.approx(shared["delta_m"] - 20.0)


def test_fewer_groups_win_within_the_noise_band_a_clear_winner_beyond_it():
    shared = {"groups": [["a", "b", "c"]], "score": 1.0}
    split = {"groups": [["a", "b"], ["c"]], "score": 1.4}
    alone = {"groups": [["a"], ["b"], ["c"]], "score": 0.0}
    assert choose([split, shared, alone], noise_band=0.5) is shared
    assert choose([split, shared, alone], noise_band=0.3) is split
    broken = {"groups": [["a", "c"], ["b"]], "score": math.nan}
    assert choose([broken, alone], noise_band=0.5) is alone
    with pytest.raises(ValueError, match="finite"):
        choose([broken], noise_band=0.5)


@pytest.mark.parametrize("penalty", [0.0, 1.0])
def test_a_diverged_group_never_wins(penalty):
    """Group (a, b) trained to NaN metrics: before #25 the partition [(a, b), (c)] scored on c alone (Δm
    leaves NaN tasks out, shortfall 0) and beat every finite alternative."""
    nan = math.nan
    metrics = {
        ("a", "b", "c"): {"a": 0.78, "b": 0.58, "c": 1.05},  # a little worse everywhere: a negative score
        ("a", "b"): {"a": nan, "b": nan},
        ("a",): {"a": 0.80}, ("b",): {"b": 0.60}, ("c",): {"c": 1.0},
        ("a", "c"): {"a": 0.79, "c": 1.01}, ("b", "c"): {"b": 0.59, "c": 1.02},
    }
    reference = {"a": 0.80, "b": 0.60, "c": 1.0}
    scored = [{"groups": [list(g) for g in p], **score(p, metrics, reference, HIGHER, penalty)}
              for p in set_partitions(["a", "b", "c"])]
    diverged = next(s for s in scored if s["groups"] == [["a", "b"], ["c"]])
    assert math.isnan(diverged["score"]) and diverged["not_finite"] == ["a", "b"]
    chosen = choose(scored, noise_band=0.0)
    assert ["a", "b"] not in chosen["groups"] and math.isfinite(chosen["score"])
    assert chosen["groups"] == [["a"], ["b"], ["c"]]  # the only partition at the reference (score 0)


def test_a_task_no_group_can_measure_counts_against_none():
    metrics = {("a", "b"): {"a": 0.9, "b": math.nan}, ("a",): {"a": 0.8}, ("b",): {"b": math.nan}}
    shared = score([("a", "b")], metrics, {"a": 0.8}, {"a": True, "b": True}, penalty=1.0)
    assert shared["score"] == pytest.approx(12.5) and "not_finite" not in shared
