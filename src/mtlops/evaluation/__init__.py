"""Judging the multi-task model on the test split against its baselines: metrics.json, the report and plots.

The scoring itself (per-task metrics, Δm, the paired bootstrap comparison) is `mtlops.metrics`, shared
with the promotion gate; the baselines live in `mtlops.baselines`. Submodules import their tools
(scikit-learn, matplotlib) themselves; importing this package is cheap.
"""
