"""A task's LightGBM booster(s) as a model: features from the processed arrays, predictions in the formats
of `mtlops.training.predict`. Fitted by the baselines stage, loaded back by evaluation.

LightGBM is imported inside `load` (a fitted model carries its boosters), so `mtlops.models` imports
with torch and numpy alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mtlops.task_types import task_type


def gbdt_features(arrays: dict[str, np.ndarray]) -> tuple[np.ndarray, list[int]]:
    """[N, Dn + Dc] float32 matrix (numeric, then categorical ids) and the categorical column indices.

    Category ids are small non-negative integers, exact in float32; LightGBM reads them as categories.
    """
    n = len(next(a for k, a in arrays.items() if k in ("num", "cat") or k.startswith("mask_")))
    num = arrays.get("num", np.zeros((n, 0), np.float32)).astype(np.float32, copy=False)
    cat = arrays.get("cat", np.zeros((n, 0), np.int64))
    x = np.hstack([num, cat.astype(np.float32)])
    return x, list(range(num.shape[1], x.shape[1]))


@dataclass
class GbdtModel:
    """One task's LightGBM booster(s), predicting in the formats of `mtlops.training.predict`."""

    task_type: str
    boosters: list[Any]
    classes: list[int] | None = None  # multiclass: class ids the booster's columns stand for
    n_classes: int | None = None
    objective: str | None = None  # the LightGBM objective it was fitted with (reports/baselines.json)

    def predict(self, arrays: dict[str, np.ndarray]) -> np.ndarray:
        x, _ = gbdt_features(arrays)
        outputs = [np.asarray(b.predict(x)) for b in self.boosters]
        return task_type(self.task_type).gbdt_prediction(outputs, self.classes, self.n_classes)

    def save(self, files: Sequence[Path]) -> None:
        """Write the boosters (best iteration only), one file each (`Paths.gbdt_model` names them)."""
        for booster, file in zip(self.boosters, files, strict=True):
            booster.save_model(file)

    @classmethod
    def load(cls, directory: Path, task_type: str, info: dict[str, Any]) -> GbdtModel:
        """The model whose files and classes `info` (its entry in reports/baselines.json) records."""
        import lightgbm as lgb

        boosters = [lgb.Booster(model_file=str(directory / name)) for name in info["files"]]
        return cls(task_type, boosters, info.get("classes"), info.get("n_classes"), info.get("objective"))
