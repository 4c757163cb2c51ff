"""What a client of a served model sends and gets back: the HTTP app, an example request, the schema.

`mtlops serve` runs `create_app` under uvicorn: MLflow's own scoring server for the model
(`mlflow.pyfunc.scoring_server`: GET /ping, POST /invocations with `dataframe_split` or
`dataframe_records`), with two changes:
- every 4xx answer is JSON `{"error_code", "message"}` with a one-line message: MLflow starts a refusal
  with a dump of the request ("Failed to predict data '…'") and names the column at its end, adds a
  Python traceback (`stack_trace`) to some, and answers an unsupported content type in plain text;
  here the message is the part that says what is wrong, and no traceback leaves the server;
- every response names the model version that answered it: `X-Mtlops-Model` (the registered name),
  `X-Mtlops-Model-Version` and, when served by alias, `X-Mtlops-Model-Alias`. An alias is resolved once,
  at start, to the version then loaded (`models:/<name>/<version>`), so the headers name what scores.
"""

from __future__ import annotations

import json
import math
import os
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import FastAPI

    from mtlops.paths import Paths

MODEL_ENV = "MTLOPS_SERVE_MODEL_URI"  # the model `create_app` serves (set by `mtlops serve`)
ALIAS_ENV = "MTLOPS_SERVE_MODEL_ALIAS"  # the alias it was resolved from, for the header (set by `mtlops serve`)
EXAMPLE = "serving_input_example.json"  # the request MLflow stored with the model's input example
HEADER = "X-Mtlops-Model"


def served_model(model_uri: str, alias: str | None = None) -> tuple[str, dict[str, str]]:
    """(the URI to load, the headers naming it): `models:/<name>@<alias>` resolved to its version now."""
    match = re.fullmatch(r"models:/([^/@]+)(?:@([^/]+)|/(\d+))", model_uri)
    if not match:
        return model_uri, {HEADER: model_uri}
    name, by_alias, version = match.groups()
    if by_alias:
        from mlflow import MlflowClient

        version = MlflowClient().get_model_version_by_alias(name, by_alias).version
        alias = by_alias
    headers = {HEADER: name, f"{HEADER}-Version": str(version)}
    if alias:
        headers[f"{HEADER}-Alias"] = alias
    return f"models:/{name}/{version}", headers


def create_app(model_uri: str | None = None) -> FastAPI:
    """MLflow's scoring app for `model_uri` (default: $MTLOPS_SERVE_MODEL_URI), with one-line JSON 4xx
    answers and the served version in every response's headers."""
    from fastapi import Request
    from fastapi.responses import JSONResponse
    from mlflow.pyfunc import scoring_server

    import mlflow

    uri, headers = served_model(model_uri or os.environ[MODEL_ENV], os.environ.get(ALIAS_ENV) or None)
    app = scoring_server.init(mlflow.pyfunc.load_model(uri))

    @app.middleware("http")
    async def one_line_errors(request: Request, call_next):
        response = await call_next(request)
        if 400 <= response.status_code < 500:
            body = b"".join([chunk async for chunk in response.body_iterator])
            response = JSONResponse(error_payload(body, response.status_code), status_code=response.status_code)
        response.headers.update(headers)
        return response

    return app


def error_payload(body: bytes, status: int) -> dict[str, str]:
    """A 4xx answer as `{"error_code", "message"}`, the message one line (MLflow's JSON, FastAPI's `detail`
    or plain text alike); a traceback MLflow attached is dropped."""
    try:
        payload = json.loads(body)
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        payload = {"message": body.decode(errors="replace")}
    message = payload.get("message", payload.get("detail", ""))
    by_status = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 415: "UNSUPPORTED_MEDIA_TYPE"}
    code = payload.get("error_code") or by_status.get(status, "BAD_REQUEST")
    return {"error_code": str(code), "message": reason(message if isinstance(message, str) else json.dumps(message))}


def reason(message: str) -> str:
    """The part of an MLflow scoring error that says what is wrong (it follows the last "Error: "), on one
    line and at most 500 characters (a message may quote the request)."""
    text = " ".join(message.rsplit("Error: ", 1)[-1].split())
    return text if len(text) <= 500 else text[:497] + "..."


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
