"""`timetravel check`: the damage two writers leave is read without a traceback, found,
and repaired keeping every distinct fact."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from timetravel.domain.model import Gap, Observation
from timetravel.store.check import check, repair
from timetravel.store.db import open_database
from timetravel.store.reader import Reader
from timetravel.store.writer import RevisionWriter

START, END = "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"


def _obj(name: str, rv: int, value: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "namespace": "default",
            "uid": f"uid-{name}",
            "resourceVersion": str(rv),
        },
        "data": {"v": value},
    }


def _stream(steps: list[tuple[int, str]]) -> list[Observation]:
    """The watch events both recorders see: (object, value) changes, in order."""
    out = []
    seen: set[int] = set()
    for rv, (which, value) in enumerate(steps, start=1):
        name = f"cm{which}"
        event = "MODIFIED" if which in seen else "ADDED"
        seen.add(which)
        at = f"2026-01-01T00:{rv // 60:02d}:{rv % 60:02d}.000000Z"
        out.append(Observation("c", event, _obj(name, rv, value), at))
    return out


def _two_writers(db_path: Path, stream: list[Observation], order: list[bool]) -> None:
    """Two writers on one database, as two recorders before the lease: both see every
    event; ``order`` says which of them writes its copy first."""
    first, second = RevisionWriter(open_database(db_path)), RevisionWriter(open_database(db_path))
    for obs, a_first in zip(stream, order, strict=False):
        writers = (first, second) if a_first else (second, first)
        for writer in writers:
            writer.write([obs])
    for writer in (first, second):
        writer.write([])
        writer.record_gap(Gap("c", "cluster:c", START, "2026-01-01T00:00:01Z", "restart"))


def _facts(db_path: Path) -> set[tuple[Any, ...]]:
    """Every distinct change the store holds: object, version, change, body."""
    db = open_database(db_path, readonly=True)
    try:
        reader = Reader(db)
        records = reader.changes_between(START, END)
        return {(r.resource_id, r.resource_version, r.change, r.body) for r in records}
    finally:
        db.conn.close()


def _single_writer_facts(tmp: Path, stream: list[Observation]) -> set[tuple[Any, ...]]:
    path = tmp / "one.db"
    path.unlink(missing_ok=True)
    RevisionWriter(open_database(path)).write(stream)
    return _facts(path)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    steps=st.lists(
        st.tuples(st.integers(0, 2), st.sampled_from(["a", "b", "c"])), min_size=1, max_size=40
    ),
    order=st.lists(st.booleans(), min_size=40, max_size=40),
)
def test_repair_keeps_every_distinct_fact_two_writers_wrote(
    tmp_path: Path, steps: list[tuple[int, str]], order: list[bool]
) -> None:
    stream = _stream(steps)
    path = tmp_path / "two.db"
    for suffix in ("", "-wal", "-shm", "-writer"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    _two_writers(path, stream, order)
    expected = _single_writer_facts(tmp_path, stream)
    db = open_database(path)
    try:
        found = check(db)
        repair(db, found)
        after = check(db)
        assert after.clean, after.lines()
    finally:
        db.conn.close()
    # Every change a single recorder would have stored, once; nothing else.
    assert _facts(path) == expected


def test_two_writers_damage_is_read_found_and_repaired_from_the_command_line(
    tmp_path: Path,
) -> None:
    path = tmp_path / "two.db"
    steps = [(i % 3, str(i)) for i in range(60)]
    _two_writers(path, _stream(steps), [True, False] * 30)
    timetravel = [sys.executable, "-m", "timetravel"]

    # Read without a traceback: the export of the window works.
    out = tmp_path / "at.md"
    export = subprocess.run(
        [
            *timetravel,
            "export",
            "--db",
            str(path),
            "--at",
            "2026-01-01T00:00:30Z",
            "--format",
            "markdown",
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert export.returncode == 0, export.stderr
    assert "Traceback" not in export.stderr
    assert "cm0" in out.read_text()

    found = subprocess.run(
        [*timetravel, "check", "--db", str(path)], capture_output=True, text=True, timeout=120
    )
    assert found.returncode == 1, found.stdout + found.stderr
    assert "duplicate revisions" in found.stdout
    assert "missing from its segment" in found.stdout
    assert "duplicate gaps" in found.stdout
    assert "--repair" in found.stderr

    repaired = subprocess.run(
        [*timetravel, "check", "--db", str(path), "--repair"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert "no damage left" in repaired.stdout
    assert _facts(path) == _single_writer_facts(tmp_path, _stream(steps))

    clean = subprocess.run(
        [*timetravel, "check", "--db", str(path)], capture_output=True, text=True, timeout=120
    )
    assert clean.returncode == 0
    assert "no damage found" in clean.stdout


def test_check_finds_nothing_in_a_sound_database(tmp_path: Path) -> None:
    path = tmp_path / "one.db"
    RevisionWriter(open_database(path)).write(_stream([(i % 4, str(i)) for i in range(50)]))
    db = open_database(path, readonly=True)
    try:
        report = check(db)
    finally:
        db.conn.close()
    assert report.clean, report.lines()
    assert report.revisions == 50
    assert report.resources == 4


def test_one_flipped_bit_in_a_segment_is_found_and_named(tmp_path: Path) -> None:
    path = tmp_path / "one.db"
    RevisionWriter(open_database(path)).write(_stream([(0, str(i)) for i in range(10)]))
    db = open_database(path)
    body = bytearray(db.execute("SELECT body FROM segments WHERE id = 1").fetchone()[0])
    body[len(body) // 2] ^= 0x10  # one bit, where SQLite's own checks never look
    with db.conn:
        db.execute("UPDATE segments SET body = ? WHERE id = 1", (bytes(body),))
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.conn.close()
    result = subprocess.run(
        [sys.executable, "-m", "timetravel", "check", "--db", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "cannot be decoded" in result.stdout
    assert "damaged frame: segment 1 of c/default/ConfigMap/cm0, from 2026-01-01T00:00:01" in (
        result.stdout
    )
    assert "Traceback" not in result.stderr


def test_repair_is_refused_while_a_recorder_writes(tmp_path: Path) -> None:
    from timetravel.store.lease import WriterLease

    path = tmp_path / "one.db"
    RevisionWriter(open_database(path)).write(_stream([(0, "a")]))
    with WriterLease(path) as held:
        assert held.try_acquire()
        result = subprocess.run(
            [sys.executable, "-m", "timetravel", "check", "--db", str(path), "--repair"],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 2
    assert "already recorded by" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
