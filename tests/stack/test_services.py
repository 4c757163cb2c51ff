"""The team stack for real: auth refuses strangers and admits the generated credentials; secrets stay private."""

from __future__ import annotations

import base64
import json
import stat
import urllib.error
import urllib.request

import pytest

from mtlops.stack.services import WORK_POOL, status

pytestmark = [pytest.mark.xdist_group("stack"), pytest.mark.e2e]


def _request(url: str, auth: str | None = None, body: dict | None = None) -> int:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    if auth:
        req.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code


def test_mlflow_refuses_anonymous_and_admits_the_generated_user(stack):
    _, env = stack
    url = f"{env['MLFLOW_TRACKING_URI']}/api/2.0/mlflow/experiments/search?max_results=1"
    assert _request(url) == 401
    assert _request(url, "admin:wrong") == 401
    assert _request(url, f"admin:{env['MLFLOW_TRACKING_PASSWORD']}") == 200


def test_prefect_refuses_anonymous_and_admits_the_auth_string(stack):
    _, env = stack
    url = f"{env['PREFECT_API_URL']}/work_pools/filter"
    assert _request(url, body={}) == 401
    assert _request(url, "admin:wrong", body={}) == 401
    req = urllib.request.Request(url, data=b"{}", headers={"Content-Type": "application/json"})
    req.add_header("Authorization", "Basic " + base64.b64encode(env["PREFECT_API_AUTH_STRING"].encode()).decode())
    with urllib.request.urlopen(req, timeout=30) as resp:
        pools = {p["name"]: p["type"] for p in json.load(resp)}
    assert pools.get(WORK_POOL) == "process"


def test_postgres_requires_the_password_and_listens_on_loopback_only(stack):
    import psycopg

    _, env = stack
    url = env["MTLOPS_SEARCH_STORAGE"].replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(url) as conn:
        assert conn.execute("SHOW listen_addresses").fetchone()[0] == "127.0.0.1"
        assert conn.execute("SHOW password_encryption").fetchone()[0] == "scram-sha-256"
    wrong = url.replace(url.split("//")[1].split("@")[0], "mtlops:wrong")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(wrong)


def test_credentials_are_private_and_never_logged(stack):
    d, env = stack
    assert all(v.startswith("up on 127.0.0.1:") for v in status(d).values()), status(d)
    for path in (d.credentials, d.root / "secrets.json", d.root / "mlflow_auth.ini"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert f"MLFLOW_TRACKING_PASSWORD={env['MLFLOW_TRACKING_PASSWORD']}" in d.credentials.read_text()
    passwords = json.loads((d.root / "secrets.json").read_text()).values()
    logs = [*(d.root / "logs").glob("*.log"), d.postgres / "postgres.log"]
    for log in logs:
        text = log.read_text(errors="replace")
        assert not any(p in text for p in passwords), log
