"""One message when something needs a person: a refused candidate, a failed run, a degraded champion.

params.yaml's `notify` section chooses (off by default): `events` (which outcomes send), `urls` (apprise
URLs: `json://host:port/path` POSTs the message as JSON — a webhook —, `mailtos://…`, `slack://…`, any
service apprise knows) and `file` (a JSON-lines file each message is appended to: a local sink a script
or a test can read). Apprise ships with Prefect (pinned in constraints.txt), needs no network but the
target's, and sends nothing anywhere else.

A message is an event name, a subject line, its reasons (one line each) and JSON-able facts. Delivery
never raises: a notifier that is down must not turn a decision into a failure, so each channel's result
("sent" or "failed: why") is returned and a failure is logged as one warning line.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mtlops.schema import Config

log = logging.getLogger(__name__)

REFUSED, FAILED, DEGRADED, DRIFTED = "refused", "failed", "degraded", "drifted"
_LEVEL = {REFUSED: "warning", FAILED: "failure", DEGRADED: "failure", DRIFTED: "warning"}  # apprise's NotifyType


@dataclass
class Message:
    event: str  # refused | failed | degraded | drifted
    subject: str
    lines: list[str] = field(default_factory=list)  # the reasons, one per line
    facts: dict[str, Any] = field(default_factory=dict)  # model, version, run, report path …

    @property
    def body(self) -> str:
        return "\n".join(self.lines)

    def record(self) -> dict[str, Any]:
        """The message as one JSON object (the file sink's line)."""
        return {"sent_at": datetime.now(UTC).isoformat(timespec="seconds"), **asdict(self)}


def wanted(cfg: Config, event: str) -> bool:
    """Whether params' `notify` sends a message for `event`."""
    return cfg.notify.enabled and event in cfg.notify.events and bool(cfg.notify.urls or cfg.notify.file)


def send(cfg: Config, message: Message) -> dict[str, str]:
    """Deliver `message` to every channel params name, once each; `{channel: "sent" | "failed: …"}`
    (empty when notifications are off or this event is not among `notify.events`)."""
    if not wanted(cfg, message.event):
        return {}
    results: dict[str, str] = {}
    if cfg.notify.file:
        results[f"file:{cfg.notify.file}"] = _to_file(sink_path(cfg), message)
    for url in cfg.notify.urls:
        results[_redacted(url)] = _to_apprise(url, message, cfg.notify.timeout_s)
    for channel, result in results.items():
        if result != "sent":
            log.warning("notification %r to %s %s", message.subject, channel, result)
    return results


def sink_path(cfg: Config) -> Path:
    """`notify.file`, a relative path taken from the params file's folder."""
    path = Path(str(cfg.notify.file)).expanduser()
    return path if path.is_absolute() else cfg.params_dir / path


def _to_file(path: Path, message: Message) -> str:
    """Append one JSON line (an append of one short line: readers never see half a message)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(message.record(), ensure_ascii=False, default=str) + "\n")
    except OSError as err:
        return f"failed: {err}"
    return "sent"


def _to_apprise(url: str, message: Message, timeout_s: float) -> str:
    import apprise

    notifier = apprise.Apprise.instantiate(url)
    if not notifier:
        return "failed: apprise does not understand this URL"
    notifier.socket_connect_timeout = notifier.socket_read_timeout = timeout_s
    try:
        level = apprise.NotifyType(_LEVEL.get(message.event, "info"))
        ok = notifier.notify(body=message.body, title=message.subject, notify_type=level)
    except Exception as err:  # a plugin's own bug or an unexpected answer must not stop the caller
        return f"failed: {type(err).__name__}: {err}"
    return "sent" if ok else "failed: the service did not accept it (see the log above)"


def _redacted(url: str) -> str:
    """The URL without credentials, for logs and results."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    host = rest.split("/", 1)[0].rsplit("@", 1)[-1]
    return f"{scheme}://{host}"
