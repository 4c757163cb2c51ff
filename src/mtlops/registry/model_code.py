"""The file MLflow stores as the model's code ("models from code"): it names the pyfunc class.

The class lives in the installed mtlops package, so the stored model is this one line of wiring plus
JSON and a checkpoint; loading needs mtlops installed and nothing from the training run.
"""

import mlflow
from mtlops.registry.pyfunc import MultiTaskPyfunc

mlflow.models.set_model(MultiTaskPyfunc())
