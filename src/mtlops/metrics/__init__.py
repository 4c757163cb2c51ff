"""Scoring predictions, below every model and stage: per-task metrics, Δm, the paired bootstrap comparison, and
the selection rule (how candidates are scored against single-task models and chosen within a noise band).

Evaluation, early stopping, the search, the grouping and the promotion gate all judge with these, so
they agree on what a metric and a difference are. Imports numpy and the task types only.
"""
