"""LIVE mode: another writer appends to the store while the screen runs; the screen follows."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson

from tests.fixtures.pilot import settle
from tests.fixtures.sample import SAMPLE_NOW
from timetravel.domain.times import to_rfc3339
from timetravel.recorder.events import import_events
from timetravel.store.db import open_database
from timetravel.tui.widgets.changes_list import ChangesList
from timetravel.tui.widgets.resource_list import ResourceList


def ledger_created(at: str) -> str:
    obj = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "ledger", "namespace": "payments", "resourceVersion": "99001"},
        "data": {"mode": "strict"},
    }
    return orjson.dumps({"type": "ADDED", "object": obj, "observed_at": at}).decode()


def test_live_mode_shows_what_a_writer_appends(make_app: Any, own_store: Path) -> None:
    app = make_app(db=own_store, at=None, live=True, poll_interval=0.05)
    new_at = SAMPLE_NOW + timedelta(minutes=1)

    async def main() -> None:
        async with app.run_test(size=(120, 36)) as pilot:
            await settle(pilot)
            listing = app.query_one(ResourceList)
            assert app.live
            assert "ledger" not in {r.key.name for r in listing.rows}
            writer = open_database(own_store)
            import_events(writer, [ledger_created(to_rfc3339(new_at))], cluster="prod")
            writer.conn.close()
            for _ in range(300):
                await pilot.pause(0.02)
                if "ledger" in {r.key.name for r in listing.rows}:
                    break
            await settle(pilot)
            assert "ledger" in {r.key.name for r in listing.rows}
            assert app.cursor == new_at
            assert app.live
            changes = app.query_one(ChangesList).changes
            assert changes[-1].key.name == "ledger"

    asyncio.run(main())


def test_not_live_keeps_the_cursor(make_app: Any, own_store: Path) -> None:
    app = make_app(db=own_store, poll_interval=0.05)

    async def main() -> None:
        async with app.run_test(size=(120, 36)) as pilot:
            await settle(pilot)
            before = app.cursor
            writer = open_database(own_store)
            import_events(
                writer,
                [ledger_created(to_rfc3339(SAMPLE_NOW + timedelta(minutes=1)))],
                cluster="prod",
            )
            writer.conn.close()
            for _ in range(50):
                await pilot.pause(0.02)
                if app.last_at == SAMPLE_NOW + timedelta(minutes=1):
                    break
            assert app.last_at == SAMPLE_NOW + timedelta(minutes=1)
            assert app.cursor == before and not app.live

    asyncio.run(main())
