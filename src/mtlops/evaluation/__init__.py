"""Judging models: per-task metrics, Δm, paired bootstrap, single-task baselines, the report and plots.

Submodules import their tools (scikit-learn, LightGBM, matplotlib) themselves; importing this package is cheap.
"""
