"""Candidate task groupings and how they are scored (pure: no training, no files).

A partition is a list of groups, each a tuple of task names; a group of one task is that task alone.
Few tasks: every partition is a candidate (Bell(T): 5 for 3 tasks, 15 for 4). More tasks: the
inter-task affinity matrix (Fifty et al., NeurIPS 2021) proposes candidates, one per number of
groups, by merging the two groups with the highest mutual affinity until one group is left.

A partition is scored on validation like a search trial: Δm of the tasks' primary metrics, each from
the group that serves it, against the single-task reference, less `penalty` × each task's shortfall
below it. The partition chosen has the fewest groups within `noise_band` of the best score, so
sharing everything stays the answer unless a split clearly wins (the search's rule: `mtlops.metrics.selection`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from itertools import combinations

from mtlops.metrics.delta_m import delta_m
from mtlops.metrics.selection import cheapest_within_band, penalised_score, shortfalls

Group = tuple[str, ...]
Partition = list[Group]


def set_partitions(tasks: Sequence[str]) -> list[Partition]:
    """Every partition of `tasks` (groups and tasks within them in the given order), fewest groups first."""
    def extend(i: int, groups: list[list[str]]):
        if i == len(tasks):
            yield [tuple(g) for g in groups]
            return
        for g in groups:
            g.append(tasks[i])
            yield from extend(i + 1, groups)
            g.pop()
        groups.append([tasks[i]])
        yield from extend(i + 1, groups)
        groups.pop()

    return sorted(extend(0, []), key=len) if tasks else []


def mutual_affinity(matrix: Sequence[Sequence[float | None]], tasks: Sequence[str], a: Group, b: Group) -> float:
    """Mean of Z[i→j] and Z[j→i] over every pair across the two groups (unmeasured pairs count 0)."""
    index = {t: k for k, t in enumerate(tasks)}
    values = [matrix[index[i]][index[j]] for x in a for y in b for i, j in ((x, y), (y, x))]
    return sum(v if v is not None and math.isfinite(v) else 0.0 for v in values) / len(values)


def affinity_partitions(tasks: Sequence[str], matrix: Sequence[Sequence[float | None]]) -> list[Partition]:
    """Candidates from the affinity matrix (rows: the task stepped on, columns: the task affected): from every
    task alone, repeatedly merge the two groups with the highest mutual affinity; one partition per level."""
    order = {t: k for k, t in enumerate(tasks)}
    groups: Partition = [(t,) for t in tasks]
    levels = [list(groups)]
    while len(groups) > 1:
        a, b = max(combinations(groups, 2), key=lambda pair: mutual_affinity(matrix, tasks, *pair))
        merged = tuple(sorted(a + b, key=order.__getitem__))
        groups = sorted([g for g in groups if g not in (a, b)] + [merged], key=lambda g: order[g[0]])
        levels.append(list(groups))
    return sorted(levels, key=len)


def groups_of(partitions: Sequence[Partition]) -> list[Group]:
    """The distinct groups the partitions use (each needs one training), larger groups first."""
    seen = dict.fromkeys(g for p in partitions for g in p)
    return sorted(seen, key=lambda g: -len(g))


def score(
    partition: Partition,
    group_metrics: Mapping[Group, Mapping[str, float]],
    reference: Mapping[str, float],
    higher: Mapping[str, bool],
    penalty: float,
) -> dict:
    """{"delta_m", "shortfalls", "score"} of a partition: each task's metric from the group serving it.

    A task whose group gives no finite metric (its training diverged, or it was not trained) while another
    group measured it makes the score NaN, with the tasks named in "not_finite": such a partition is never
    chosen, whatever the rest of it scores (Δm alone would leave the task out and score the partition on the
    others). A task no group can measure counts against none."""
    metrics = {t: group_metrics.get(g, {}).get(t, math.nan) for g in partition for t in g}
    below = shortfalls(metrics, reference, higher)
    dm = delta_m(metrics, reference, higher)
    out = {"delta_m": dm, "shortfalls": below, "score": penalised_score(dm, below, penalty)}
    measured = {t for ms in group_metrics.values() for t, m in ms.items() if _finite(m)}
    broken = [t for t, m in metrics.items() if not _finite(m) and t in measured]
    if broken:
        out |= {"score": math.nan, "not_finite": broken}
    return out


def _finite(x: float | None) -> bool:
    return x is not None and math.isfinite(x)


def choose(scored: Sequence[dict], noise_band: float) -> dict:
    """The entry (with "groups" and "score") with the fewest groups within `noise_band` of the best finite
    score (ties: the better score, then the earlier entry); none finite is an error."""
    chosen = cheapest_within_band(scored, lambda s: s["score"], lambda s: (len(s["groups"]), -s["score"]), noise_band)
    if chosen is None:
        raise ValueError("grouping: no candidate partition has a finite validation score")
    return chosen
