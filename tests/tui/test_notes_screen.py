"""Notes from the screen: ``t`` pins a note at the cursor (about the whole moment, or the
selected resource), written through the store; it shows on the timeline (a mark) and in the
cause panel; a store this user may not write (a PostgreSQL reader role) is one toast, nothing
written, no traceback. Recorded text is shown as written, never as markup.

Real stores (a copy of the sample week; the sample week in a PostgreSQL server), the real
app driven by Pilot.
"""

from __future__ import annotations

from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Checkbox, Input
from textual.worker import WorkerState

from tests.fixtures.pilot import drive, settle
from tests.fixtures.postgres import PostgresServer
from tests.fixtures.sample import INCIDENT, SAMPLE_NOW, build_sample_store
from timetravel.config import UiSettings
from timetravel.domain.model import ResourceKey
from timetravel.domain.notes import Note
from timetravel.domain.times import to_stored
from timetravel.query.screen import ScreenData
from timetravel.store.db import open_database
from timetravel.store.notes import notes_between
from timetravel.tui.app import TimetravelApp
from timetravel.tui.widgets.investigate import NoteScreen

API = ResourceKey("prod", "apps", "Deployment", "payments", "api")
AUTHOR = "Dana Ops"


@pytest.fixture(autouse=True)
def author(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIMETRAVEL_AUTHOR", AUTHOR)


def stored_notes(db: Path | str) -> list[Note]:
    handle = open_database(db, readonly=True)
    try:
        return notes_between(handle, "0000", "9999")
    finally:
        handle.conn.close()


def toasts(app: TimetravelApp) -> list[str]:
    return [str(n.message) for n in app._notifications]


def cause_text(app: TimetravelApp) -> str:
    return str(app.w_cause.body.render())


async def write(pilot: Pilot[Any], text: str, *, about: bool = False) -> None:
    await pilot.press("t")
    await settle(pilot)
    app: Any = pilot.app
    assert isinstance(app.screen, NoteScreen)
    assert app.screen.focused is app.screen.query_one("#note-input", Input)
    await pilot.press(*text)
    if about:  # tab to "about the resource", space ticks it: back in the text
        await pilot.press("tab", "space")
        await settle(pilot)
        assert app.screen.query_one("#note-about", Checkbox).value
    await pilot.press("enter")
    await settle(pilot)
    for _ in range(50):  # the write runs in a worker
        if not any(w.group == "note" and not w.is_finished for w in app.workers):
            break
        await pilot.pause(0.02)
    await settle(pilot)


def test_t_pins_a_note_at_the_cursor_shown_on_the_timeline_and_in_the_cause_panel(
    own_store: Path, tmp_path: Path
) -> None:
    app = TimetravelApp(
        ScreenData(own_store, now=SAMPLE_NOW),
        at=INCIDENT,
        now=SAMPLE_NOW,
        tz=UTC,
        select=API,
        export_dir=tmp_path,
        settings=UiSettings(config=tmp_path / "none.toml", state=tmp_path / "ui.toml"),
    )

    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        assert app.selected == API
        await write(pilot, "incident started")
        (note,) = stored_notes(own_store)
        assert (note.at, note.text, note.author, note.kind) == (
            to_stored(INCIDENT),
            "incident started",
            AUTHOR,
            None,
        )
        assert note.cluster == "prod"
        assert not isinstance(app.screen, NoteScreen)
        assert any("noted by Dana Ops" in t for t in toasts(app))
        marks = {(m.kind, m.at, m.label) for m in app.w_timeline.markers}
        assert ("note", INCIDENT, "Dana Ops: incident started") in marks
        # Nothing said of the resource: the moment's note shows in its cause panel.
        assert "¶ 21:30 Dana Ops (the moment): incident started" in cause_text(app)

        # About the selected resource; hostile text shown as written.
        await write(pilot, "rolled back [red]here[/]", about=True)
        notes = stored_notes(own_store)
        assert len(notes) == 2
        about = notes[1]
        assert (about.group, about.kind, about.namespace, about.name) == (
            "apps",
            "Deployment",
            "payments",
            "api",
        )
        assert any("noted on payments/Deployment/api by Dana Ops" in t for t in toasts(app))
        text = cause_text(app)
        assert "¶ 21:30 Dana Ops: rolled back [red]here[/]" in text
        assert "(the moment)" not in text  # its own notes replace the moment's

        # An empty note is refused in the dialog; esc writes nothing.
        await pilot.press("t")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, NoteScreen)
        assert "a note needs some text" in str(app.screen.query_one("#note-hint").render())
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, NoteScreen)
        assert len(stored_notes(own_store)) == 2

    drive(app, scenario)


def test_a_reader_role_gets_one_toast_and_nothing_is_written(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    url = postgres_server.new_database()
    database = url.rsplit("/", 1)[1]
    build_sample_store(url)
    postgres_server.sql(
        "DO $$ BEGIN CREATE ROLE tt_reader LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$"
    )
    postgres_server.sql(
        "GRANT USAGE ON SCHEMA public TO tt_reader; "
        "GRANT SELECT ON ALL TABLES IN SCHEMA public TO tt_reader",
        database=database,
    )
    reader_url = postgres_server.url(database, user="tt_reader")
    app = TimetravelApp(
        ScreenData(reader_url, now=SAMPLE_NOW),
        at=INCIDENT,
        now=SAMPLE_NOW,
        tz=UTC,
        export_dir=tmp_path,
        settings=UiSettings(config=tmp_path / "none.toml", state=tmp_path / "ui.toml"),
    )
    failed: list[str] = []

    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        await write(pilot, "incident started")
        failed.extend(str(w.error) for w in app.workers if w.state == WorkerState.ERROR)
        errors = [n for n in app._notifications if n.severity == "error"]
        assert len(errors) == 1, toasts(app)
        message = str(errors[0].message)
        assert message.startswith("note not written: ")
        assert "reader role" in message and "\n" not in message

    drive(app, scenario)
    assert failed == []
    assert stored_notes(url) == []


def test_a_read_only_copy_says_so_before_anything_else(
    own_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TIMETRAVEL_AUTHOR")
    monkeypatch.delenv("USER", raising=False)
    data = ScreenData(own_store, now=SAMPLE_NOW)
    # What a file (or directory) this user may not write makes it (root may write any,
    # so the test cannot make one): the header says "read-only copy" then.
    data.read_only_copy = True
    app = TimetravelApp(
        data,
        at=INCIDENT,
        now=SAMPLE_NOW,
        tz=UTC,
        export_dir=tmp_path,
        settings=UiSettings(config=tmp_path / "none.toml", state=tmp_path / "ui.toml"),
    )

    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        await write(pilot, "incident started")
        errors = [str(n.message) for n in app._notifications if n.severity == "error"]
        assert errors == ["this store is a read-only copy: notes cannot be written to it"]

    drive(app, scenario)
    assert stored_notes(own_store) == []
