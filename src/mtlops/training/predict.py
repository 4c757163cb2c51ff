"""Predictions on the raw scale, in big batches under inference mode."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from mtlops.models import MultiTaskModel
from mtlops.models.served import ServedModel
from mtlops.training.data import TensorData, needed_keys
from mtlops.training.device import resolve_device


def predict(
    model: MultiTaskModel | ServedModel | Any, arrays: dict[str, np.ndarray], batch_size: int = 8192,
    device: str | None = None, auxiliary: bool = False,
) -> dict[str, np.ndarray]:
    """binary -> P(y=1) [N]; multiclass -> probabilities [N, K]; regression -> value [N];
    multi_regression -> values [N, k] (regression values back on the raw scale).

    The tasks the model serves; with `auxiliary`, its auxiliary heads too (early stopping may weigh them).
    `device` None runs where the model is; otherwise the model is moved there first. A served model
    (`mtlops.models.served`) has its networks scored here and combines their answers with LightGBM's.
    """
    if isinstance(model, ServedModel):
        return model.predict(arrays, lambda net: _network(net, arrays, batch_size, device))
    return _network(model, arrays, batch_size, device, auxiliary)


def _network(
    model: Any, arrays: dict[str, np.ndarray], batch_size: int, device: str | None, auxiliary: bool = False
) -> dict[str, np.ndarray]:
    if device is not None:
        model.to(resolve_device(device))
    target = model.device
    data = TensorData(arrays, needed_keys(model, arrays, labels=False), target)
    was_training = model.training
    model.eval()
    parts: dict[str, list[torch.Tensor]] = {t: [] for t in (model.task_names if auxiliary else model.served_task_names)}
    try:
        with torch.inference_mode():
            batches = data.batches(batch_size) if len(data) else [data.take(torch.arange(0, device=target))]
            for batch in batches:
                outputs = model(batch)
                for t, p in model.predict_outputs({t: outputs[t] for t in parts}).items():
                    parts[t].append(p.float().cpu())
    finally:
        model.train(was_training)
    return {t: torch.cat(ps).numpy() for t, ps in parts.items()}
