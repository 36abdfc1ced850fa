"""A PostgreSQL server for the benchmarks, on loopback, and the stores copied into it.

The server is the one of ``tests/fixtures/postgres.py`` (``initdb`` + ``pg_ctl``, run as
the ``postgres`` user when the benchmarks run as root), with its data directory kept
under the output directory (``<out>/pg-cluster``) so the copies of the generated stores
are cached there like the SQLite files: a rerun starts the server and finds them. Where
the server's user cannot reach the output directory (a private temporary directory, as
the gate's ``--quick`` run uses) a throwaway server is used, and the stores are copied
into it again (small in ``--quick``).

Settings: the defaults of PostgreSQL 15 (shared_buffers 128 MB, fsync on) but
``synchronous_commit=off``, which is what SQLite's WAL with ``synchronous=NORMAL`` (the
store's setting) promises: a commit is durable at the next flush, not each time.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import itertools
import os
import pwd
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

from bench.common import Context
from tests.fixtures.postgres import (
    PostgresServer,
    _as_user,
    _bindir,
    _free_port,
    running_server,
    stop_server,
)

OPTIONS = "-c synchronous_commit=off -c max_connections=50"


def _server_user() -> str | None:
    if os.geteuid() != 0:
        return None
    pwd.getpwnam("postgres")  # KeyError: no server can run here
    return "postgres"


def _reachable(path: Path, user: str | None) -> bool:
    """Whether ``user`` may enter ``path`` (every directory above it must let it)."""
    if user is None:
        return os.access(path, os.X_OK | os.W_OK)
    probe = subprocess.run([*_as_user(user), "test", "-x", str(path)], check=False)
    return probe.returncode == 0


def _pg_ctl(server: PostgresServer, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
    return subprocess.run(
        [*_as_user(server.run_as), str(server.bindir / "pg_ctl"), "-D", str(server.data), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


@contextlib.contextmanager
def _kept_server(base: Path, user: str | None) -> Iterator[PostgresServer]:
    """The server whose data directory is ``base/data``: made on first use, kept after."""
    bindir = _bindir()
    if bindir is None:
        raise RuntimeError("no PostgreSQL server binaries (initdb) on this machine")
    data = base / "data"
    sockets = base / "sockets"
    sockets.mkdir(parents=True, exist_ok=True)
    if user:
        entry = pwd.getpwnam(user)
        for path in (base, sockets):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    server = PostgresServer(_free_port(), data, bindir, user, itertools.count(1))
    if not (data / "PG_VERSION").exists():
        shutil.rmtree(data, ignore_errors=True)
        init = subprocess.run(
            [
                *_as_user(user),
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
            ],
            capture_output=True,
            text=True,
            env={**os.environ, "LC_ALL": "C", "LANG": "C"},
            timeout=300,
            check=False,
        )
        if init.returncode != 0:
            raise RuntimeError(f"initdb failed: {init.stderr.strip()[-400:]}")
    if _pg_ctl(server, "status").returncode == 0:
        # Left running by a run that was killed (this run holds the lock): its port is not
        # known here, so it is stopped and started again.
        _pg_ctl(server, "-m", "fast", "-w", "stop")
    options = f"-p {server.port} -k {sockets} -c listen_addresses=127.0.0.1 {OPTIONS}"
    started = _pg_ctl(
        server, "-o", options, "-l", str(base / "server.log"), "-w", "-t", "120", "start"
    )
    if started.returncode != 0:
        log = (base / "server.log").read_text(errors="replace")[-400:]
        raise RuntimeError(f"pg_ctl start failed: {started.stderr.strip()} {log}")
    try:
        yield server
    finally:
        # A clean stop: the next run starts without recovery.
        if _pg_ctl(server, "-m", "fast", "-w", "stop").returncode != 0:
            stop_server(server)


@contextlib.contextmanager
def bench_server(ctx: Context) -> Iterator[PostgresServer]:
    """A running server for this run: the one kept under ``ctx.out`` when its user can
    reach it, else a throwaway one. Stopped when the block ends."""
    user = _server_user()
    base = ctx.out / "pg-cluster"
    if _reachable(ctx.out, user):
        base.mkdir(parents=True, exist_ok=True)
        # One run at a time on the kept server: another run's end would stop it.
        with open(base / "lock", "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                ctx.log(f"pg: waiting for another run's server of {base}")
                fcntl.flock(lock, fcntl.LOCK_EX)
            ctx.log(f"pg: server of {base}")
            with _kept_server(base, user) as server:
                yield server
    else:
        ctx.log("pg: a throwaway server (its user cannot reach the output directory)")
        with running_server() as server:
            yield server


def schema_digest() -> str:
    """Six hex digits of the PostgreSQL schema store/pg_schema.py makes."""
    from timetravel.store import pg_schema

    text = pg_schema.BASELINE + "".join(name for name, _ in pg_schema.LATER)
    return hashlib.sha1(text.encode()).hexdigest()[:6]


def databases(server: PostgresServer) -> set[str]:
    return set(server.sql("SELECT datname FROM pg_database").split())


def cached_database(
    ctx: Context, server: PostgresServer, name: str, build: Callable[[str], None]
) -> str:
    """The URL of database ``name``, made by ``build(url)`` into a database of another
    name, renamed when complete: a build that was cut off is never taken for a store.
    The name carries a digest of the PostgreSQL schema: a copy made before the schema
    changed (an index added) is made again."""
    base, name = name, f"{name}_{schema_digest()}"
    present = databases(server)
    if name in present:
        ctx.log(f"pg: cached database {name}")
        return server.url(name)
    for stale in sorted(present):  # copies made under an older schema
        if stale.startswith(f"{base}_"):
            drop_database(server, stale)
    building = f"{name}_building"
    server.sql(f'DROP DATABASE IF EXISTS "{building}"')
    server.sql(f'CREATE DATABASE "{building}"')
    build(server.url(building))
    server.sql(f'ALTER DATABASE "{building}" RENAME TO "{name}"')
    return server.url(name)


def fresh_database(server: PostgresServer, name: str) -> str:
    """An empty database ``name`` (dropped first when it exists)."""
    server.sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    server.sql(f'CREATE DATABASE "{name}"')
    return server.url(name)


def drop_database(server: PostgresServer, name: str) -> None:
    server.sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
