"""The baselines a multi-task model must beat, per task: a single-task network and LightGBM.

`mtlops.baselines.run` trains and scores both (`run_baselines`), loads LightGBM back (`GbdtModel`)
and reads their validation metrics (`baseline_val_metrics`, the search's Δm reference). Importing
this package is cheap: LightGBM and torch are imported inside the functions that use them.
"""
