"""Two regression tasks with a chosen label correlation: the generator of Ma et al. (KDD 2018, §3.2).

With unit vectors u1 ⟂ u2 in R^d, scale c and correlation p:

    w1 = c·u1,   w2 = c·(p·u1 + sqrt(1 − p²)·u2)
    x ~ N(0, I_d)
    y_i = w_iᵀx + Σ_{k=1..m} sin(α_k·w_iᵀx + β_k) + ε_i,   ε_i ~ N(0, noise)

α_k, β_k ~ N(0, 0.01) (variance, as the paper's ε) are drawn once per dataset and shared by both tasks,
so the label correlation is driven by p (the cosine of w1 and w2): the place to see when sharing a trunk
helps and when it hurts. With α_k of that size each sine is nearly linear in w_iᵀx near the origin and
bends only in the tails; with α_k ~ N(0, 1) (this generator before 2026-12) the ten sines dominated the
labels, and shared-bottom's loss no longer rose as p fell (benchmarks/mmoe_synthetic.py).

`data.synthetic` keys and their defaults: n = 20000 rows, d = 100 inputs, correlation p = 0.5,
n_sines m = 10, scale c = 1.0, noise = 0.01 (the variance of ε, as in the paper), seed = 0.
Columns: `id` (0..n-1, the key), `x0`..`x{d-1}`, `y1`, `y2`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mtlops.data.sources.base import Source
from mtlops.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

    from mtlops.schema import Config, SyntheticOptions

SINE_PARAM_VARIANCE = 0.01  # α_k, β_k ~ N(0, 0.01): the paper's given shape of the sines


def generate(
    n: int, d: int, correlation: float, n_sines: int = 10, scale: float = 1.0, noise: float = 0.01, seed: int = 0
) -> pd.DataFrame:
    import numpy as np
    import pandas as pd

    if d < 2:
        raise DataError(f"data.synthetic.d: {d} inputs cannot hold two orthogonal task vectors; allowed: d >= 2")
    rng = np.random.default_rng(seed)
    u, _ = np.linalg.qr(rng.standard_normal((d, 2)))  # two orthonormal columns
    u1, u2 = u[:, 0], u[:, 1]
    w1 = scale * u1
    w2 = scale * (correlation * u1 + np.sqrt(1.0 - correlation**2) * u2)
    alpha, beta = rng.normal(0.0, np.sqrt(SINE_PARAM_VARIANCE), (2, n_sines))

    x = rng.standard_normal((n, d))

    def label(w: np.ndarray) -> np.ndarray:
        z = x @ w
        return z + np.sin(np.outer(z, alpha) + beta).sum(axis=1) + rng.normal(0.0, np.sqrt(noise), n)

    y1, y2 = label(w1), label(w2)
    df = pd.DataFrame(x, columns=[f"x{i}" for i in range(d)])
    df.insert(0, "id", np.arange(n, dtype=np.int64))
    return df.assign(y1=y1, y2=y2)


class Synthetic(Source):
    def options(self, cfg: Config) -> SyntheticOptions:
        return cfg.data.synthetic

    def columns(self, cfg: Config) -> set[str]:
        return {"id", *(f"x{i}" for i in range(self.options(cfg).d)), "y1", "y2"}

    def load(self, cfg: Config) -> pd.DataFrame:
        s = self.options(cfg)
        return generate(s.n, s.d, s.correlation, s.n_sines, s.scale, s.noise, s.seed)
