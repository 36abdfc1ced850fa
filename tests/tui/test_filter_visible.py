"""The ``/`` filter matches names as the list shows them (issue 20): a name holding ESC is
shown as ``\\x1b[2J``, so typing ``\\x1b`` finds it; the plain name still matches."""

from __future__ import annotations

import asyncio
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from textual.pilot import Pilot

from tests.fixtures.pilot import settle
from tests.fixtures.sample import INCIDENT, SAMPLE_NOW
from timetravel.domain.times import to_rfc3339
from timetravel.query.screen import ScreenData
from timetravel.recorder.events import import_events
from timetravel.store.db import open_database
from timetravel.tui.app import TimetravelApp

# As recorded: what the list shows is the same with each control character escaped.
NAMES = ["evil\x1b[2Jname", "abc\u202edef", "bell\x07ring", "plain"]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("filter") / "filter.db"
    at = INCIDENT - timedelta(hours=1)
    lines = []
    for index, name in enumerate(NAMES):
        obj = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": name,
                "namespace": "team\x1bx" if name == "plain" else "payments",
                "uid": f"uid-{index}",
                "resourceVersion": str(10 + index),
            },
            "data": {"v": "1"},
        }
        event = {"type": "ADDED", "object": obj, "observed_at": to_rfc3339(at)}
        lines.append(orjson.dumps(event).decode())
    db = open_database(path)
    report = import_events(db, lines, cluster="prod", clock=lambda: SAMPLE_NOW)
    db.conn.close()
    assert not report.bad and report.written == len(NAMES)
    return path


def _filtered(store: Path, typed: list[list[str]]) -> list[list[str]]:
    """The names the list keeps for each filter text, typed key by key after ``/``."""
    app = TimetravelApp(ScreenData(store, now=SAMPLE_NOW), at=INCIDENT, now=SAMPLE_NOW, tz=UTC)
    out: list[list[str]] = []

    async def main() -> None:
        async with app.run_test(size=(120, 36)) as pilot:
            await settle(pilot)
            assert len(app.w_resources.rows) == len(NAMES)
            for keys in typed:
                await _type(pilot, keys)
                out.append(sorted(row.key.name for row in app.w_resources.rows))
                await pilot.press("escape")
                await settle(pilot)
                assert len(app.w_resources.rows) == len(NAMES)

    asyncio.run(main())
    return out


async def _type(pilot: Pilot[Any], keys: list[str]) -> None:
    await pilot.press("slash", *keys)
    await settle(pilot)


def keys_of(text: str) -> list[str]:
    """The key presses that type ``text`` into the filter."""
    named = {"\\": "backslash", "[": "left_square_bracket", "/": "slash", ":": "colon"}
    return [named.get(ch, ch) for ch in text]


def test_the_filter_finds_a_name_by_the_escapes_shown_and_by_its_plain_text(
    store: Path,
) -> None:
    typed = [
        "\\x1b",  # ESC as shown: in the evil name, and in the plain one's namespace
        "\\x1b[2j",  # as shown, in lower case as a person may type it
        "\\x1b[2Jname",
        "\\u202e",
        "\\x07",
        "evil",  # the plain part of a name
        "name",
        "ns:team\\x1bx",  # a field word, by the namespace as shown
        "kind:configmap \\u202edef",
        "\\x1c",  # shown by none
    ]
    found = _filtered(store, [keys_of(text) for text in typed])
    evil, rlo, bell, plain = NAMES
    assert found == [
        sorted([evil, plain]),
        [evil],
        [evil],
        [rlo],
        [bell],
        [evil],
        [evil],
        [plain],
        [rlo],
        [],
    ]


def test_the_rows_match_each_form_as_recorded_too() -> None:
    from timetravel.domain.model import ResourceKey
    from timetravel.query.rows import ResourceRow

    row = ResourceRow(
        ResourceKey("prod", "", "ConfigMap", "payments", "evil\x1b[2Jname"),
        "unmanaged",
        None,
        None,
        None,
    )
    assert row.matches("\\x1b[2J") and row.matches("evil") and row.matches("[2jname")
    assert row.matches("\x1b[2j")  # the raw character, as a paste may carry it
    assert not row.matches("\\x1bx")
    assert not row.matches("name\\npayments")  # never across the two forms
