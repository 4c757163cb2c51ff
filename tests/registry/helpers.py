"""Models with known faults for the registry tests: real checkpoints, changed on purpose."""

from __future__ import annotations

import shutil


def aliases(client, name: str) -> dict[str, str]:
    return {alias: str(v) for alias, v in client.get_registered_model(name).aliases.items()}


def degrade(path, scales: dict[str, float], seed: int = 0) -> None:
    """Add `scale`·N(0, 1) noise to each named task's head in the checkpoint at `path` (in place)."""
    import torch

    from mtlops.training import load_model, save_model

    model = load_model(path)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for task, scale in scales.items():
            for p in model.task_parameters(task):
                p.add_(scale * torch.randn(p.shape, generator=gen))
    save_model(model, path)


def single_task_is_the_mtl_model(cfg, paths) -> None:
    """Make every task's single-task model the trained multi-task one: candidate vs single-task is then
    exactly even on every task the candidate leaves untouched."""
    for task in cfg.task_names:
        shutil.copy(paths.checkpoint, paths.stl_model(task))


def registered_checkpoint(client, name: str, version: str):
    """The checkpoint file inside a registered version's artifacts (to break that version on purpose)."""
    from pathlib import Path

    source = client.get_model_version(name, version).source
    location = client.get_logged_model(source.removeprefix("models:/")).artifact_location
    (found,) = Path(location.removeprefix("file://")).rglob("model.pt")
    return found
