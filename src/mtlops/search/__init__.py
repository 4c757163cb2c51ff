"""Optuna search over sharing architecture, task weighting and optimiser; objective: validation Δm.

`mtlops.search.run.search(cfg, paths, ...)` is the stage; nothing heavy is imported here.
"""
