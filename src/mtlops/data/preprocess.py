"""Features → the arrays of the data contract, with statistics fitted on the training split only.

- numeric: median imputation, standard scaling, and a missing indicator for each column that had
  missing values in training (NaN and ±inf count as missing). A finite value beyond
  ±`validation.max_abs_value` is refused (SchemaError naming the column) when fitting and when
  scoring, as validation refuses it in a snapshot: such a value (1e300) would make the column's
  statistics infinite and the column constant, or the scaled input infinite and the prediction NaN.
  For an embedding encoder (`model.encoder.numeric`): which columns the model embeds and, for
  `piecewise_linear`, their bin edges (training quantiles, or the split points of one decision tree
  per task), in scaled units;
- categorical: a vocabulary per column (at most `max_categories` values seen at least
  `min_category_count` times in training); id 0 is the unknown/missing bucket;
- text: lowercase word tokens, a training vocabulary (`text_max_vocab` words seen at least
  `text_min_count` times); id 0 = pad, 1 = unknown; truncated/padded to `text_max_len`;
- image: cells holding arrays or nested lists (a flat square, HxW or CxHxW) stacked to [N, C, H, W],
  standardised per channel.

The fitted state is plain JSON (no pickle), so the packaged model carries it and serving needs no
training code. Statistics are numpy here rather than sklearn transformers for that reason.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mtlops.columns import SchemaError, category_strings, check_text, numeric_values
from mtlops.errors import DataError
from mtlops.task_types import task_type

FORMAT = "mtlops.preprocessor/1"
_TOKEN = r"\w+"


def _need(df: pd.DataFrame, column: str) -> pd.Series:
    if column not in df.columns:
        raise SchemaError(f"column {column!r} is missing (have: {sorted(map(str, df.columns))})")
    return df[column]


# ---------------------------------------------------------------------------------------------- tokens
def _tokens(s: pd.Series) -> pd.Series:
    """Lowercase word tokens per row (a list each; empty for missing text), positional index."""
    return s.reset_index(drop=True).fillna("").astype(str).str.lower().str.findall(_TOKEN)


# ------------------------------------------------------------------------------------------------ image
def _cell_array(cell: Any) -> np.ndarray:
    a = np.asarray(cell)
    if a.dtype == object:  # Parquet gives nested lists back as arrays of arrays
        a = np.stack([_cell_array(c) for c in a])
    return a.astype(np.float32, copy=False)


def _as_chw(a: np.ndarray) -> np.ndarray:
    if a.ndim == 1:
        side = math.isqrt(a.size)
        if side * side != a.size:
            raise ValueError(f"a flat image of {a.size} values is not a square")
        return a.reshape(1, side, side)
    if a.ndim == 2:
        return a[None]
    if a.ndim == 3:
        return a
    raise ValueError(f"an image must be flat, HxW or CxHxW, got {a.ndim} dimensions")


def stack_images(s: pd.Series, column: str, shape: list[int] | None = None) -> np.ndarray:
    """float32 [N, C, H, W] from cells of arrays / nested lists; every row must share one shape."""
    images = []
    for i, cell in enumerate(s.to_numpy()):
        if cell is None or (np.isscalar(cell) and pd.isna(cell)):
            raise SchemaError(f"column {column!r}: row {i} has no image")
        try:
            img = _as_chw(_cell_array(cell))
        except (ValueError, TypeError) as err:
            raise SchemaError(f"column {column!r}: row {i} is not an image: {err}") from None
        if shape is not None and list(img.shape) != list(shape):
            raise SchemaError(f"column {column!r}: row {i} has shape {list(img.shape)}, expected {list(shape)}")
        shape = list(img.shape)
        images.append(img)
    if not images:
        return np.zeros((0, *(shape or [1, 1, 1])), dtype=np.float32)
    return np.stack(images)


def _refuse(columns: list[str], x: np.ndarray, bad: np.ndarray, limit: str) -> None:
    """SchemaError naming the first column (of `x`'s) with a `bad` value: how many, the first one and its row."""
    if bad.any():
        j = int(np.flatnonzero(bad.any(axis=0))[0])
        rows = np.flatnonzero(bad[:, j])
        raise SchemaError(f"column {columns[j]!r}: {len(rows)} value(s) beyond {limit}, "
                          f"e.g. {x[rows[0], j]:g} in row {rows[0] + 1}")


# ------------------------------------------------------------------------------------------ preprocessor
@dataclass
class Preprocessor:
    """Fitted feature transforms; build with `Preprocessor.fit(train_df, cfg)`."""

    numeric: list[str] = field(default_factory=list)
    median: list[float] = field(default_factory=list)
    mean: list[float] = field(default_factory=list)
    std: list[float] = field(default_factory=list)
    indicators: list[str] = field(default_factory=list)  # numeric columns with a missing indicator
    max_abs: float | None = None  # largest numeric magnitude accepted (validation.max_abs_value); None: any finite
    categorical: list[str] = field(default_factory=list)
    vocab: dict[str, list[str]] = field(default_factory=dict)  # category → id = position + 1
    text: str | None = None
    text_vocab: list[str] = field(default_factory=list)  # token → id = position + 2
    text_max_len: int = 0
    image: str | None = None
    image_shape: list[int] | None = None
    image_mean: list[float] = field(default_factory=list)  # per channel
    image_std: list[float] = field(default_factory=list)
    numeric_embedding: str = "standard"  # model.encoder.numeric prepare fitted for
    embedded: list[str] = field(default_factory=list)  # numeric columns the model embeds
    bins: dict[str, list[float]] = field(default_factory=dict)  # piecewise_linear: edges per embedded column

    # ---------------------------------------------------------------------------------------- fit
    @classmethod
    def fit(
        cls, df: pd.DataFrame, cfg: Any, labels: dict[str, tuple[np.ndarray, np.ndarray]] | None = None
    ) -> Preprocessor:
        """Learn every statistic from `df` (the training split). `cfg`: a Config or its `features`.

        `labels` ({task: (y, mask)} of these rows) are needed only for tree bins (`model.encoder.bins: tree`).
        """
        f = getattr(cfg, "features", cfg)
        if df.empty:
            raise DataError("cannot fit the preprocessor on an empty training split")
        p = cls(numeric=list(f.numeric), categorical=list(f.categorical), text=f.text, image=f.image)

        if p.numeric:
            p.max_abs = getattr(getattr(cfg, "validation", None), "max_abs_value", None)
            x = np.column_stack([numeric_values(_need(df, c), c) for c in p.numeric])
            missing = ~np.isfinite(x)
            p._refuse_large(x, missing)
            with warnings.catch_warnings():  # a column with no value in training: handled below
                warnings.simplefilter("ignore", RuntimeWarning)
                median = np.nanmedian(np.where(missing, np.nan, x), axis=0)
            median = np.where(np.isfinite(median), median, 0.0)  # a column never seen in training
            filled = np.where(missing, median, x)
            with np.errstate(over="ignore", invalid="ignore"):
                mean, std = filled.mean(axis=0), filled.std(axis=0)
            for c, ok in zip(p.numeric, np.isfinite(mean) & np.isfinite(std)):
                if not ok:
                    raise DataError(f"column {c!r}: its mean or standard deviation over the training split is not "
                                    "finite (values too large); lower validation.max_abs_value to refuse them")
            p.median, p.mean = median.tolist(), mean.tolist()
            p.std = np.where(std > 1e-12, std, 1.0).tolist()
            p.indicators = [c for c, m in zip(p.numeric, missing.any(axis=0)) if m]
            encoder = getattr(getattr(cfg, "model", None), "encoder", None)
            if encoder is not None and encoder.numeric != "standard":
                scaled = ((filled - mean) / np.asarray(p.std)).astype(np.float32)
                p._fit_embedding(scaled, cfg, encoder, labels)

        for c in p.categorical:
            counts = category_strings(_need(df, c)).value_counts()
            counts = counts[counts >= f.min_category_count]
            ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[: f.max_categories]
            p.vocab[c] = [str(value) for value, _ in ranked]

        if p.text:
            s = _need(df, p.text)
            check_text(s, p.text)
            counts = _tokens(s).explode().dropna().value_counts()
            counts = counts[counts >= f.text_min_count]
            ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[: f.text_max_vocab]
            p.text_vocab = [str(tok) for tok, _ in ranked]
            p.text_max_len = f.text_max_len

        if p.image:
            images = stack_images(_need(df, p.image), p.image)
            p.image_shape = list(images.shape[1:])
            p.image_mean = images.mean(axis=(0, 2, 3), dtype=np.float64).tolist()
            std = images.std(axis=(0, 2, 3), dtype=np.float64)
            p.image_std = np.where(std > 1e-12, std, 1.0).tolist()
        return p

    def _fit_embedding(self, scaled: np.ndarray, cfg: Any, encoder: Any, labels: dict[str, Any] | None) -> None:
        """Which numeric columns the model embeds, and their bins (piecewise_linear), from the scaled training values.

        A column with fewer than two distinct training values (constant, or never seen) cannot be
        binned and carries nothing to embed: it enters the network as its scaled value, with a warning.
        """
        self.numeric_embedding = encoder.numeric
        varied = [j for j in range(scaled.shape[1]) if np.unique(scaled[:, j]).size >= 2]
        flat = [c for j, c in enumerate(self.numeric) if j not in varied]
        if flat:
            warnings.warn(
                f"numeric columns {flat} have fewer than two distinct training values: they enter the network "
                f"unembedded (model.encoder.numeric: {encoder.numeric})",
                stacklevel=3,
            )
        self.embedded = [self.numeric[j] for j in varied]
        if encoder.numeric == "piecewise_linear" and varied:
            x = scaled[:, varied]
            if encoder.bins == "quantile":
                edges = quantile_bins(x, encoder.n_bins)
            else:
                if labels is None:
                    raise DataError(
                        "model.encoder.bins: tree needs the training labels (Preprocessor.fit(..., labels=))"
                    )
                targets = [(*labels[t.name], task_type(t.type).classification) for t in cfg.tasks]
                edges = tree_bins(x, targets, encoder.n_bins, cfg.project.seed)
            # one bin is a linear map of the value: such a column (e.g. 0/1) is as good passed through
            self.bins = {c: e for c, e in zip(self.embedded, edges) if len(e) > 2}
            self.embedded = [c for c in self.embedded if c in self.bins]

    # ---------------------------------------------------------------------------------- transform
    def transform(self, df: pd.DataFrame) -> dict[str, np.ndarray]:
        """The feature arrays (`num`, `cat`, and `text`/`text_len`/`image` when declared); no labels."""
        n = len(df)
        out: dict[str, np.ndarray] = {}

        if self.numeric:
            x = np.column_stack([numeric_values(_need(df, c), c) for c in self.numeric])
            missing = ~np.isfinite(x)
            self._refuse_large(x, missing)
            median = np.asarray(self.median)
            with np.errstate(over="ignore", invalid="ignore"):
                scaled = (np.where(missing, median, x) - np.asarray(self.mean)) / np.asarray(self.std)
                scaled = scaled.astype(np.float32)
            _refuse(self.numeric, x, ~np.isfinite(scaled), "the model's float32 range once scaled")
            idx = [self.numeric.index(c) for c in self.indicators]
            out["num"] = np.hstack([scaled, missing[:, idx]]).astype(np.float32)
        else:
            out["num"] = np.zeros((n, 0), dtype=np.float32)

        cat = np.zeros((n, len(self.categorical)), dtype=np.int64)
        for j, c in enumerate(self.categorical):
            codes = pd.Categorical(category_strings(_need(df, c)), categories=self.vocab[c]).codes
            cat[:, j] = codes.astype(np.int64) + 1  # unseen / missing: -1 → 0
        out["cat"] = cat

        if self.text:
            s = _need(df, self.text)
            check_text(s, self.text)
            out["text"], out["text_len"] = self._encode_text(s)

        if self.image:
            images = stack_images(_need(df, self.image), self.image, self.image_shape)
            mean = np.asarray(self.image_mean, dtype=np.float32)[:, None, None]
            std = np.asarray(self.image_std, dtype=np.float32)[:, None, None]
            out["image"] = ((images - mean) / std).astype(np.float32)
        return out

    def _refuse_large(self, x: np.ndarray, missing: np.ndarray) -> None:
        """SchemaError naming the first numeric column with a finite value beyond ±`max_abs`."""
        if self.max_abs is not None:
            limit = f"±{self.max_abs:g} (validation.max_abs_value)"
            _refuse(self.numeric, x, ~missing & (np.abs(x) > self.max_abs), limit)

    def _encode_text(self, s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
        length = self.text_max_len
        lists = _tokens(s)
        ids = np.zeros((len(lists), length), dtype=np.int64)
        flat = lists.explode().dropna()
        pos = flat.groupby(level=0).cumcount().to_numpy()
        rows = flat.index.to_numpy()
        keep = pos < length
        codes = pd.Index(self.text_vocab).get_indexer(flat.to_numpy()[keep])
        ids[rows[keep], pos[keep]] = np.where(codes < 0, 1, codes + 2)
        lengths = np.clip(lists.str.len().to_numpy(dtype=np.int64), 1, length)
        return ids, lengths

    # ------------------------------------------------------------------------------------ describe
    @property
    def num_columns(self) -> list[str]:
        return [*self.numeric, *(f"{c}_missing" for c in self.indicators)]

    @property
    def cardinalities(self) -> list[int]:
        """Ids per categorical column, the unknown bucket included (ids run 0..card-1)."""
        return [len(self.vocab[c]) + 1 for c in self.categorical]

    @property
    def columns(self) -> list[str]:
        """The raw input columns `transform` reads."""
        return [*self.numeric, *self.categorical, *(c for c in (self.text, self.image) if c)]

    def inputs_meta(self) -> dict[str, Any]:
        """`meta.json["inputs"]`: what the model's encoders need to know about the arrays."""
        num: dict[str, Any] = {"dim": len(self.num_columns), "columns": self.num_columns}
        if self.numeric_embedding != "standard":  # value columns come first in `num`
            num |= {"embedding": self.numeric_embedding, "embedded": [self.numeric.index(c) for c in self.embedded]}
            if self.bins:
                num["bins"] = [self.bins[c] for c in self.embedded]
        meta: dict[str, Any] = {
            "num": num,
            "cat": {"cardinalities": self.cardinalities, "columns": list(self.categorical)},
        }
        if self.text:
            meta["text"] = {"vocab_size": len(self.text_vocab) + 2, "max_len": self.text_max_len, "column": self.text}
        if self.image:
            meta["image"] = {"shape": list(self.image_shape or []), "column": self.image}
        return meta

    # --------------------------------------------------------------------------------- persistence
    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if self.numeric_embedding == "standard":  # the file of a standard encoder stays as it always was
            for key in ("numeric_embedding", "embedded", "bins"):
                d.pop(key)
        return {"format": FORMAT, **d}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Preprocessor:
        if d.get("format") != FORMAT:
            raise DataError(f"not a preprocessor of format {FORMAT!r} (got {d.get('format')!r})")
        return cls(**{k: v for k, v in d.items() if k != "format"})

    def save(self, path: str | Path) -> None:
        from mtlops.io import write_json

        write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> Preprocessor:
        from mtlops.io import read_json

        try:
            return cls.from_dict(read_json(path, what="preprocessor"))
        except (FileNotFoundError, ValueError) as err:
            raise DataError(str(err)) from None


# ------------------------------------------------------------------------------------------------- bins
def quantile_bins(x: np.ndarray, n_bins: int) -> list[list[float]]:
    """Per column of `x` (float32, at least two distinct values each): the n_bins+1 quantiles, duplicates merged.

    The rule of `rtdl_num_embeddings.compute_bins` (quantiles, then unique), in numpy so prepare needs no torch.
    """
    q = np.linspace(0.0, 1.0, n_bins + 1)
    return [np.unique(np.quantile(x[:, j].astype(np.float64), q).astype(np.float32)).tolist()
            for j in range(x.shape[1])]


def tree_bins(
    x: np.ndarray, labels: list[tuple[np.ndarray, np.ndarray, bool]], n_bins: int, seed: int
) -> list[list[float]]:
    """Per column: its training range plus the split points of one decision tree per task on that column alone.

    Each of the T tasks grows a tree with n_bins // T leaves (at least 2) on its labelled rows, so the
    bins follow where every task's target changes; the union of the edges is the column's bins.
    `labels`: (y, mask, is_classification) per task.
    """
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    leaves = max(2, n_bins // max(1, len(labels)))
    out = []
    for j in range(x.shape[1]):
        column = x[:, j : j + 1]
        edges = [column.min(), column.max()]
        for y, mask, classify in labels:
            if mask.sum() < 2:
                continue
            cls = DecisionTreeClassifier if classify else DecisionTreeRegressor
            tree = cls(max_leaf_nodes=leaves, min_samples_leaf=64, random_state=seed).fit(column[mask], y[mask]).tree_
            edges.extend(tree.threshold[tree.children_left != tree.children_right])
        out.append(np.unique(np.asarray(edges, dtype=np.float32)).tolist())
    return out

