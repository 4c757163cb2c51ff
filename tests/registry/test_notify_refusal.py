"""A refusal, through the promote stage on a real MLflow store, sends exactly one message with the gate's
reasons to a loopback HTTP receiver (apprise `json://`) and the JSON-lines file; the flow's failure
notice does not repeat it."""

from __future__ import annotations

import json

from mtlops.notify import REFUSED
from tests.test_notify import _notifying
from tests.test_notify import receiver as receiver  # a fixture


def test_a_refusal_sends_one_message_with_the_gates_reasons(fresh, receiver, tmp_path):
    from mtlops.registry.promote import promote
    from mtlops.registry.register import register
    from mtlops.stages.promote import run as promote_stage
    from tests.registry.helpers import degrade

    cfg, paths = fresh
    url, got = receiver
    register(cfg, paths)
    promote(cfg, paths)  # v1 champion
    degrade(paths.checkpoint, {"amount": 0.05})  # a clearly worse task: the gate refuses
    register(cfg, paths)
    cfg = _notifying(cfg, url, tmp_path)
    result = promote_stage(cfg, paths)
    assert result["decision"] == "refused"
    assert len(got) == 1, got
    message = got[0]
    assert message["title"] == "mixed-mtl v2: promotion refused (champion stays v1)" and message["type"] == "warning"
    assert all(reason in message["message"] for reason in result["reasons"])
    assert any(line.startswith("FAIL: task 'amount'") for line in message["message"].splitlines())
    (line,) = (tmp_path / "sent.jsonl").read_text().splitlines()
    assert json.loads(line)["facts"]["version"] == "2" and json.loads(line)["event"] == REFUSED

    from mtlops.orchestration.flow import notify_failure

    # the flow sees the same refusal as a failed promote stage: already told, so no second message
    assert notify_failure(cfg, paths, "promote", RuntimeError("stage 'promote' failed"), started=0.0) == {}
    assert len(got) == 1
    assert set(notify_failure(cfg, paths, "train", RuntimeError("out of memory"), started=0.0).values()) == {"sent"}
    assert len(got) == 2 and "train" in got[1]["title"]
