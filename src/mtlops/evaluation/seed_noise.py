"""Training-seed noise: the final model trained again with other seeds, each task's test metric per seed.

Off by default (`evaluation.seed_runs: 0`: it costs N more trainings). With N > 0 the evaluate stage
trains the config exactly as the train stage did (the search's overlay applied, the same task groups, the
same recipe and data) N more times, with seeds `project.seed + 1 … + N`, and scores each on the test
split like the model itself. Per task the report gives the N + 1 values (the evaluated model's first),
their spread (max − min) and standard deviation, next to the half-width of the paired bootstrap interval
of the change vs the single-task model: the bootstrap measures test-row noise with the weights fixed,
the seeds measure what training itself varies. A gate decision on a change smaller than the seed spread
is within training noise; another CPU of the same kind gives results that differ by about that much.

A task served by its single-task network (a group of one) does not retrain: its spread is 0.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mtlops.config import with_overrides
from mtlops.metrics.per_task import primary

if TYPE_CHECKING:
    from mtlops.paths import Paths
    from mtlops.schema import Config


def seed_noise(
    cfg: Config,
    paths: Paths,
    groups: Sequence[Sequence[str]],
    reference: dict[str, float] | None,
    test: dict[str, np.ndarray],
    runs: int,
    own: dict[str, float],
) -> dict[str, Any]:
    """`cfg` as trained (overlay applied), its `groups` and early-stopping `reference`; `own`: the evaluated
    model's primary metric per task. Returns {"runs", "seeds", "tasks": {task: {"metric", "values", "spread",
    "std"}}}."""
    from mtlops.training import predict
    from mtlops.training.groups import train_groups

    seeds = [cfg.project.seed + k for k in range(1, runs + 1)]
    values: dict[str, list[float]] = {t.name: [own[t.name]] for t in cfg.target_tasks}
    for seed in seeds:
        seeded = with_overrides(cfg, {"project": {"seed": seed}})
        with tempfile.TemporaryDirectory(prefix="mtlops-seed-") as folder:  # no checkpoint survives: nothing resumes
            model, _ = train_groups(seeded, paths, [list(g) for g in groups], Path(folder), reference)
        preds = predict(model, test)
        for task in cfg.target_tasks:
            values[task.name].append(primary(task, test[f"y_{task.name}"], preds[task.name],
                                             test[f"mask_{task.name}"]))
    tasks = {}
    for task in cfg.target_tasks:
        v = np.asarray(values[task.name], dtype=float)
        finite = v[np.isfinite(v)]
        tasks[task.name] = {
            "metric": task.metric,
            "values": [float(x) for x in v],
            "spread": float(finite.max() - finite.min()) if len(finite) else None,
            "std": float(finite.std(ddof=1)) if len(finite) > 1 else None,
        }
    return {"runs": runs, "seeds": [cfg.project.seed, *seeds], "tasks": tasks}
