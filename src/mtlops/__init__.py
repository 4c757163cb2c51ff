"""mtlops: train, judge and ship multi-task models (shared trunk, one head per task)."""

import os as _os

# Telemetry off by default: nothing may wait on a network that is not there. Users can override.
for _key, _value in {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "MLFLOW_ENABLE_TELEMETRY": "false",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "GX_ANALYTICS_ENABLED": "false",
    "DVC_NO_ANALYTICS": "1",
    "DO_NOT_TRACK": "1",
}.items():
    _os.environ.setdefault(_key, _value)

__version__ = "0.1.0"
