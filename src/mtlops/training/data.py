"""Batches by index from in-memory tensors: one `index_select` per array, no per-row Dataset or collate.

The arrays a model needs (its inputs, and labels/masks of its tasks) become tensors once (zero-copy
from numpy); on a GPU they move there once when they fit, else each batch is copied over from
pinned memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch import Tensor

GPU_FRACTION = 0.5  # share of free GPU memory the training data may take to live on the GPU


def needed_keys(model: Any, arrays: dict[str, np.ndarray], labels: bool = True) -> list[str]:
    keys = [k for k in model.input_keys if k in arrays]
    missing = [k for k in model.input_keys if k not in arrays]
    if missing:
        raise KeyError(f"arrays lack the model's inputs {missing}; they have {sorted(arrays)}")
    if labels:
        for t in model.task_names:
            if f"y_{t}" not in arrays:
                raise KeyError(f"arrays lack the labels 'y_{t}' of task {t!r}; they have {sorted(arrays)}")
            keys += [k for k in (f"y_{t}", f"mask_{t}") if k in arrays]
    return keys


class TensorData:
    """Named tensors of equal length; `batches` yields dicts of index-selected rows on `device`."""

    def __init__(self, arrays: dict[str, np.ndarray], keys: list[str], device: torch.device) -> None:
        self.device = device
        tensors = {k: _as_tensor(arrays[k], k) for k in keys}
        lengths = {k: len(v) for k, v in tensors.items()}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"arrays have different lengths: {lengths}")
        self.n = next(iter(lengths.values())) if lengths else 0
        nbytes = sum(t.numel() * t.element_size() for t in tensors.values())
        self.on_device = device.type == "cpu" or _fits(device, nbytes)
        if self.on_device:
            tensors = {k: v.to(device) for k, v in tensors.items()}
        elif device.type == "cuda":
            tensors = {k: v.pin_memory() for k, v in tensors.items()}
        self.tensors = tensors

    def __len__(self) -> int:
        return self.n

    def take(self, index: Tensor) -> dict[str, Tensor]:
        if self.on_device:
            return {k: v.index_select(0, index) for k, v in self.tensors.items()}
        index = index.cpu()
        return {k: v.index_select(0, index).to(self.device, non_blocking=True) for k, v in self.tensors.items()}

    def n_batches(self, batch_size: int, world: int = 1) -> int:
        """How many batches `batches` yields (a last batch with fewer rows than ranks gives none)."""
        full, rest = divmod(self.n, batch_size)
        return full + (rest >= world)

    def batches(
        self, batch_size: int, generator: torch.Generator | None = None, rank: int = 0, world: int = 1
    ) -> Iterator[dict[str, Tensor]]:
        """Shuffled when a generator is given (the permutation is drawn on the CPU, so runs repeat).

        With `world` ranks, rank `rank` gets its shard of each batch: batch_size // world rows, the
        same number on every rank; the batch's rows beyond world · that (none when `world` divides its
        size) wait for another epoch's order.
        """
        order = torch.randperm(self.n, generator=generator) if generator is not None else torch.arange(self.n)
        if self.on_device:
            order = order.to(self.device)
        for start in range(0, self.n, batch_size):
            rows = order[start : start + batch_size]
            if world > 1:
                share = len(rows) // world
                if share == 0:
                    continue
                rows = rows[rank * share : (rank + 1) * share]
            yield self.take(rows)


def _as_tensor(a: np.ndarray, key: str) -> Tensor:
    a = np.asarray(a)
    if key.startswith("mask_"):
        a = a.astype(bool, copy=False)
    elif a.dtype == np.float64:
        a = a.astype(np.float32)
    return torch.from_numpy(np.ascontiguousarray(a))


def _fits(device: torch.device, nbytes: int) -> bool:
    if device.type != "cuda":
        return True
    free, _total = torch.cuda.mem_get_info(device)
    return nbytes < GPU_FRACTION * free
