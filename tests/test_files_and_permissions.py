"""Files and permissions: a read-only copy opens, exports are written whole and private.

Tests run as root, and root ignores file modes. A truly read-only location is made by
running the command without capabilities (``setpriv --bounding-set=-all``): uid 0 without
CAP_DAC_OVERRIDE obeys the modes like any user. Where that is impossible those tests skip
and say why; the choice of URI is tested as a pure function either way.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from timetravel.demo.build import build
from timetravel.store.db import readonly_uri

AT = "2026-11-19T21:30:00Z"  # the demo's Thursday-night incident
SIZE_LIMIT = 8000  # bytes: below every format's size, like a disk that fills up


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    now = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    return build(tmp_path_factory.mktemp("demo"), now=now, zone=UTC).db_path


@pytest.fixture
def rollback_db(demo_db: Path, tmp_path: Path) -> Path:
    """A copy in rollback-journal mode: reading it creates no -shm, so a file size limit
    hits the export's own write and nothing else."""
    target = tmp_path / "db" / "copy.db"
    target.parent.mkdir()
    shutil.copy(demo_db, target)
    conn = sqlite3.connect(target)
    conn.execute("PRAGMA journal_mode = DELETE")
    conn.close()
    return target


def _run(
    *args: str,
    prefix: tuple[str, ...] = (),
    preexec: Callable[[], None] | None = None,
    code: str | None = None,
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", code] if code else [sys.executable, "-m", "timetravel"]
    return subprocess.run(
        [*prefix, *command, *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=180,
        preexec_fn=preexec,
        env={**os.environ, "TEXTUAL_ANIMATIONS": "none"},
    )


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- a read-only copy --------------------------------------------------------------------


def test_readonly_uri_is_immutable_only_where_nothing_can_be_written() -> None:
    path = Path("/evidence/prod copy?#1.db")
    quoted = "file:/evidence/prod%20copy%3F%231.db"
    assert readonly_uri(path, directory_writable=True, wal_pending=False) == f"{quoted}?mode=ro"
    assert (
        readonly_uri(path, directory_writable=False, wal_pending=False)
        == f"{quoted}?mode=ro&immutable=1"
    )
    # A -wal with content beside it: immutable would ignore what it holds.
    assert readonly_uri(path, directory_writable=False, wal_pending=True) == f"{quoted}?mode=ro"


def _without_capabilities(probe_dir: Path) -> tuple[str, ...]:
    """A command prefix under which ``probe_dir`` (mode 0555) cannot be written, or skip."""
    prefix: tuple[str, ...] = ()
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root and setpriv is missing: cannot make a read-only place")
        prefix = (setpriv, "--bounding-set=-all", "--inh-caps=-all")
    probe = _run(
        str(probe_dir / "probe"),
        prefix=prefix,
        code="import sys; open(sys.argv[1], 'w')",
    )
    if probe.returncode == 0:
        (probe_dir / "probe").unlink()
        pytest.skip("this process may write a mode 0555 directory (a capability it cannot drop)")
    if "PermissionError" not in probe.stderr:
        pytest.skip(f"cannot run Python without capabilities here: {probe.stderr.strip()[-200:]}")
    return prefix


@pytest.fixture
def forensic_copy(demo_db: Path, tmp_path: Path) -> Path:
    """The demo database in a directory 0555, the file 0444: the copy an investigator has."""
    folder = tmp_path / "evidence"
    folder.mkdir()
    target = folder / "prod.db"
    shutil.copy(demo_db, target)
    target.chmod(0o444)
    folder.chmod(0o555)
    yield target
    folder.chmod(0o755)


def test_export_reads_a_copy_in_a_read_only_directory(forensic_copy: Path, tmp_path: Path) -> None:
    prefix = _without_capabilities(forensic_copy.parent)
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o777)
    result = _run(
        "export",
        "--db",
        str(forensic_copy),
        "--at",
        AT,
        "-o",
        "json",
        "--output-file",
        str(out / "incident.json"),
        prefix=prefix,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == f"wrote {out / 'incident.json'}"
    snapshot = json.loads((out / "incident.json").read_bytes())
    assert snapshot["resources"]
    assert sorted(p.name for p in forensic_copy.parent.iterdir()) == ["prod.db"]  # no -wal/-shm


_SCREEN = """
import asyncio, sys
from datetime import UTC, datetime
from timetravel.query.screen import ScreenData
from timetravel.tui.app import TimetravelApp

data = ScreenData(sys.argv[1])
app = TimetravelApp(data, at=datetime(2026, 11, 19, 21, 30, tzinfo=UTC), tz=UTC)

async def main():
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.pause(0.5)
        print(data.read_only_copy, app.w_header.recorder, len(app.w_header.render().plain) > 0)

asyncio.run(main())
"""


def test_the_screen_opens_a_read_only_copy_and_says_so(forensic_copy: Path) -> None:
    prefix = _without_capabilities(forensic_copy.parent)
    result = _run(str(forensic_copy), prefix=prefix, code=_SCREEN)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split("\n")[-2] == "True read-only copy True"
    assert sorted(p.name for p in forensic_copy.parent.iterdir()) == ["prod.db"]


def test_the_header_stays_read_only_for_a_writable_database(demo_db: Path) -> None:
    from timetravel.query.screen import ScreenData
    from timetravel.tui.app import TimetravelApp

    data = ScreenData(demo_db)
    assert data.read_only_copy is (not os.access(demo_db.parent, os.W_OK))
    assert TimetravelApp(data, tz=UTC).recorder == "read-only"


# -- written whole or not at all -----------------------------------------------------------


def _size_limit() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (SIZE_LIMIT, SIZE_LIMIT))  # writes fail: EFBIG


@pytest.mark.parametrize(
    ("fmt", "name"),
    [("json", "r.json"), ("markdown", "r.md"), ("html", "r.html"), ("bundle", "r.tar.gz")],
)
def test_a_failed_write_leaves_the_old_report(
    rollback_db: Path, tmp_path: Path, fmt: str, name: str
) -> None:
    reports = tmp_path / "reports"
    reports.mkdir()
    old = reports / name
    old.write_bytes(b"the report sent to the incident channel yesterday\n")
    result = _run(
        "export", "--db", str(rollback_db), "--at", AT, "-o", fmt, "--output-file", str(old),
        preexec=_size_limit,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == (
        f"timetravel: error: {old}: cannot write (File too large); "
        "an earlier file there is left as it was"
    )
    assert old.read_bytes() == b"the report sent to the incident channel yesterday\n"
    assert [p.name for p in reports.iterdir()] == [name]  # no partial temporary file


def test_a_failed_bundle_directory_leaves_nothing_half_written(
    rollback_db: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    result = _run(
        "export", "--db", str(rollback_db), "--at", AT, "-o", "bundle",
        "--output-file", f"{out / 'incident'}/", preexec=_size_limit,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == (
        f"timetravel: error: {out / 'incident'}: cannot write the bundle (File too large)"
    )
    assert list(out.iterdir()) == []


def test_a_full_disk_at_sync_leaves_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bytes written, the disk full when they must reach it (ENOSPC from fsync)."""
    from timetravel.errors import UserError
    from timetravel.export import write_file

    target = tmp_path / "report.md"
    target.write_bytes(b"old\n")

    def full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(UserError) as caught:
        write_file(target, b"x" * 100)
    assert str(caught.value) == (
        f"{target}: cannot write (No space left on device); an earlier file there is left as it was"
    )
    assert target.read_bytes() == b"old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["report.md"]


# -- private ---------------------------------------------------------------------------------


def _open_umask() -> None:
    os.umask(0)


@pytest.mark.parametrize("fmt", ["json", "markdown", "html", "bundle"])
def test_exports_are_private_whatever_the_umask(demo_db: Path, tmp_path: Path, fmt: str) -> None:
    target = tmp_path / f"incident.{fmt}"
    target.write_bytes(b"older, world-readable\n")
    target.chmod(0o644)
    result = _run(
        "export", "--db", str(demo_db), "--at", AT, "-o", fmt, "--output-file", str(target),
        preexec=_open_umask,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert _mode(target) == 0o600
    assert target.read_bytes() != b"older, world-readable\n"


def test_bundle_directories_are_private_whatever_the_umask(demo_db: Path, tmp_path: Path) -> None:
    empty = tmp_path / "given"
    empty.mkdir(mode=0o777)
    for directory in (tmp_path / "new" / "incident", empty):
        result = _run(
            "export", "--db", str(demo_db), "--at", AT, "-o", "bundle",
            "--output-file", f"{directory}/", preexec=_open_umask,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert result.stderr.strip().startswith("wrote ")
        paths = [directory, *directory.rglob("*")]
        assert {p.relative_to(directory).as_posix() for p in paths} >= {
            ".",
            "README.md",
            "snapshot.json",
            "report.md",
            "report.html",
        }
        for path in paths:
            assert _mode(path) == (0o700 if path.is_dir() else 0o600), path
    assert sorted(p.name for p in tmp_path.iterdir()) == ["given", "new"]  # no temporary left
