"""Notifications through the real channels: a loopback HTTP receiver behind apprise's `json://` (a webhook)
and the JSON-lines file. A refusal sends exactly one message carrying the gate's reasons; off by default;
a receiver that is down is reported, never fatal; a failed promote that already notified is not sent twice."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from mtlops.config import with_overrides
from mtlops.notify import FAILED, REFUSED, Message, send


@pytest.fixture
def receiver():
    """A loopback HTTP server that keeps every POST body."""
    got: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            got.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"json://127.0.0.1:{server.server_port}/hook", got
    server.shutdown()
    server.server_close()


def _notifying(cfg, url, tmp_path, **more):
    sink = str(tmp_path / "sent.jsonl")
    return with_overrides(cfg, {"notify": {"enabled": True, "urls": [url], "file": sink, **more}})


def test_off_by_default_and_only_for_the_events_asked(project, receiver, tmp_path):
    cfg, _ = project
    url, got = receiver
    assert send(cfg, Message(REFUSED, "x")) == {} and got == []
    only_failures = _notifying(cfg, url, tmp_path, events=["failed"])
    assert send(only_failures, Message(REFUSED, "x")) == {}
    assert set(send(only_failures, Message(FAILED, "run failed", ["boom"])).values()) == {"sent"}
    assert [m["title"] for m in got] == ["run failed"] and got[0]["type"] == "failure"


def test_a_receiver_that_is_down_is_reported_not_raised(project, tmp_path):
    from mtlops.processes import free_port

    cfg, _ = project
    cfg = _notifying(cfg, f"json://127.0.0.1:{free_port('127.0.0.1')}/hook", tmp_path, timeout_s=2)
    results = send(cfg, Message(FAILED, "run failed"))
    assert next(v for k, v in results.items() if k.startswith("json://")).startswith("failed")
    assert results[f"file:{tmp_path / 'sent.jsonl'}"] == "sent"  # the other channel still got it
