"""Per-column drift between the champion's reference rows and the rows that arrived: pure, pandas + scipy.

The rule is Evidently's default data-drift algorithm (docs "Data drift algorithm"; Evidently itself
0.7.23, the newest on the registry, does not import with this project's pandas 3), so its thresholds
mean what its users know:

- a column is numeric when its dtype is numeric (not bool) and it has more than 5 distinct reference
  values; every other column is categorical (values compared as the category strings prepare reads);
- up to `monitor.small_sample` reference rows a p-value decides, drift when p < `monitor.p_value`:
  two-sample Kolmogorov-Smirnov (numeric), chi² on the 2×K table of counts (categorical);
- above it a distance decides (p-values of large samples flag differences nobody cares about), drift
  when it reaches `monitor.distance`: Wasserstein distance over the reference's standard deviation (at
  least 0.001) for numeric columns, Jensen-Shannon distance (natural log) of the category shares, an
  empty share counted as 0.0001, for categorical ones;
- missing values are dropped; a column with fewer than 2 values on a side is not tested.

The inputs drifted when at least `monitor.drift_share` of the tested features drift.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from mtlops.columns import category_strings

if TYPE_CHECKING:
    import pandas as pd

    from mtlops.schema import MonitorConfig

NUMERIC, CATEGORICAL = "numeric", "categorical"
KS, CHI2, WASSERSTEIN, JENSEN_SHANNON, NONE = "ks", "chi2", "wasserstein_normed", "jensen_shannon", "none"
P_VALUE_TESTS = (KS, CHI2)
EMPTY_SHARE = 1e-4


@dataclass(frozen=True)
class Drift:
    """One column's test: its statistic (a p-value or a distance, per `test`) against `threshold`."""

    column: str
    kind: str  # numeric | categorical
    test: str  # ks | chi2 | wasserstein_normed | jensen_shannon | none (not tested)
    statistic: float
    threshold: float
    drifted: bool
    reference_rows: int
    current_rows: int
    note: str = ""

    @property
    def tested(self) -> bool:
        return self.test != NONE

    def describe(self) -> str:
        if not self.tested:
            return f"{self.column}: not tested ({self.note})"
        rel = ("<" if self.drifted else ">=") if self.test in P_VALUE_TESTS else (">=" if self.drifted else "<")
        what = "p" if self.test in P_VALUE_TESTS else "distance"
        verdict = "drift" if self.drifted else "no drift"
        numbers = f"{what} {self.statistic:.4g} {rel} {self.threshold:g}"
        return f"{self.column} ({self.kind}, {self.test}): {numbers}: {verdict}"


def column_kind(reference: pd.Series) -> str:
    import pandas as pd

    numeric = pd.api.types.is_numeric_dtype(reference) and not pd.api.types.is_bool_dtype(reference)
    return NUMERIC if numeric and reference.nunique(dropna=True) > 5 else CATEGORICAL


def column_drift(column: str, reference: pd.Series, current: pd.Series, policy: MonitorConfig,
                 kind: str | None = None) -> Drift:
    """The drift test of one column by the rule above (`kind` overrides the guess from the reference)."""
    from scipy import stats
    from scipy.spatial.distance import jensenshannon

    ref, cur = reference.dropna(), current.dropna()
    kind = kind or column_kind(ref)
    small = len(ref) <= policy.small_sample
    threshold = policy.p_value if small else policy.distance
    if len(ref) < 2 or len(cur) < 2:
        return Drift(column, kind, NONE, math.nan, threshold, False, len(ref), len(cur),
                     f"{min(len(ref), len(cur))} value(s) on one side, at least 2 needed")
    if kind == NUMERIC:
        r, c = ref.to_numpy(dtype=float), cur.to_numpy(dtype=float)
        if small:
            test, stat = KS, float(stats.ks_2samp(r, c).pvalue)
        else:
            test, stat = WASSERSTEIN, float(stats.wasserstein_distance(r, c) / max(float(np.std(r)), 0.001))
    else:
        # as prepare reads them: a code 3 and 3.0 are one category, whatever each side's dtype
        r_counts, c_counts = category_strings(ref).value_counts(), category_strings(cur).value_counts()
        categories = r_counts.index.union(c_counts.index)
        r_n = r_counts.reindex(categories, fill_value=0).to_numpy(dtype=float)
        c_n = c_counts.reindex(categories, fill_value=0).to_numpy(dtype=float)
        if small:
            test = CHI2
            stat = 1.0 if len(categories) < 2 else float(stats.chi2_contingency(np.vstack([r_n, c_n])).pvalue)
        else:
            test = JENSEN_SHANNON
            r_p, c_p = r_n / r_n.sum(), c_n / c_n.sum()
            r_p[r_p == 0], c_p[c_p == 0] = EMPTY_SHARE, EMPTY_SHARE
            stat = float(jensenshannon(r_p, c_p))
    drifted = stat < threshold if test in P_VALUE_TESTS else stat >= threshold
    return Drift(column, kind, test, stat, threshold, bool(drifted), len(ref), len(cur))


@dataclass(frozen=True)
class DriftSummary:
    features: list[Drift]
    share: float  # drifted / tested features
    drifted: bool  # share >= monitor.drift_share
    threshold: float

    @property
    def drifted_columns(self) -> list[str]:
        return [d.column for d in self.features if d.drifted]


def feature_drift(reference: pd.DataFrame, current: pd.DataFrame, numeric: list[str], categorical: list[str],
                  policy: MonitorConfig) -> DriftSummary:
    """Every declared feature tested (a declared numeric column with few values is still tested as
    numeric only when it has more than 5 distinct values, as Evidently does)."""
    results = [column_drift(c, reference[c], current[c], policy) for c in numeric]
    results += [column_drift(c, reference[c], current[c], policy, kind=CATEGORICAL) for c in categorical]
    tested = [d for d in results if d.tested]
    share = sum(d.drifted for d in tested) / len(tested) if tested else 0.0
    return DriftSummary(results, share, bool(tested) and share >= policy.drift_share, policy.drift_share)
