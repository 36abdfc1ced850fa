"""The cause panel flags a mutable tag re-pushed (the same ``image:`` in the spec, another
digest running, no config change) and tells a runtime's bare image ID apart; a ReplicaSet's
row and a Pod's row show their own Pods' digests only (issue 23 item 4). A store recorded
through ``import-events``: a Deployment, its ReplicaSets and Pods, as a watch delivers them."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from rich.console import Console
from textual.pilot import Pilot

from tests.fixtures.pilot import settle
from timetravel.domain.model import ResourceKey
from timetravel.domain.times import to_rfc3339
from timetravel.query.screen import ScreenData
from timetravel.recorder.events import import_events
from timetravel.store.db import open_database
from timetravel.tui.app import TimetravelApp

START = datetime(2026, 11, 10, 9, 0, tzinfo=UTC)
NOW = START + timedelta(days=1)
IMAGE = "registry.example.com/acme/api:latest"
OLD = "sha256:" + "a" * 64
NEW = "sha256:" + "b" * 64
LOCAL = "sha256:" + "c" * 64
DEPLOY = ResourceKey("prod", "apps", "Deployment", "shop", "api")
OLD_RS = ResourceKey("prod", "apps", "ReplicaSet", "shop", "api-5d8f7b")
NEW_RS = ResourceKey("prod", "apps", "ReplicaSet", "shop", "api-6f7d9c")
LOCAL_POD = ResourceKey("prod", "", "Pod", "shop", "built-here")

Scenario = Callable[[TimetravelApp, Pilot[Any]], Awaitable[None]]


def _deployment(rv: int) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "api", "namespace": "shop", "uid": "d-1", "resourceVersion": str(rv)},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "api"}},
            "template": {
                "metadata": {"labels": {"app": "api"}},
                "spec": {"containers": [{"name": "api", "image": IMAGE}]},
            },
        },
    }


def _replicaset(name: str, rv: int) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": name,
            "namespace": "shop",
            "uid": f"rs-{name}",
            "resourceVersion": str(rv),
            "ownerReferences": [
                {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api", "controller": True}
            ],
        },
        "spec": {"replicas": 1},
    }


def _pod(name: str, owner: str | None, image_id: str, rv: int) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "namespace": "shop",
        "uid": f"p-{name}",
        "resourceVersion": str(rv),
    }
    if owner is not None:
        meta["ownerReferences"] = [
            {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": owner, "controller": True}
        ]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": {"containers": [{"name": "api", "image": IMAGE}]},
        "status": {
            "phase": "Running",
            "containerStatuses": [
                {
                    "name": "api",
                    "image": IMAGE,
                    "imageID": image_id,
                    "state": {"running": {"startedAt": to_rfc3339(START)}},
                }
            ],
        },
    }


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("retag") / "retag.db"
    events = [
        (START, "ADDED", _deployment(10)),
        (START, "ADDED", _replicaset("api-5d8f7b", 11)),
        (
            START + timedelta(minutes=1),
            "ADDED",
            _pod("api-5d8f7b-aaaaa", "api-5d8f7b", f"{IMAGE[:-7]}@{OLD}", 12),
        ),
        # The node built this one itself (docker://sha256:...): a config digest, no registry's.
        (START + timedelta(minutes=1), "ADDED", _pod("built-here", None, f"docker://{LOCAL}", 13)),
        # Six hours later the tag was pushed again and the Pod restarted: no spec changed.
        (START + timedelta(hours=6), "ADDED", _replicaset("api-6f7d9c", 14)),
        (
            START + timedelta(hours=6, minutes=1),
            "ADDED",
            _pod("api-6f7d9c-bbbbb", "api-6f7d9c", f"{IMAGE[:-7]}@{NEW}", 15),
        ),
        (
            START + timedelta(hours=6, minutes=2),
            "DELETED",
            _pod("api-5d8f7b-aaaaa", "api-5d8f7b", f"{IMAGE[:-7]}@{OLD}", 16),
        ),
    ]
    lines = [
        orjson.dumps({"type": kind, "object": obj, "observed_at": to_rfc3339(at)}).decode()
        for at, kind, obj in events
    ]
    db = open_database(path)
    report = import_events(db, lines, cluster="prod", clock=lambda: NOW)
    db.conn.close()
    assert not report.bad and report.written == len(events)
    return path


def drive(store: Path, key: ResourceKey, at: datetime, scenario: Scenario, tmp: Path) -> None:
    from timetravel.config import UiSettings

    app = TimetravelApp(
        ScreenData(store, now=NOW),
        at=at,
        now=NOW,
        tz=UTC,
        select=key,
        export_dir=tmp,
        settings=UiSettings(config=tmp / "timetravel.toml", state=tmp / "ui.toml"),
    )

    async def main() -> None:
        async with app.run_test(size=(140, 40)) as pilot:
            await settle(pilot)
            await scenario(app, pilot)

    asyncio.run(main())


def cause(app: TimetravelApp) -> str:
    console = Console(width=200, color_system=None)
    with console.capture() as capture:
        console.print(app.w_cause.body.render())
    return capture.get()


def test_a_re_pushed_tag_is_flagged_and_the_old_digest_is_gone(store: Path, tmp_path: Path) -> None:
    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        text = cause(app)
        assert f"⚠ acme/api:latest {NEW[7:19]}" in text.replace("⬢", "⚠"), text
        assert "unknown provenance: no build recorded" in text
        assert "⚠ tag re-pushed: acme/api:latest ran another digest" in text
        assert OLD[7:19] not in text

    drive(store, DEPLOY, START + timedelta(hours=7), scenario, tmp_path)


def test_before_the_re_push_nothing_is_flagged(store: Path, tmp_path: Path) -> None:
    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        text = cause(app)
        assert OLD[7:19] in text
        assert "tag re-pushed" not in text

    drive(store, DEPLOY, START + timedelta(hours=2), scenario, tmp_path)


def test_a_replicasets_row_shows_its_own_pods_digest(store: Path, tmp_path: Path) -> None:
    # At 6h01m30 both ReplicaSets run a Pod: the old one's is deleted 30 s later.
    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        text = cause(app)
        assert OLD[7:19] in text and NEW[7:19] not in text
        listing = app.w_resources
        flagged = {
            listing.rows[i].key
            for i in range(listing.row_count)
            if "⚠" in listing.row_text(i).plain
        }
        # No build recorded: every row running a digest is flagged, the bare Pod's too.
        assert flagged == {
            DEPLOY,
            OLD_RS,
            NEW_RS,
            LOCAL_POD,
            ResourceKey("prod", "", "Pod", "shop", "api-5d8f7b-aaaaa"),
            ResourceKey("prod", "", "Pod", "shop", "api-6f7d9c-bbbbb"),
        }

    at = START + timedelta(hours=6, minutes=1, seconds=30)
    drive(store, OLD_RS, at, scenario, tmp_path)


def test_a_node_local_image_id_is_told_apart(store: Path, tmp_path: Path) -> None:
    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        text = cause(app)
        assert "node-local image ID: no build can match it" in text
        assert LOCAL[7:19] in text

    drive(store, LOCAL_POD, START + timedelta(hours=7), scenario, tmp_path)
