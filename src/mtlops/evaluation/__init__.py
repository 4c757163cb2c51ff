"""Judging models: per-task metrics, Δm, paired bootstrap, the report and plots.

Submodules import their tools (scikit-learn, matplotlib) themselves; importing this package is cheap.
The baselines the models are judged against live in `mtlops.baselines`.
"""
