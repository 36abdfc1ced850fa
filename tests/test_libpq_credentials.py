"""A team store's credentials, the libpq ways (issue 18, item 1): a role that needs a
password reaches the store with PGPASSWORD, with a ~/.pgpass file, and through a
PGSERVICE entry, and no password is ever printed; without one, one line and exit 2.

The fixture's server trusts every local login; this module's role alone is made to
authenticate with a password (scram-sha-256), by a line put first in the server's
pg_hba.conf and a reload."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.postgres import PostgresServer
from tests.fixtures.sample import INCIDENT, build_sample_store

ROLE, PASSWORD = "tt_with_password", "s3cret-Pa55"


@pytest.fixture(scope="module")
def store(postgres_server: PostgresServer) -> tuple[PostgresServer, str]:
    url = postgres_server.new_database()
    database = url.rsplit("/", 1)[1]
    build_sample_store(url)
    postgres_server.sql(
        f"DO $$ BEGIN CREATE ROLE {ROLE} LOGIN PASSWORD '{PASSWORD}'; "
        "EXCEPTION WHEN duplicate_object THEN NULL; END $$"
    )
    postgres_server.sql(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {ROLE}", database)
    hba = postgres_server.data / "pg_hba.conf"
    lines = hba.read_text()
    rule = f"host all {ROLE} 127.0.0.1/32 scram-sha-256\n"
    if rule not in lines:
        hba.write_text(rule + lines)
        postgres_server.sql("SELECT pg_reload_conf()")
    return postgres_server, database


def _export(db: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    at = INCIDENT.strftime("%Y-%m-%dT%H:%M:%SZ")
    return subprocess.run(
        [sys.executable, "-m", "timetravel", "export", "--db", db, "--at", at, "-o", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TIMETRAVEL_", "PG")) and k not in ("HOME",)
    }
    env.update(HOME=str(home), **extra)
    return env


def test_without_a_password_it_is_one_line_and_exit_2(
    store: tuple[PostgresServer, str], tmp_path: Path
) -> None:
    server, database = store
    result = _export(f"postgresql://{ROLE}@127.0.0.1:{server.port}/{database}", _env(tmp_path))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "password" in result.stderr.lower()


def test_pgpassword(store: tuple[PostgresServer, str], tmp_path: Path) -> None:
    server, database = store
    url = f"postgresql://{ROLE}@127.0.0.1:{server.port}/{database}"
    result = _export(url, _env(tmp_path, PGPASSWORD=PASSWORD))
    assert result.returncode == 0, result.stderr
    assert '"schema"' in result.stdout and PASSWORD not in result.stdout + result.stderr


def test_a_pgpass_file_in_home(store: tuple[PostgresServer, str], tmp_path: Path) -> None:
    server, database = store
    pgpass = tmp_path / ".pgpass"
    pgpass.write_text(f"127.0.0.1:{server.port}:{database}:{ROLE}:{PASSWORD}\n")
    pgpass.chmod(0o600)  # libpq ignores a file others can read
    url = f"postgresql://{ROLE}@127.0.0.1:{server.port}/{database}"
    result = _export(url, _env(tmp_path))
    assert result.returncode == 0, result.stderr
    assert PASSWORD not in result.stdout + result.stderr


def test_a_service_entry(store: tuple[PostgresServer, str], tmp_path: Path) -> None:
    server, database = store
    services = tmp_path / "pg_service.conf"
    services.write_text(
        f"[timetravel]\nhost=127.0.0.1\nport={server.port}\ndbname={database}\n"
        f"user={ROLE}\npassword={PASSWORD}\n"
    )
    env = _env(tmp_path, PGSERVICEFILE=str(services), PGSERVICE="timetravel")
    result = _export("postgresql://", env)
    assert result.returncode == 0, result.stderr
    assert PASSWORD not in result.stdout + result.stderr
    # The same through the URL's own parameter.
    named = _export(
        "postgresql:///?service=timetravel", _env(tmp_path, PGSERVICEFILE=str(services))
    )
    assert named.returncode == 0, named.stderr
