"""A few reads of a real Prefect server's REST API (plain HTTP: what the UI shows)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any


def post(api: str, path: str, body: dict[str, Any]) -> Any:
    req = urllib.request.Request(f"{api}{path}", json.dumps(body).encode(), {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())
    except (urllib.error.URLError, OSError):
        return None


def deployment(api: str, name: str) -> dict[str, Any] | None:
    found = post(api, "/deployments/filter", {"deployments": {"name": {"any_": [name]}}})
    return found[0] if found else None


def flow_runs(api: str, deployment_id: str) -> list[dict[str, Any]]:
    body = {"flow_runs": {"deployment_id": {"any_": [deployment_id]}}, "limit": 200}
    return post(api, "/flow_runs/filter", body) or []


def healthy(api: str) -> bool:
    try:
        with urllib.request.urlopen(f"{api}/health", timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False
