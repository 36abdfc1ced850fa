"""`--db` takes a file path or a postgresql:// URL; anything else with a scheme is refused,
and a URL's password is never shown."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from timetravel.errors import UserError
from timetravel.store.location import (
    PostgresLocation,
    SqliteLocation,
    mask_password,
    parse_location,
)


@pytest.mark.parametrize(
    "value",
    [
        "postgresql://tt@db.example.com:5432/timetravel",
        "postgres://tt@localhost/timetravel?sslmode=verify-full",
        "postgresql:///timetravel?service=team",
        "postgresql://",
    ],
)
def test_postgres_urls_are_postgres(value: str) -> None:
    location = parse_location(value)
    assert isinstance(location, PostgresLocation)
    assert location.url == value


@pytest.mark.parametrize(
    ("value", "path"),
    [
        ("timetravel.db", Path("timetravel.db")),
        ("/var/lib/tt/prod.db", Path("/var/lib/tt/prod.db")),
        ("file:///var/lib/tt/prod.db", Path("/var/lib/tt/prod.db")),
        ("weird:name.db", Path("weird:name.db")),  # a colon without // is a file name
    ],
)
def test_paths_are_files(value: str, path: Path) -> None:
    location = parse_location(value)
    assert isinstance(location, SqliteLocation)
    assert location.path == path


@pytest.mark.parametrize(
    "value", ["mysql://root:hunter2@db/x", "sqlite://x.db", "https://example.com/x.db"]
)
def test_other_schemes_are_refused_without_the_password(value: str) -> None:
    with pytest.raises(UserError) as caught:
        parse_location(value)
    assert "unsupported database URL scheme" in str(caught.value)
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://tt:s3cret@db:5432/t", "postgresql://tt:***@db:5432/t"),
        (
            "postgresql://tt@db/t?password=s3cret&sslmode=require",
            "postgresql://tt@db/t?password=***&sslmode=require",
        ),
        ("postgresql://db/t", "postgresql://db/t"),
        ("postgresql://tt:p%40ss@db/t", "postgresql://tt:***@db/t"),
    ],
)
def test_passwords_are_masked(url: str, shown: str) -> None:
    assert mask_password(url) == shown
    assert PostgresLocation(url).display() == shown


def _timetravel(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "timetravel", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


@pytest.mark.parametrize(
    "command", [["export", "--at", "now"], ["check"], ["record-run", "--provider", "x"]]
)
def test_an_unsupported_url_is_one_line_and_creates_nothing(
    tmp_path: Path, command: list[str]
) -> None:
    result = _timetravel(
        *command[:1], "--db", "mysql://root:hunter2@db/x", *command[1:], cwd=tmp_path
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("timetravel: error: ")
    assert len(result.stderr.strip().splitlines()) == 1
    assert "hunter2" not in result.stderr
    assert list(tmp_path.iterdir()) == []  # no folder named "mysql:"


def test_the_environment_url_is_read_and_masked(tmp_path: Path) -> None:
    # Nothing listens on port 1: the connection fails, and says so without the password.
    url = "postgresql://tt:hunter2@127.0.0.1:1/timetravel?connect_timeout=2"
    result = _timetravel("export", "--at", "now", cwd=tmp_path, env={"TIMETRAVEL_DB": url})
    assert result.returncode == 2, result.stderr
    assert "hunter2" not in result.stderr + result.stdout
    assert "127.0.0.1:1" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_a_url_without_the_driver_names_the_extra(tmp_path: Path) -> None:
    # As on a machine where `pip install kube-timetravel` left out the [postgres] extra.
    script = (
        "import sys; sys.modules['psycopg'] = None; sys.modules['psycopg.errors'] = None; "
        "sys.argv = ['timetravel', 'export', '--at', 'now', '--db', "
        "'postgresql://tt:hunter2@127.0.0.1:1/t']; "
        "from timetravel.cli import main; main()"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        "timetravel: error: a postgresql:// database needs the PostgreSQL driver: "
        "pip install 'kube-timetravel[postgres]' (psycopg 3)"
    ]
