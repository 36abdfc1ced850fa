"""Escape sequences in recorded text never reach the terminal (issue 20, item 1).

Names, ConfigMap values, field managers, commit messages and cluster names holding a CSI
clear-screen, an OSC title, an OSC 8 link, BEL, C1 CSI, DEL, a right-to-left override, a
lone carriage return or Textual markup: the screen shows each as escapes (``\\x1b``,
``\\u202e``) or as written (``[red]x[/]``), and so do the Markdown and HTML reports; the
JSON keeps the data exact, with every such character escaped the JSON way.
"""

from __future__ import annotations

import asyncio
import gzip
import html
import io
import json
import re
import tarfile
import unicodedata
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from textual.pilot import Pilot
from textual.widgets import Input

from tests.fixtures.pilot import settle
from tests.fixtures.sample import INCIDENT, SAMPLE_NOW
from timetravel.domain.ci_env import PipelineRun
from timetravel.domain.diff import FieldDiff
from timetravel.domain.drift import DriftInterval
from timetravel.domain.model import ResourceKey
from timetravel.domain.printable import is_printable, printable
from timetravel.domain.snapshot import (
    ChangeView,
    CommitView,
    FieldChange,
    RepoView,
    ResourceView,
    Snapshot,
)
from timetravel.domain.times import to_rfc3339, to_stored
from timetravel.export import write_export
from timetravel.export.wording import safe_url
from timetravel.query.detail import Detail
from timetravel.query.screen import ScreenData
from timetravel.recorder.events import import_events
from timetravel.store.db import open_database
from timetravel.store.gitstore import CommitRecord
from timetravel.tui.app import TimetravelApp
from timetravel.tui.widgets.dialogs import GotoScreen

# name: (as recorded, as shown). Written out by hand, not computed with printable().
HOSTILE: dict[str, tuple[str, str]] = {
    "csi": ("\x1b[2J\x1b[H", "\\x1b[2J\\x1b[H"),
    "title": ("\x1b]0;pwned\x07", "\\x1b]0;pwned\\x07"),
    "osc8": (
        "\x1b]8;;http://x\x1b\\here\x1b]8;;\x1b\\",
        "\\x1b]8;;http://x\\x1b\\here\\x1b]8;;\\x1b\\",
    ),
    "bel": ("ding\x07dong", "ding\\x07dong"),
    "c1": ("\x9b2J", "\\x9b2J"),
    "del": ("rub\x7fout", "rub\\x7fout"),
    "rlo": ("abc\u202edef", "abc\\u202edef"),
    "cr": ("safe\rEVIL", "safe\\rEVIL"),
    "markup": ("[red]x[/]", "[red]x[/]"),
}
BIDI = set("\u061c\u200e\u200f\u2028\u2029\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def raw_controls(text: str, allowed: str = "") -> list[str]:
    """The control, DEL, C1 and bidi characters in ``text`` (but ``allowed``), as reprs."""
    return sorted(
        {
            repr(ch)
            for ch in text
            if ch not in allowed and (unicodedata.category(ch) == "Cc" or ch in BIDI)
        }
    )


# --- the pure function -------------------------------------------------------------------------


@pytest.mark.parametrize("name", HOSTILE)
def test_each_hostile_string_is_shown_escaped(name: str) -> None:
    raw, shown = HOSTILE[name]
    assert printable(raw) == shown
    assert printable(shown) is shown  # nothing left to escape
    assert is_printable(shown) and (is_printable(raw) == (raw == shown))


def test_the_visible_forms() -> None:
    assert printable("a\tb\nc") == "a\\tb\\nc"
    assert printable("a\tb\nc\r", block=True) == "a\tb\nc\\r"
    assert printable("\x00\x1f\x7f\x80\x85\x9f") == "\\x00\\x1f\\x7f\\x80\\x85\\x9f"
    marks = "\u061c\u200e\u200f\u2028\u2029\u202a\u2066\u2069"
    assert printable(marks) == "\\u061c\\u200e\\u200f\\u2028\\u2029\\u202a\\u2066\\u2069"
    assert printable("\ud800") == "\\ud800"  # a lone surrogate, which no terminal can encode
    # What is safe to show stays as it is: accents, CJK, emoji, a no-break space, a ZWJ.
    for fine in ("é", "日本", "👩\u200d💻", "a\xa0b", "\\x1b typed", ""):
        assert printable(fine) is fine and printable(fine, block=True) is fine


@given(st.text())
def test_nothing_unsafe_comes_out(text: str) -> None:
    shown = printable(text)
    assert raw_controls(shown) == []
    assert not any(0xD800 <= ord(ch) <= 0xDFFF for ch in shown)
    assert raw_controls(printable(text, block=True), allowed="\t\n") == []
    assert printable(shown) == shown


@given(st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp"))))
def test_safe_text_comes_back_as_the_same_object(text: str) -> None:
    if any(ch in BIDI for ch in text):
        text = "".join(ch for ch in text if ch not in BIDI)
    assert printable(text) is text
    assert printable(text, block=True) is text


@given(st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E)))
def test_plain_ascii_comes_back_as_the_same_object(text: str) -> None:
    assert printable(text) is text


def test_a_url_with_a_control_character_is_not_linked() -> None:
    assert safe_url("https://ci.example.com/job/9") == "https://ci.example.com/job/9"
    for raw, _ in HOSTILE.values():
        assert safe_url(f"https://ci.example.com/{raw}") is None


# --- a store full of hostile text --------------------------------------------------------------

CLUSTER = "prod\x1b]0;pwned\x07"
CLUSTER_SHOWN = "prod\\x1b]0;pwned\\x07"


def _hostile_events() -> list[dict[str, Any]]:
    """A ConfigMap per hostile string: named after it, created plain, then set to it by a
    field manager named after it."""
    events: list[dict[str, Any]] = []
    start = INCIDENT - timedelta(hours=2)
    for i, (name, (raw, _)) in enumerate(HOSTILE.items()):
        created = start + timedelta(minutes=i)
        changed = INCIDENT - timedelta(minutes=30 - i)
        meta: dict[str, Any] = {
            "name": f"{raw}.{name}",
            "namespace": "payments",
            "uid": f"uid-{name}",
            "resourceVersion": str(100 + i),
            "creationTimestamp": to_rfc3339(created),
            "managedFields": [_managed("argocd-controller", "Apply", created)],
        }
        obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"v": "0"}}
        events.append({"type": "ADDED", "object": obj, "observed_at": to_rfc3339(created)})
        meta = {
            **meta,
            "resourceVersion": str(200 + i),
            "managedFields": [_managed(raw, "Update", changed)],
        }
        obj = {**obj, "metadata": meta, "data": {"v": raw}}
        events.append({"type": "MODIFIED", "object": obj, "observed_at": to_rfc3339(changed)})
    return events


def _managed(manager: str, operation: str, at: datetime) -> dict[str, Any]:
    return {
        "manager": manager,
        "operation": operation,
        "apiVersion": "v1",
        "time": to_rfc3339(at),
        "fieldsType": "FieldsV1",
        "fieldsV1": {"f:data": {}},
    }


@pytest.fixture(scope="module")
def hostile_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("hostile") / "hostile.db"
    db = open_database(path)
    lines = [orjson.dumps(e).decode() for e in _hostile_events()]
    report = import_events(db, lines, cluster=CLUSTER, clock=lambda: SAMPLE_NOW)
    db.conn.close()
    assert not report.bad and report.written == 2 * len(HOSTILE)
    return path


def screen_text(app: TimetravelApp) -> str:
    """What the screen shows, from its SVG screenshot: the SVG checked for raw characters
    first, then its text (rows joined) for the visible forms."""
    svg = app.export_screenshot()
    assert raw_controls(svg, allowed="\n") == []
    pieces = re.findall(r"<text[^>]*>(.*?)</text>", svg, re.S)
    return html.unescape("".join(pieces)).replace("\xa0", " ")


Scenario = Callable[[TimetravelApp, Pilot[Any]], Awaitable[None]]


def drive(
    db: Path,
    tmp_path: Path,
    scenario: Scenario,
    size: tuple[int, int] = (200, 50),
    notifications: bool = False,
) -> None:
    app = TimetravelApp(
        ScreenData(db, now=SAMPLE_NOW), at=INCIDENT, now=SAMPLE_NOW, tz=UTC, export_dir=tmp_path
    )

    async def main() -> None:
        async with app.run_test(size=size, notifications=notifications) as pilot:
            await settle(pilot)
            await scenario(app, pilot)

    asyncio.run(main())


def test_the_screen_shows_hostile_text_escaped(
    hostile_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every resource selected in turn: its name in the list, the desired|actual title, the
    YAML, the cause panel (field manager, value), the changes list and the header."""
    monkeypatch.setenv("TEXTUAL_ANIMATIONS", "none")
    seen: dict[str, str] = {}

    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        listing = app.w_resources
        assert len(listing.rows) == len(HOSTILE)
        for index in range(len(listing.rows)):
            listing.cursor = index
            await settle(pilot)
            key = listing.rows[index].key
            assert app.detail is not None and app.detail.key == key
            seen[key.name.rsplit(".", 1)[1]] = screen_text(app)
        # The list's own rows, as its Line API renders them (names are cut at its width).
        rows = "".join(
            seg.text for y in range(listing.size.height) for seg in listing.render_line(y)
        )
        assert raw_controls(rows) == []
        for _, shown in HOSTILE.values():
            assert f"ConfigMap/{shown[:7]}" in rows

    drive(hostile_store, tmp_path, scenario)
    assert set(seen) == set(HOSTILE)
    for name, text in seen.items():
        shown = HOSTILE[name][1]
        assert CLUSTER_SHOWN in text  # the header
        assert f"payments/ConfigMap/{shown}.{name} · unmanaged" in text  # desired|actual title
        # The cause panel's field, values as data ("0" is a string; a CR reads ⏎).
        value = shown.replace("\\r", "⏎")
        assert f'data.v "0" → {value}' in text
        assert f"✎ {shown}" in text or f"· {shown}" in text  # its actor
    # Markup stays text: the title would have lost its brackets to a red x.
    assert "[red]x[/].markup" in seen["markup"]


def _detail(key: ResourceKey) -> Detail:
    """A drifted resource's detail with every text the panels show set to a hostile string."""
    at = to_stored(INCIDENT - timedelta(minutes=5))
    run = PipelineRun(
        HOSTILE["c1"][0],
        HOSTILE["del"][0],
        "42",
        "c" * 40,
        url="https://ci.example.com/\x1b]8;;x\x1b\\",
        status=HOSTILE["rlo"][0],
    )
    change = ChangeView(
        at=at,
        key=key,
        api_version="v1",
        type="updated",
        cause="pipeline",
        actor=HOSTILE["csi"][0],
        commit="c" * 40,
        pipeline_run=run,
        fields=(FieldChange(HOSTILE["cr"][0], HOSTILE["bel"][0], HOSTILE["osc8"][0]),),
    )
    view = ResourceView(
        key=key,
        api_version="v1",
        state="drifted",
        desired={"data": {"v": HOSTILE["rlo"][0], "w": HOSTILE["markup"][0]}},
        actual={"data": {"v": HOSTILE["csi"][0], "w": HOSTILE["c1"][0]}},
    )
    return Detail(
        key=key,
        at=INCIDENT,
        view=view,
        deleted_at=None,
        changes=(change,),
        drift_since=change,
        drift=DriftInterval(at, HOSTILE["markup"][0], "manual", None, None),
        commits={"c" * 40: CommitRecord("c" * 40, at, HOSTILE["bel"][0], HOSTILE["title"][0])},
        field_diffs=(FieldDiff(HOSTILE["title"][0], HOSTILE["rlo"][0], HOSTILE["del"][0]),),
    )


def test_commit_run_and_drift_texts_are_escaped_in_the_panels(
    hostile_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEXTUAL_ANIMATIONS", "none")
    texts: list[str] = []

    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        key = app.w_resources.rows[0].key
        detail = _detail(key)
        for unified in (False, True):
            app.w_yaml.show(detail, unified=unified, noise=True)
            app.w_fields.show(detail, noise=True)
            app.w_cause.show(detail)
            await pilot.pause()
            texts.append(screen_text(app))

    drive(hostile_store, tmp_path, scenario)
    for text in texts:
        for part in (
            "drift since 21:25 by [red]x[/]",
            "\\x1b[2J\\x1b[H",  # actor
            "commit ccccccc \\x1b]0;pwned\\x07 (ding\\x07dong)",
            "rub\\x7fout #42 abc\\u202edef",  # the run
            "https://ci.example.com/\\x1b]8;;x\\x1b\\",
            "safe\\rEVIL ding\\x07dong → \\x1b]8;;http://x\\x1b\\here",
            "\\x1b]0;pwned\\x07: git abc\\u202edef, live rub\\x7fout",  # the field diff
            'v: "abc\\u202edef"',  # YAML: the project's writer quotes an RLO
        ):
            assert part in text, part


def test_toasts_and_dialogs_show_text_as_written(
    hostile_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEXTUAL_ANIMATIONS", "none")
    texts: list[str] = []

    async def scenario(app: TimetravelApp, pilot: Pilot[Any]) -> None:
        app.notify(f"load failed: {HOSTILE['title'][0]} {HOSTILE['markup'][0]}", title="x\x9b")
        await pilot.pause()
        texts.append(screen_text(app))
        app.clear_notifications()
        await pilot.press("g")
        await pilot.pause()
        assert isinstance(app.screen, GotoScreen)
        field = app.screen.query_one("#goto-input", Input)
        field.focus()
        field.value = "[bold]when[/bold]"
        await pilot.press("enter")
        await pilot.pause()
        texts.append(screen_text(app))

    drive(hostile_store, tmp_path, scenario, notifications=True)
    toast, goto = texts
    assert "load failed: \\x1b]0;pwned\\x07 [red]x[/]" in toast and "x\\x9b" in toast
    assert "'[bold]when[/bold]'" in goto


# --- the exports -------------------------------------------------------------------------------


def _hostile_snapshot() -> Snapshot:
    """Every text a report shows, each a hostile string (and a URL with an OSC 8 in it)."""
    raws = {name: raw for name, (raw, _) in HOSTILE.items()}
    resources, changes = [], []
    for name, raw in raws.items():
        key = ResourceKey("c1", "", "ConfigMap", "payments", f"{raw}.{name}")
        change = ChangeView(
            at="2026-11-19T21:10:00Z",
            key=key,
            api_version="v1",
            type="updated",
            cause="manual",
            actor=raw,
            field_managers=(f"{raw}-mgr",),
            fields=(FieldChange(f"data.{raw}", raw, f"{raw}!"),),
            evidence=raw,
        )
        changes.append(change)
        resources.append(
            ResourceView(
                key=key,
                api_version="v1",
                state="drifted",
                desired={"kind": "ConfigMap", "data": {"v": raw}},
                actual={"kind": "ConfigMap", "data": {"v": f"{raw}!"}},
                diff=({"path": "data.v", "desired": raw, "actual": f"{raw}!"},),
                source={"repo": raw, "path": f"{raw}.yaml"},
                last_change=change,
            )
        )
    run = PipelineRun(
        raws["c1"],
        raws["del"],
        "7",
        "a" * 40,
        url="https://ci.example.com/\x1b]8;;http://x\x1b\\",
        status=raws["rlo"],
        actor=raws["bel"],
        started_at="2026-11-19T21:00:00Z",
        finished_at="2026-11-19T21:05:00Z",
    )
    return Snapshot(
        at="2026-11-19T21:30:00Z",
        window_from="2026-11-19T20:30:00Z",
        window_to="2026-11-19T22:30:00Z",
        generated_at="2026-11-26T10:00:00Z",
        clusters=({"name": CLUSTER},),
        repos=(RepoView(raws["cr"], raws["csi"], "a" * 40, message=raws["title"]),),
        resources=tuple(resources),
        changes=tuple(changes),
        pipeline_runs=(run,),
        commits=(CommitView("a" * 40, "2026-11-19T21:00:00Z", raws["osc8"], author=raws["title"]),),
        errors=(
            {
                "kind": "gap",
                "cluster": raws["csi"],
                "from": "2026-11-19T20:40:00Z",
                "to": "2026-11-19T20:50:00Z",
                "reason": raws["title"],
            },
            {"kind": "manifest", "repo": raws["del"], "path": raws["rlo"], "error": raws["bel"]},
        ),
    )


@pytest.mark.parametrize("fmt", ["markdown", "html"])
def test_reports_show_hostile_text_escaped(fmt: str) -> None:
    snapshot = _hostile_snapshot()
    document = write_export(snapshot, fmt).decode()
    assert raw_controls(document, allowed="\n") == []
    document = document.replace("<wbr>", "")  # where the HTML lets a long name break
    for name, (_, shown) in HOSTILE.items():
        # Names are code: exact but for the escapes (a report's code span keeps a line, so
        # a carriage return shows as the line-break mark there).
        if fmt == "markdown":
            expected = "safe⏎EVIL" if name == "cr" else shown
        else:
            expected = html.escape(shown)
        assert f"payments/ConfigMap/{expected}.{name}" in document, name
    assert "https://ci.example.com/" not in document  # not a safe link, and not linked
    if fmt == "html":
        assert "<title>Incident snapshot: prod\\x1b]0;pwned\\x07 at " in document
    else:
        assert document.startswith("# Incident snapshot: prod\\x1b\\]0;pwned\\x07 at ")


def test_bundle_members_hold_no_raw_control_character() -> None:
    archive = write_export(_hostile_snapshot(), "bundle")
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(archive))) as tar:
        files = [(m.name, tar.extractfile(m)) for m in tar.getmembers() if m.isfile()]
        texts = {name: f.read().decode() for name, f in files if f is not None}
    assert any(name.endswith("report.md") for name in texts)
    for name, text in texts.items():
        assert raw_controls(text, allowed="\n") == [], name


def test_json_keeps_the_data_exact_and_no_control_character_raw() -> None:
    snapshot = _hostile_snapshot()
    data = write_export(snapshot, "json")
    assert raw_controls(data.decode(), allowed="\n") == []
    document = json.loads(data)
    assert [r["name"] for r in document["resources"]] == [r.key.name for r in snapshot.resources]
    assert document["clusters"] == [{"name": CLUSTER}]
    assert document["commits"][0]["message"] == HOSTILE["osc8"][0]
    assert document["pipeline_runs"][0]["url"] == "https://ci.example.com/\x1b]8;;http://x\x1b\\"
    actual = [r["actual"]["data"]["v"] for r in document["resources"]]
    assert actual == [f"{raw}!" for raw, _ in HOSTILE.values()]
    assert "\\u202e" in data.decode() and "\\u009b" in data.decode() and "\\u007f" in data.decode()


def test_the_export_of_the_screens_moment_is_escaped(hostile_store: Path) -> None:
    snapshot = ScreenData(hostile_store, now=SAMPLE_NOW).export_snapshot(INCIDENT)
    assert len(snapshot.resources) == len(HOSTILE)
    for fmt in ("markdown", "html", "json"):
        document = write_export(snapshot, fmt, tz=UTC).decode()
        assert raw_controls(document, allowed="\n") == [], fmt
    markdown = write_export(snapshot, "markdown").decode()
    page = write_export(snapshot, "html").decode().replace("<wbr>", "")
    for name, (_, shown) in HOSTILE.items():
        assert f"`payments/ConfigMap/{'safe⏎EVIL' if name == 'cr' else shown}.{name}`" in markdown
        assert f"payments/ConfigMap/{html.escape(shown)}.{name}" in page
    exact = json.loads(write_export(snapshot, "json"))
    names = {r["name"] for r in exact["resources"]}
    assert names == {f"{raw}.{name}" for name, (raw, _) in HOSTILE.items()}


# --- the command line's own lines ---------------------------------------------------------------

_RAW = re.compile("[\x1b\x07\x9b\u202e]")


def test_command_lines_quoting_data_show_escapes_not_raw(tmp_path: Path) -> None:
    """A skipped record's reason and a user error quote what the user handed over: a file
    name, a time, a record. They reach the terminal with their escapes visible."""
    import subprocess
    import sys

    events = tmp_path / "events.jsonl"
    good = {
        "type": "ADDED",
        "object": {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "ok", "namespace": "default", "uid": "u1", "resourceVersion": "1"},
        },
    }
    bad = dict(good, observed_at="\x1b]0;owned\x07 \u202e")
    events.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n")
    db = tmp_path / "tt.db"
    imported = subprocess.run(
        [sys.executable, "-m", "timetravel", "import-events", "--db", str(db), "-q", str(events)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert imported.returncode == 1, imported.stderr
    assert "line 2" in imported.stderr and not _RAW.search(imported.stderr)
    assert "\\x1b" in imported.stderr

    missing = tmp_path / "gone\x1b[2J\u202e.jsonl"
    refused = subprocess.run(
        [sys.executable, "-m", "timetravel", "import-events", "--db", str(db), str(missing)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert refused.returncode == 2
    assert refused.stderr.count("\n") == 1 and not _RAW.search(refused.stderr)
    assert "\\x1b[2J" in refused.stderr and "\\u202e" in refused.stderr
