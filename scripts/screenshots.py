"""Write screenshots/*.svg: the screen on the demo's week, with a frozen clock.

Run it after changing the screen (``.venv/bin/python scripts/screenshots.py``); a test runs
it too and fails when the committed images are stale.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")
# Run as a script, the repository root is not on the path, and the Pilot helpers are a
# test fixture (tests/fixtures), not part of the package.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.fixtures.pilot import settle
from timetravel.config import UiSettings
from timetravel.demo.build import build
from timetravel.domain.model import ResourceKey
from timetravel.query.screen import ScreenData
from timetravel.tui.app import TimetravelApp

ROOT = Path(__file__).resolve().parent.parent
API = ResourceKey("prod-eu1", "apps", "Deployment", "payments", "api")
# The demo anchored at a fixed moment, so the images do not depend on the day they are made.
DEMO_NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
INCIDENT = datetime(2026, 11, 19, 21, 30, tzinfo=UTC)


@dataclass(frozen=True)
class Shot:
    name: str
    at: datetime
    select: ResourceKey | None = API
    keys: tuple[str, ...] = ()
    size: tuple[int, int] = (120, 36)
    focus: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


SHOTS = (
    Shot("overview", INCIDENT),
    Shot("overview-80x24", INCIDENT, size=(80, 24)),
    Shot("drift-diff", datetime(2026, 11, 20, 9, 0, tzinfo=UTC), focus="#yaml"),
    Shot("cause-pipeline", datetime(2026, 11, 19, 21, 4, tzinfo=UTC), focus="#cause"),
    Shot("manual-edit", datetime(2026, 11, 19, 21, 24, tzinfo=UTC), keys=("d",), focus="#changes"),
    Shot("overview-160x45", INCIDENT, size=(160, 45)),
    Shot("help", INCIDENT, keys=("question_mark",)),
    Shot("export-dialog", INCIDENT, keys=("e",)),
)
# Where the export dialog says it will write: fixed, so the image names no scratch folder.
EXPORTS = Path("/home/oncall/.local/share/timetravel/exports")


async def _shoot(db: Path, shot: Shot, out: Path) -> Path:
    data = ScreenData(db, now=DEMO_NOW)
    app = TimetravelApp(
        data,
        at=shot.at,
        now=DEMO_NOW,
        tz=UTC,
        select=shot.select,
        export_dir=EXPORTS,
        recorder="demo (read-only)",
        settings=UiSettings(),  # never this machine's keymap or theme
    )
    async with app.run_test(size=shot.size) as pilot:
        await settle(pilot)
        if shot.focus:
            app.query_one(shot.focus).focus()
        for key in shot.keys:
            await pilot.press(key)
        await settle(pilot)
        # A blinking cursor is on or off depending on when the picture is taken.
        for field in app.screen.query("Input"):
            field.cursor_blink = False  # type: ignore[attr-defined]
        await settle(pilot)
        path = out / f"{shot.name}.svg"
        path.write_text(app.export_screenshot(title=f"timetravel: {shot.name}"))
    return path


async def _shoot_all(out: Path) -> list[Path]:
    with tempfile.TemporaryDirectory() as scratch:
        db = build(Path(scratch) / "demo", now=DEMO_NOW, zone=UTC).db_path
        return [await _shoot(db, shot, out) for shot in SHOTS]


def main(out: Path | None = None) -> list[Path]:
    """Write every screenshot into ``out`` (default: the repository's screenshots/)."""
    target = out or ROOT / "screenshots"
    target.mkdir(parents=True, exist_ok=True)
    return asyncio.run(_shoot_all(target))


if __name__ == "__main__":
    for written in main(Path(sys.argv[1]) if len(sys.argv) > 1 else None):
        print(written)
