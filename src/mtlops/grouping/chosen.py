"""The groups the grouping stage chose (data/models/grouping.json), as the train stage follows them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mtlops.errors import DataError
from mtlops.io import read_json

if TYPE_CHECKING:
    from mtlops.paths import Paths
    from mtlops.schema import Config


def task_groups(cfg: Config, paths: Paths) -> list[list[str]]:
    """The grouping stage's groups of target tasks (all in one group when grouping is off), checked against them;
    auxiliary tasks are not grouped: every trained network trains them (`cfg.trained_with`)."""
    if not cfg.grouping.enabled:
        return [cfg.target_names]
    try:
        groups = read_json(paths.grouping, "task grouping").get("groups")
    except FileNotFoundError as err:
        raise DataError(f"{err}; run `mtlops grouping`") from None
    served = [t for g in groups or [] for t in g]
    if sorted(served) != sorted(cfg.target_names) or len(set(served)) != len(served):
        raise DataError(f"{paths.grouping}: groups {groups} do not serve each of the tasks {cfg.target_names} once; "
                        "rerun `mtlops grouping`")
    return groups
