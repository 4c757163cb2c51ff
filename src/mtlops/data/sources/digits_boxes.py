"""Handwritten digits placed on a larger canvas: classify the digit and regress its bounding box.

The 1,797 8x8 digits that ship inside scikit-learn (`sklearn.datasets.load_digits`, UCI optical
recognition of handwritten digits; nothing downloads) are each scaled to a random side in
[min_size, max_size] pixels (bilinear, pixels treated as areas) and pasted at a random position on a
`canvas` x `canvas` black image, all from one seed. Pixel values are ink in [0, 1] (the original
0..16 divided by 16).

Columns:
- `id` (the key), `source_index` (which of the 1,797 digits), `size` (its side on the canvas, px);
- `image`: the canvas, one flat float32 array of canvas² values per row (row-major);
- `digit`: the class 0..9 (the dataset's own label);
- `box_x_min`, `box_y_min`, `box_x_max`, `box_y_max`: the tight box around the digit's ink, in
  [0, 1] canvas units (x across, y down). It is the box of the original 8x8 image's non-zero
  pixels carried through the same scale and shift, so it is exact, not a threshold on blurred pixels.

`data.options` (all optional): `canvas` (32), `min_size` (8), `max_size` (24), `copies` (1: placements
per digit; more than 1 puts the same handwriting in several splits, so test rows are not fully
unseen), `seed` (0).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field, model_validator

from mtlops.data.sources.base import Source, parse_options
from mtlops.schema import SourceOptions

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from mtlops.schema import Config

BOX = ["box_x_min", "box_y_min", "box_x_max", "box_y_max"]
COLUMNS = ["id", "source_index", "size", "image", "digit", *BOX]


class DigitsBoxesOptions(SourceOptions):
    canvas: int = Field(32, ge=8, le=256, description="canvas side in pixels")
    min_size: int = Field(8, ge=4, description="smallest side of a placed digit, px")
    max_size: int = Field(24, ge=4, description="largest side of a placed digit, px")
    copies: int = Field(1, ge=1, le=20, description="placements per digit")
    seed: int = 0

    @model_validator(mode="after")
    def _fits(self) -> DigitsBoxesOptions:
        if self.min_size > self.max_size:
            raise ValueError(f"min_size {self.min_size} is above max_size {self.max_size}")
        if self.max_size > self.canvas:
            raise ValueError(f"max_size {self.max_size} does not fit a canvas of {self.canvas}")
        return self


def place_digits(digits: np.ndarray, opts: DigitsBoxesOptions) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Scale and paste each 8x8 digit (ink in [0, 1]) onto a canvas.

    Returns (canvases [M, S, S] float32, boxes [M, 4] in [0, 1], source index [M], side [M]),
    M = len(digits) * copies.
    """
    import numpy as np
    from scipy.ndimage import zoom

    rng = np.random.default_rng(opts.seed)
    n, s = len(digits), opts.canvas
    src = np.tile(np.arange(n), opts.copies)
    sizes = rng.integers(opts.min_size, opts.max_size + 1, size=len(src))
    canvases = np.zeros((len(src), s, s), dtype=np.float32)
    boxes = np.zeros((len(src), 4), dtype=np.float32)
    for i, (j, size) in enumerate(zip(src, sizes)):
        digit = digits[j]
        patch = zoom(digit, size / digit.shape[0], order=1, grid_mode=True, mode="grid-constant")
        patch = np.clip(patch, 0.0, 1.0)
        top, left = rng.integers(0, s - size + 1, size=2)
        canvases[i, top : top + size, left : left + size] = patch
        rows, cols = np.nonzero(digit.any(axis=1))[0], np.nonzero(digit.any(axis=0))[0]
        unit = size / digit.shape[0]  # canvas pixels per original pixel
        boxes[i] = [
            left + cols[0] * unit,
            top + rows[0] * unit,
            left + (cols[-1] + 1) * unit,
            top + (rows[-1] + 1) * unit,
        ]
    return canvases, boxes / s, src, sizes


class DigitsBoxes(Source):
    def options(self, cfg: Config) -> DigitsBoxesOptions:
        return parse_options(DigitsBoxesOptions, cfg)

    def columns(self, cfg: Config) -> set[str]:
        return set(COLUMNS)

    def load(self, cfg: Config) -> pd.DataFrame:
        import numpy as np
        import pandas as pd
        from sklearn.datasets import load_digits

        opts = self.options(cfg)
        data = load_digits()
        digits = (data.images / 16.0).astype(np.float32)
        canvases, boxes, src, sizes = place_digits(digits, opts)
        df = pd.DataFrame(
            {
                "id": np.arange(len(src), dtype=np.int64),
                "source_index": src.astype(np.int64),
                "size": sizes.astype(np.int64),
                "image": list(canvases.reshape(len(src), -1)),
                "digit": data.target[src].astype(np.int64),
            }
        )
        for k, col in enumerate(BOX):
            df[col] = boxes[:, k].astype(np.float64)
        return df
