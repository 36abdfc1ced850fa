"""Helpers for driving the screen headless (tests, the screenshot script)."""

from __future__ import annotations

from typing import Any

from textual.pilot import Pilot


async def settle(pilot: Pilot[Any], timeout: float = 10.0) -> None:
    """Wait until the app has no load pending or running (never a fixed sleep)."""
    app: Any = pilot.app
    waited = 0.0
    quiet = 0
    while waited < timeout:
        await pilot.pause(0.01)
        waited += 0.01
        # Two quiet checks in a row: a finished worker's message may still be in flight.
        quiet = quiet + 1 if app.settled else 0
        if quiet >= 3:
            break
    # Layout (scrollbars of panels whose content just changed) settles a frame later.
    for _ in range(3):
        await pilot.pause()
        await pilot.wait_for_scheduled_animations()
