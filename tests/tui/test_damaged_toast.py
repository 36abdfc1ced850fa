"""A damaged stored frame met by the screen's reads is said in a toast (issue 20): the
object it left out and the span, once; the rest of the list is shown."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from tests.fixtures.pilot import settle
from tests.fixtures.sample import SAMPLE_NOW
from timetravel.domain.times import to_stored
from timetravel.query.screen import ScreenData
from timetravel.store.db import open_database
from timetravel.tui.app import TimetravelApp

MIDWEEK = datetime(2026, 11, 18, 12, 0, tzinfo=UTC)


def _damage_cart(path: Path) -> None:
    """Flip one bit in the middle of checkout/cart's segment holding MIDWEEK."""
    db = open_database(path)
    try:
        segment_id, body = db.execute(
            "SELECT s.id, s.body FROM segments s JOIN resources r ON r.id = s.resource_id "
            "WHERE r.namespace = 'checkout' AND r.name = 'cart' AND r.kind = 'Deployment' "
            "AND s.first_at <= ? ORDER BY s.first_at DESC LIMIT 1",
            (to_stored(MIDWEEK),),
        ).fetchone()
        damaged = bytearray(body)
        damaged[len(damaged) // 2] ^= 0x04
        with db.conn:
            db.execute("UPDATE segments SET body = ? WHERE id = ?", (bytes(damaged), segment_id))
    finally:
        db.conn.close()


def test_a_damaged_frame_is_a_toast_and_the_rest_is_listed(own_store: Path) -> None:
    _damage_cart(own_store)
    app = TimetravelApp(
        ScreenData(own_store, now=SAMPLE_NOW),
        at=MIDWEEK,
        now=SAMPLE_NOW,
        tz=UTC,
        poll_interval=0.1,
    )
    toasts: list[str] = []
    names: list[str] = []

    async def main() -> None:
        async with app.run_test(size=(120, 36), notifications=True) as pilot:
            await settle(pilot)
            for _ in range(200):
                toasts[:] = [str(n.message) for n in app._notifications]
                if toasts:
                    break
                await pilot.pause(0.02)
            names.extend(
                f"{r.key.kind}/{r.key.namespace}/{r.key.name}" for r in app.w_resources.rows
            )

    asyncio.run(main())
    assert len(toasts) == 1, toasts
    assert toasts[0].startswith(
        "stored versions of 1 object are damaged and left out: Deployment/checkout/cart "
        "(2026-11-17T19:01:00Z to "
    )
    assert "Deployment/checkout/cart" not in names and "Service/checkout/cart" in names
    assert "Deployment/payments/api" in names and len(names) > 10
