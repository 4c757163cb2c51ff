"""Tiny in-memory data and models for the modeling-core tests: three tasks of mixed types with masks."""

from __future__ import annotations

import numpy as np
import torch

from mtlops.models import Cut, ModelSpec, TaskSpec, build_model

INPUTS = {"num": {"dim": 4, "columns": ["a", "b", "c", "d"]}, "cat": {"cardinalities": [3, 12], "columns": ["u", "v"]}}
TASKS = [
    TaskSpec("churn", "binary"),
    TaskSpec("segment", "multiclass", dim=3, n_classes=3),
    TaskSpec("amount", "regression", loss="huber"),
]
TASK_TYPES = {t.name: t.type for t in TASKS}


def arrays(n: int = 64, seed: int = 0, unlabelled: dict[str, float] | None = None) -> dict[str, np.ndarray]:
    """Processed arrays per the data contract; `unlabelled` = {task: share of rows without a label}."""
    rng = np.random.default_rng(seed)
    num = rng.normal(size=(n, 4)).astype(np.float32)
    cat = np.stack([rng.integers(0, 3, n), rng.integers(0, 12, n)], axis=1).astype(np.int64)
    score = num[:, 0] + 0.5 * num[:, 1] + 0.4 * cat[:, 0]
    out = {
        "num": num,
        "cat": cat,
        "y_churn": (score > 0.3).astype(np.float32),
        "y_segment": np.digitize(score, [-0.5, 0.8]).astype(np.int64),
        "y_amount": (50.0 + 10.0 * score + rng.normal(size=n)).astype(np.float32),
    }
    shares = {"churn": 0.0, "segment": 0.2, "amount": 0.3, **(unlabelled or {})}
    for t, share in shares.items():
        out[f"mask_{t}"] = rng.random(n) >= share
        out[f"y_{t}"][~out[f"mask_{t}"]] = 0
    return out


def batch(a: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    return {k: torch.from_numpy(v) for k, v in a.items()}


def forward_with_cut(m, b: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], Cut]:
    """The trainer's forward pass: the branches read the cut's detached leaves; `cut.backward()` reaches the trunk."""
    cut = Cut.of(m.trunk(b))
    return m.branches(cut.leaves), cut


def spec(architecture: str = "hard", arch_params: dict | None = None, tasks=None) -> ModelSpec:
    return ModelSpec(
        inputs=INPUTS,
        tasks=list(tasks or TASKS),
        architecture=architecture,
        arch_params=dict(arch_params or {}),
        encoder={"embedding_dim": 4},
    )


SMALL = {
    "hard": {"width": 16, "depth": 2, "tower_width": 8},
    "soft": {"width": 16, "depth": 2},
    "cross_stitch": {"width": 16, "depth": 2},
    "mmoe": {"experts": 3, "width": 16, "tower_width": 8},
    "ple": {"experts": 2, "task_experts": 1, "num_levels": 2, "width": 16, "tower_width": 8},
    "tabm": {"k": 3, "width": 16, "depth": 2, "tower_width": 8},
}


def model(architecture: str = "hard", seed: int = 0, tasks=None, **params):
    torch.manual_seed(seed)
    return build_model(spec(architecture, {**SMALL[architecture], **params}, tasks))
