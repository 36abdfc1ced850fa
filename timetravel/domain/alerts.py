"""Alerts: the events worth telling someone, and the messages that carry them.

An event is found once in the record (its ``key`` says which fact: the same fact found
again, after a restart, is the same event) and is delivered in a message to each receiver
at least once. A message groups a burst of one cluster's events (a rollout touches many
objects at once); it keeps its key across retries, so a receiver that saw it already can
tell (``Idempotency-Key`` header, ``key`` in the body).

Formats (docs/ALERTS.md, docs/alert.schema.json):

- ``json``: ``{"type": "timetravel.alert/v1", "key", "cluster", "events": [...]}``;
- ``slack``: Slack's incoming-webhook message (``text`` plus ``blocks`` of ``section``
  and ``context`` with ``mrkdwn`` text, escaped as Slack documents: ``&``, ``<``, ``>``).

No Secret value is ever in a message: an event about a Secret names the fields, never
their values (which are stored hashed anyway).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from timetravel.domain.printable import printable

SCHEMA = "timetravel.alert/v1"
KINDS = (
    "drift_opened",
    "drift_closed",
    "manual_change",
    "failed_sync",
    "recording_gap",
    "unknown_cause",
    "unknown_provenance",
)
TITLES = {
    "drift_opened": "Drift opened",
    "drift_closed": "Drift closed",
    "manual_change": "Manual change",
    "failed_sync": "Failed sync",
    "recording_gap": "Recording gap",
    "unknown_cause": "Change of unknown cause",
    "unknown_provenance": "Image of unknown provenance",
}
GROUP_MAX = 20  # events per message: a burst beyond that is several messages
SIGNATURE_HEADER = "X-Timetravel-Signature"


@dataclass(frozen=True)
class AlertEvent:
    kind: str
    key: str  # which fact: the same fact found again is the same event
    at: str  # RFC 3339: when it happened
    cluster: str | None
    summary: str  # one line, in the words of the screen
    resource: dict[str, Any] | None = None  # {"kind", "namespace", "name"}
    cause: str | None = None
    actor: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "key": self.key,
            "at": self.at,
            "cluster": self.cluster,
            "resource": self.resource,
            "summary": self.summary,
            "cause": self.cause,
            "actor": self.actor,
            "details": self.details,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AlertEvent:
        return cls(
            kind=data["kind"],
            key=data["key"],
            at=data["at"],
            cluster=data.get("cluster"),
            summary=data["summary"],
            resource=data.get("resource"),
            cause=data.get("cause"),
            actor=data.get("actor"),
            details=data.get("details") or {},
        )


def message_key(target: str, event_keys: Sequence[str]) -> str:
    """A message's key: the receiver and the events it carries, the same on every retry."""
    digest = hashlib.sha256("\n".join([target, *event_keys]).encode()).hexdigest()
    return f"tt-{digest[:32]}"


def groups(events: Sequence[tuple[int, AlertEvent]]) -> list[list[tuple[int, AlertEvent]]]:
    """Events (id, event) in messages: by cluster, in order, at most GROUP_MAX each."""
    by_cluster: dict[str | None, list[tuple[int, AlertEvent]]] = {}
    for item in events:
        by_cluster.setdefault(item[1].cluster, []).append(item)
    out = []
    for items in by_cluster.values():
        for start in range(0, len(items), GROUP_MAX):
            out.append(items[start : start + GROUP_MAX])
    return out


def json_body(key: str, events: Sequence[AlertEvent]) -> dict[str, Any]:
    return {
        "type": SCHEMA,
        "key": key,
        "cluster": events[0].cluster if events else None,
        "events": [e.to_json() for e in events],
    }


def _slack_escape(text: str) -> str:
    """Slack's own escaping for mrkdwn text, after control characters are made visible."""
    return printable(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _resource_text(event: AlertEvent) -> str:
    r = event.resource
    if not r:
        return ""
    return f"{r.get('namespace') or '-'}/{r.get('kind')}/{r.get('name')}"


def slack_body(key: str, events: Sequence[AlertEvent], link: str | None = None) -> dict[str, Any]:
    """An incoming-webhook message: a fallback ``text`` and Block Kit ``blocks``."""
    cluster = events[0].cluster if events else None
    head = f"timetravel: {len(events)} event{'s' if len(events) != 1 else ''}"
    if cluster:
        head += f" in {cluster}"
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{_slack_escape(head)}*"}}
    ]
    for event in events[:GROUP_MAX]:
        where = _resource_text(event)
        who = " ".join(x for x in (event.cause, event.actor) if x)
        line = f"*{TITLES.get(event.kind, event.kind)}*"
        if where:
            line += f" `{_slack_escape(where)}`"
        line += f"\n{_slack_escape(event.summary)}"
        if who:
            line += f"\n_{_slack_escape(who)}_"
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": line[:3000]}})
    context = f"at {events[0].at} · key {key}" if events else f"key {key}"
    if link:
        context += f" · {_slack_escape(link)}"
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": context}]})
    fallback = "; ".join(
        f"{TITLES.get(e.kind, e.kind)}: {printable(e.summary)}" for e in events[:5]
    )
    return {"text": f"{head}: {fallback}"[:3000], "blocks": blocks}


def encode(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


def signature(secret: bytes, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 of the exact body bytes, as GitHub signs webhooks."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def backoff(attempts: int, rng: random.Random | None = None) -> timedelta:
    """Wait before retry number ``attempts`` (1 = the first retry): 5 s doubling, at most
    15 minutes, with up to 20% jitter so receivers coming back are not hit at once."""
    base = min(5 * 2 ** max(attempts - 1, 0), 900)
    jitter = (rng or random).uniform(0, 0.2 * base)
    return timedelta(seconds=base + jitter)
