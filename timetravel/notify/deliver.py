"""Delivering alert messages: to an HTTP receiver (JSON or Slack) or a command's stdin.

A pass, for each receiver: the events found since its last message that have waited
``group_window`` (so a burst gathers into one message) become messages, in the same
transaction as the receiver's cursor; then every message due is sent. A send that fails
(an error status, a timeout, a refused connection, a command's non-zero exit) is tried
again after a backoff (5 s doubling to 15 min, with jitter), the same message with the
same key, until it is delivered; all of it is in the store, so a receiver down for an hour
or a recorder restarted in between loses nothing.

A receiver is known in the store by a name that holds no secret: a Slack webhook's URL is
its credential, so the name is a hash of it.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from timetravel import __version__
from timetravel.domain.alerts import (
    SIGNATURE_HEADER,
    AlertEvent,
    backoff,
    encode,
    groups,
    json_body,
    message_key,
    signature,
    slack_body,
)
from timetravel.domain.times import to_stored
from timetravel.store import Database
from timetravel.store import alerts as outbox

FORMATS = ("json", "slack")


@dataclass(frozen=True)
class Receiver:
    """Where messages go: a URL (``format`` json or slack) or a command (JSON on stdin)."""

    url: str | None = None
    command: tuple[str, ...] | None = None
    format: str = "json"
    secret: bytes | None = None
    timeout: float = 10.0

    @property
    def name(self) -> str:
        """The receiver's name in the store: no credential in it."""
        what = self.url if self.url is not None else "\0".join(self.command or ())
        digest = hashlib.sha256(f"{self.format}\0{what}".encode()).hexdigest()[:16]
        kind = "url" if self.url is not None else "cmd"
        return f"{kind}:{digest}"

    @property
    def shown(self) -> str:
        """How it is named in logs: the URL's scheme and host only, or the command's name."""
        if self.url is not None:
            parts = urlsplit(self.url)
            port = f":{parts.port}" if parts.port else ""
            return f"{parts.scheme}://{parts.hostname or '?'}{port}/…"
        return (self.command or ("?",))[0]


@dataclass(frozen=True)
class Sent:
    messages: int
    delivered: int
    failed: int


def _cursor_name(receiver: Receiver) -> str:
    return f"sent_to:{receiver.name}"


def make_messages(db: Database, receiver: Receiver, now: datetime, group_window: timedelta) -> int:
    """Gather the events this receiver has not been sent into messages; returns how many."""
    after = int(outbox.cursor(db.conn, _cursor_name(receiver), "0"))
    events = outbox.events_after(db, after, to_stored(now - group_window))
    if not events:
        return 0
    made = 0
    with db.conn:
        for group in groups(events):
            ids = [event_id for event_id, _ in group]
            key = message_key(receiver.name, [event.key for _, event in group])
            outbox.add_message(db.conn, receiver.name, key, ids, to_stored(now))
            made += 1
        outbox.set_cursor(db.conn, _cursor_name(receiver), str(max(i for i, _ in events)))
    return made


def body_of(receiver: Receiver, key: str, events: Sequence[AlertEvent]) -> bytes:
    if receiver.format == "slack":
        return encode(slack_body(key, events))
    return encode(json_body(key, events))


def send(receiver: Receiver, key: str, body: bytes) -> str | None:
    """Send one message; None when delivered, else why not (one line)."""
    if receiver.command is not None:
        try:
            done = subprocess.run(
                list(receiver.command),
                input=body,
                capture_output=True,
                timeout=receiver.timeout,
                check=False,
                env=_command_env(key),
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"{receiver.shown}: {exc.__class__.__name__}: {exc}"
        if done.returncode != 0:
            tail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
            return f"{receiver.shown} exited {done.returncode}: {tail[0][:200]}"
        return None
    assert receiver.url is not None
    headers = {
        "Content-Type": "application/json",
        "Idempotency-Key": key,
        "User-Agent": f"timetravel/{__version__}",
    }
    if receiver.secret:
        headers[SIGNATURE_HEADER] = signature(receiver.secret, body)
    request = urllib.request.Request(receiver.url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=receiver.timeout) as response:
            response.read()
            return None
    except urllib.error.HTTPError as exc:
        return f"{receiver.shown}: HTTP {exc.code}"
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        return f"{receiver.shown}: {reason}"


def _command_env(key: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIMETRAVEL_NOTIFY_SECRET")}
    env["TIMETRAVEL_IDEMPOTENCY_KEY"] = key
    return env


def deliver(db: Database, receiver: Receiver, now: datetime) -> Sent:
    """Send every message due to ``receiver``."""
    due = outbox.due_messages(db, receiver.name, to_stored(now))
    ok = bad = 0
    for message in due:
        events = outbox.events_by_id(db, list(message.event_ids))
        error = send(receiver, message.key, body_of(receiver, message.key, events))
        if error is None:
            outbox.delivered(db, message.id, to_stored(now))
            ok += 1
        else:
            wait = backoff(message.attempts + 1)
            outbox.failed(db, message.id, error, to_stored(now + wait))
            bad += 1
    return Sent(len(due), ok, bad)
