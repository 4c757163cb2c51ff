"""What serves each task: the rule (`choice`) and the served model's folder it writes (`build`).

The train stage calls `build.serve_best` after training; the served model is read back by
`mtlops.training.served.load_served` (evaluation, the registry's pyfunc). docs/serving.md is the user's page.
"""
