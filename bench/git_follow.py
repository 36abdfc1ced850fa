"""Git followed live: how soon a `git commit` is a ref update in the database.

``git_follow.latency``: ``python -m timetravel record --repo DIR`` (git only, its default
poll of 5 s) follows a copy of a generated repository (500 commits over 100 manifests,
``bench/gitrepo.py``, backfilled first); this process then makes a commit every 2 s for
60 s the way a person does (change one manifest, ``git add -A``, ``git commit``) and, for
each, times from ``git commit`` returning to the commit's ref update row being readable
in the database (a read-only connection polled every 5 ms). Target: p95 < 1 s. In
``--quick``: 60 commits of history, 4 commits 0.5 s apart (n/a).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sqlite3
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from bench.common import PYTHON, ROOT, Context, Figure, fmt_ms, percentile
from bench.gitrepo import build_repo, deployment_manifest
from timetravel.errors import UserError
from timetravel.store.db import open_database

POLL_S = 0.005
TIMEOUT_S = 30.0  # a commit not recorded by then counts as this (and is reported)


def sizes(quick: bool) -> dict[str, float]:
    if quick:
        return {"history": 60, "manifests": 20, "commits": 4, "every": 0.5}
    return {"history": 500, "manifests": 100, "commits": 30, "every": 2.0}


def _git(path: Path, *args: str) -> str:
    out = subprocess.run(
        ["git", "-C", str(path), "-c", "user.name=Dana Dev", "-c", "user.email=dana@example.com",
         *args],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return out.stdout.strip()


class _Rows:
    """Reads ref updates from the database the recorder writes (once it exists)."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        self.conn: sqlite3.Connection | None = None

    def _conn(self) -> sqlite3.Connection | None:
        if self.conn is None:
            try:
                self.conn = open_database(self.db_path, readonly=True).conn
            except UserError:
                return None  # not made yet
        return self.conn

    def count(self) -> int:
        conn = self._conn()
        if conn is None:
            return 0
        try:
            return int(conn.execute("SELECT count(*) FROM ref_updates").fetchone()[0])
        except sqlite3.OperationalError:  # its tables are not made yet
            return 0

    def has(self, sha: str) -> bool:
        conn = self._conn()
        found = conn and conn.execute("SELECT 1 FROM ref_updates WHERE sha = ?", (sha,)).fetchone()
        return bool(found)

    def live(self) -> int:
        conn = self._conn()
        assert conn is not None
        return int(
            conn.execute("SELECT count(*) FROM ref_updates WHERE backfilled = 0").fetchone()[0]
        )


def run(ctx: Context) -> list[Figure]:
    n = sizes(ctx.quick)
    history, commits, every = int(n["history"]), int(n["commits"]), n["every"]
    apps = [(f"team-{i % 10}", f"app-{i}") for i in range(int(n["manifests"]) // 2)]
    cached = build_repo(
        ctx,
        commits=history,
        manifests=int(n["manifests"]),
        apps=apps,
        start=datetime(2026, 11, 1, tzinfo=UTC),
        span=timedelta(days=30),
    )
    work = ctx.out / "git-follow"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    repo = work / "gitops"
    shutil.copytree(cached, repo, symlinks=True)  # commits go into a copy, not the cache
    db_path = work / "tt.db"
    rows = _Rows(db_path)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    argv = [PYTHON, "-m", "timetravel", "record", "--db", str(db_path), "--repo", str(repo)]
    delays: list[float] = []
    missed = 0
    with open(work / "recorder.log", "wb") as log:
        proc = subprocess.Popen(argv, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            ctx.log(f"git_follow: backfilling {history} commits")
            deadline = time.monotonic() + 300
            while rows.count() < history and time.monotonic() < deadline:
                if proc.poll() is not None:
                    raise RuntimeError(f"the recorder ended: {(work / 'recorder.log').read_text()}")
                time.sleep(0.05)
            time.sleep(1.0)  # the recorder goes from its backfill to following
            ctx.log(f"git_follow: {commits} commits {every:g} s apart")
            manifest = repo / "apps" / apps[0][0] / apps[0][1] / "deployment.yaml"
            start = time.monotonic()
            for i in range(commits):
                time.sleep(max(0.0, start + i * every - time.monotonic()))
                ns, name = apps[0]
                manifest.write_text(
                    yaml.safe_dump(deployment_manifest(ns, name, 100 + i, 3), sort_keys=False)
                )
                _git(repo, "add", "-A")
                _git(repo, "commit", "--quiet", "-m", f"Update {name} to 1.{100 + i}.0")
                committed = time.monotonic()
                sha = _git(repo, "rev-parse", "HEAD")
                while not rows.has(sha) and time.monotonic() - committed < TIMEOUT_S:
                    time.sleep(POLL_S)
                delay = time.monotonic() - committed
                missed += delay >= TIMEOUT_S
                delays.append(delay)
            live = rows.live()
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if rows.conn is not None:
                rows.conn.close()
    p50, p95 = percentile(delays, 50) * 1000, percentile(delays, 95) * 1000
    worst = max(delays) * 1000
    with contextlib.suppress(OSError):
        shutil.rmtree(repo)
    return [
        Figure(
            "git_follow.latency",
            f"p50 {fmt_ms(p50)} p95 {fmt_ms(p95)}",
            "p95 < 1,000 ms",
            None if ctx.quick else p95 < 1000,
            f"max {fmt_ms(worst)}; `git commit` returning -> its ref update readable in the "
            f"database; {commits} commits {every:g} s apart into a repository of {history} "
            f"commits over {int(n['manifests'])} manifests, followed by `timetravel record "
            f"--repo` (poll 5 s); {live} recorded live"
            + (f", {missed} not within {TIMEOUT_S:g} s" if missed else ""),
            value=p95,
            extra={"delays_ms": [round(d * 1000, 1) for d in delays]},
        )
    ]
