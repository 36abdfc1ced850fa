"""Property: the state exported at any T equals a plain replay of the events up to T."""

from __future__ import annotations

import json
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from timetravel.domain.normalize import normalize
from timetravel.export.json_export import render_json
from timetravel.query.moment import build_snapshot
from timetravel.recorder.events import import_events
from timetravel.store.db import open_database, redaction_key

START = datetime(2026, 11, 19, 20, 0, tzinfo=UTC)
NAMES = [f"obj{i}" for i in range(8)]
NAMESPACES = ["payments", "checkout"]


def make_object(kind: str, ns: str, name: str, version: int, uid: str) -> dict[str, Any]:
    meta = {"name": name, "namespace": ns, "uid": uid, "resourceVersion": str(version)}
    if kind == "ConfigMap":
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": meta,
            "data": {"value": f"v{version % 3}"},
        }
    if kind == "Secret":
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": meta,
            "data": {"token": "c2VjcmV0LXZhbHVl" if version % 2 else "b3RoZXItdmFsdWU="},
        }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta,
        "spec": {"replicas": version % 4},
        "status": {"readyReplicas": version % 2},
    }


step = st.tuples(
    st.sampled_from(["ConfigMap", "Deployment", "Secret"]),
    st.sampled_from(NAMESPACES),
    st.sampled_from(NAMES),
    st.sampled_from(["create", "update", "delete"]),
    st.integers(min_value=0, max_value=120),  # seconds after the previous event
)


def build_events(steps: list[tuple[str, str, str, str, int]]) -> list[tuple[datetime, str, dict]]:
    """Turn random steps into a valid watch-event stream (no update of an absent object)."""
    live: dict[tuple[str, str, str], dict[str, Any]] = {}
    uid_counter = 0
    version = 0
    at = START
    events = []
    for kind, ns, name, action, gap in steps:
        at += timedelta(seconds=gap)
        key = (kind, ns, name)
        version += 1
        if action == "delete":
            if key not in live:
                continue
            events.append((at, "DELETED", live.pop(key)))
            continue
        if key not in live or action == "create":
            if key in live:
                continue
            uid_counter += 1
            obj = make_object(kind, ns, name, version, f"uid-{uid_counter}")
            live[key] = obj
            events.append((at, "ADDED", obj))
            continue
        uid = live[key]["metadata"]["uid"]
        obj = make_object(kind, ns, name, version, uid)
        live[key] = obj
        events.append((at, "MODIFIED", obj))
    return events


def replay(events: list[tuple[datetime, str, dict]], t: datetime) -> dict[tuple, dict]:
    state: dict[tuple, dict] = {}
    for at, kind, obj in events:
        if at > t:
            break
        key = (obj["kind"], obj["metadata"]["namespace"], obj["metadata"]["name"])
        if kind == "DELETED":
            state.pop(key, None)
        else:
            state[key] = obj
    return state


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    steps=st.lists(step, min_size=1, max_size=60),
    probes=st.lists(st.integers(min_value=-10, max_value=4000), min_size=1, max_size=6),
)
def test_exported_state_equals_replay(steps: list, probes: list[int]) -> None:
    events = build_events(steps)
    with tempfile.TemporaryDirectory() as tmp:
        db = open_database(Path(tmp) / "p.db")
        lines = [
            json.dumps({"type": kind, "object": obj, "observed_at": at.isoformat()})
            for at, kind, obj in events
        ]
        report = import_events(db, lines, cluster="prop")
        assert not report.bad
        key = redaction_key(db)
        for offset in probes:
            t = START + timedelta(seconds=offset)
            expected = {k: normalize(obj, key) for k, obj in replay(events, t).items()}
            snapshot = json.loads(render_json(build_snapshot(db, t, window=timedelta(0))))
            got = {
                (r["kind"], r["namespace"], r["name"]): r["actual"] for r in snapshot["resources"]
            }
            assert got == expected
