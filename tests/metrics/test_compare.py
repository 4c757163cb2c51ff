"""The one paired comparison: a model is scored once on shared resamples; absolute or relative change."""

from __future__ import annotations

import numpy as np
import pytest

from mtlops.metrics.bootstrap import metric_samples, paired_difference, resample_indices
from mtlops.metrics.compare import PairedResamples, compare
from mtlops.metrics.per_task import metric_fn, primary
from mtlops.schema import TaskConfig

AMOUNT = TaskConfig(name="amount", column="amount", type="regression", metric="mae")


def _rows(n=500, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.normal(size=n).astype(np.float32)
    mask = rng.random(n) < 0.8
    return y, mask, y + rng.normal(scale=0.5, size=n), y + rng.normal(scale=0.7, size=n)


def test_a_score_is_the_primary_metric_and_its_resamples():
    y, mask, pred, _ = _rows()
    scored = PairedResamples(len(y), 50, 3).score(AMOUNT, y, pred, mask)
    assert scored.value == primary(AMOUNT, y, pred, mask)
    expected = metric_samples(metric_fn(AMOUNT), y.astype(float), pred, resample_indices(len(y), 50, 3), mask)
    np.testing.assert_allclose(scored.samples, expected, rtol=1e-12)  # scored at once: the same up to rounding


@pytest.mark.parametrize("relative", [False, True])
def test_compare_is_the_paired_difference_and_says_which(relative):
    y, mask, better, worse = _rows()
    resamples = PairedResamples(len(y), 100, 0)
    cand, ref = resamples.score(AMOUNT, y, better, mask), resamples.score(AMOUNT, y, worse, mask)
    comparison = compare(AMOUNT, cand, ref, 0.9, relative=relative)
    assert comparison.relative is relative
    assert (comparison.candidate, comparison.reference) == (cand.value, ref.value)
    assert comparison.change == paired_difference(cand.value, ref.value, cand.samples, ref.samples, False, 0.9,
                                                  relative=relative)
    assert comparison.change.ci_low > 0  # lower MAE: positive = candidate better
    if relative:
        assert comparison.change.value == pytest.approx((ref.value - cand.value) / ref.value)


def test_the_comparison_is_implemented_once():
    """Evaluation and the gate disagreed on the same rows before #25 (two implementations): every call of the
    bootstrap primitives is in `mtlops.metrics.compare`, and both callers use it."""
    import ast

    from mtlops.code_identity import SRC, import_graph, modules

    primitives = {"paired_difference", "metric_samples", "resample_indices"}
    callers = set()
    for module, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) in primitives:
                callers.add(module)
    assert callers == {"mtlops.metrics.compare"}
    graph = import_graph(SRC)
    assert {"mtlops.metrics.compare"} <= graph["mtlops.evaluation.evaluate"] & graph["mtlops.registry.measure"]


def test_the_summary_reads_positive_as_better_for_an_error_metric():
    """For MAE (lower is better) the difference column is STL − MTL: the header names the direction."""
    from mtlops.evaluation.report import HEADER, comparison_rows

    y, mask, better, worse = _rows()
    resamples = PairedResamples(len(y), 100, 0)
    cand, ref = resamples.score(AMOUNT, y, better, mask), resamples.score(AMOUNT, y, worse, mask)
    diff = compare(AMOUNT, cand, ref, 0.9, relative=False).change
    entry = {"metric": "mae", "higher_is_better": False, "mtl": {"mae": cand.value}, "stl": {"mae": ref.value},
             "diff_vs_stl": diff.to_dict(), "n_test": int(mask.sum())}
    (row,) = comparison_rows({"tasks": {"amount": entry}})
    column = HEADER.index("MTL vs STL, better ↑ (CI)")
    assert row[1] == "mae ↓" and row[column].startswith("+") and diff.value == pytest.approx(ref.value - cand.value)
