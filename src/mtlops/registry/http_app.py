"""What a client of a served model sends and gets back: the HTTP app, an example request, the schema.

`mtlops serve` runs `create_app` under uvicorn: MLflow's own scoring server for the model
(`mlflow.pyfunc.scoring_server`: GET /ping, POST /invocations with `dataframe_split` or
`dataframe_records`), with one change. MLflow answers a request the model refuses with a message that
starts with a dump of the request ("Failed to predict data '…'") and names the column at its end; here
the 4xx message is that last part alone, one line naming the column and what is wrong.
"""

from __future__ import annotations

import json
import math
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import FastAPI

    from mtlops.paths import Paths

MODEL_ENV = "MTLOPS_SERVE_MODEL_URI"  # the model `create_app` serves (set by `mtlops serve`)
EXAMPLE = "serving_input_example.json"  # the request MLflow stored with the model's input example


def create_app(model_uri: str | None = None) -> FastAPI:
    """MLflow's scoring app for `model_uri` (default: $MTLOPS_SERVE_MODEL_URI), with one-line 4xx messages."""
    from fastapi import Request
    from fastapi.responses import JSONResponse
    from mlflow.pyfunc import scoring_server

    import mlflow

    app = scoring_server.init(mlflow.pyfunc.load_model(model_uri or os.environ[MODEL_ENV]))

    @app.middleware("http")
    async def one_line_errors(request: Request, call_next):
        response = await call_next(request)
        if not 400 <= response.status_code < 500 or "json" not in response.headers.get("content-type", ""):
            return response
        body = b"".join([chunk async for chunk in response.body_iterator])
        try:
            payload = json.loads(body)
        except ValueError:
            payload = {"message": body.decode(errors="replace")}
        payload["message"] = reason(str(payload.get("message", "")))
        return JSONResponse(payload, status_code=response.status_code)

    return app


def reason(message: str) -> str:
    """The part of an MLflow scoring error that says what is wrong (it follows the last "Error: ")."""
    return message.rsplit("Error: ", 1)[-1].strip()


# ------------------------------------------------------------------------------------- for clients
def _download(paths: Paths, model_ref: str, name: str) -> str:
    import mlflow.artifacts
    from mlflow.exceptions import MlflowException

    from mtlops.registry.store import ModelRef, RegistryError, connect, get_version

    version = get_version(connect(paths), ModelRef.parse(model_ref))
    try:
        return mlflow.artifacts.download_artifacts(f"models:/{version.name}/{version.version}/{name}")
    except (MlflowException, OSError) as err:
        raise RegistryError(f"model {version.name!r} v{version.version} has no {name}: {err}") from None


def example_request(paths: Paths, model_ref: str) -> dict[str, Any]:
    """A valid /invocations body: the rows of the model's own input example (strict JSON: NaN → null)."""
    with open(_download(paths, model_ref, EXAMPLE)) as fh:
        return _strict(json.load(fh))


def model_schema(paths: Paths, model_ref: str) -> dict[str, Any]:
    """JSON Schemas of one input row and one output row, from the model's MLflow metadata."""
    from mlflow.models import Model

    from mtlops.registry.store import RegistryError

    metadata = Model.load(_download(paths, model_ref, "MLmodel")).metadata or {}
    if "json_schema" not in metadata:
        raise RegistryError(f"model {model_ref!r} carries no JSON schema (registered before mtlops recorded one)")
    return metadata["json_schema"]


def _strict(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strict(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_strict(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
