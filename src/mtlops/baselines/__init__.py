"""The baselines a multi-task model must beat, per task: a single-task network and LightGBM.

`mtlops.baselines.run` trains and scores both (`run_baselines`; the LightGBM model itself is
`mtlops.models.gbdt`); `mtlops.baselines.reference` reads their validation metrics back
(`stl_val_reference`, the reference of validation Δm). Importing this package is cheap: LightGBM and
torch are imported inside the functions that use them.
"""
