"""Training: the loop (device, AMP, early stopping, checkpoints), prediction and model files.

Imports torch + numpy only; the config bridge (`mtlops.training.from_config`) and the stage
(`mtlops.stages.train`) are separate modules and are not imported here.
"""

from mtlops.training.checkpoint import ModelFileError, load_model, save_model
from mtlops.training.device import resolve_amp, resolve_device
from mtlops.training.predict import predict
from mtlops.training.trainer import FitResult, NonFiniteLoss, StopTraining, TrainSettings, evaluate_losses, fit

__all__ = [
    "FitResult",
    "ModelFileError",
    "NonFiniteLoss",
    "StopTraining",
    "TrainSettings",
    "evaluate_losses",
    "fit",
    "load_model",
    "predict",
    "resolve_amp",
    "resolve_device",
    "save_model",
]
