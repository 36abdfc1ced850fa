"""``timetravel note``: notes pinned to moments and objects, shared through the store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from timetravel.domain.model import Observation
from timetravel.domain.times import to_stored
from timetravel.store.db import open_database
from timetravel.store.notes import notes_between
from timetravel.store.writer import RevisionWriter

T = datetime(2026, 11, 19, 21, 0, tzinfo=UTC)


@pytest.fixture
def store(any_db: Path | str) -> Path | str:
    """A store of two clusters, each with payments/api."""
    db = open_database(any_db)
    try:
        for cluster in ("prod", "staging"):
            api = {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "api", "namespace": "payments"},
                "spec": {"replicas": 3},
            }
            RevisionWriter(db).write([Observation(cluster, "ADDED", api, to_stored(T))])
    finally:
        db.conn.close()
    return any_db


def note(store: Path | str, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "timetravel", "note", "--db", str(store), *args],
        env={"PATH": os.environ.get("PATH", ""), "HOME": str(home), "LANG": "C.UTF-8", "TZ": "UTC"},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def stored(store: Path | str) -> list[dict[str, Any]]:
    db = open_database(store, readonly=True)
    try:
        return [n.to_json() for n in notes_between(db, "0001-01-01", "9999-12-31")]
    finally:
        db.conn.close()


def test_a_note_on_an_object_by_the_git_identity(tmp_path: Path, store: Path | str) -> None:
    (tmp_path / ".gitconfig").write_text("[user]\n\tname = Alice Ops\n\temail = alice@acme.io\n")
    done = note(
        store,
        tmp_path,
        "--at",
        "2026-11-19T21:24:00Z",
        "--cluster",
        "prod",
        "--resource",
        "deploy/api",
        "-n",
        "payments",
        "incident started",
    )
    assert done.returncode == 0, done.stderr
    assert (
        done.stdout.strip()
        == "noted #1 at 2026-11-19T21:24:00Z on payments/Deployment/api by Alice Ops <alice@acme.io>"
    )
    (only,) = stored(store)
    assert only["resource"] == {
        "group": "apps",
        "kind": "Deployment",
        "namespace": "payments",
        "name": "api",
    }
    assert (only["cluster"], only["text"], only["at"]) == (
        "prod",
        "incident started",
        "2026-11-19T21:24:00Z",
    )


def test_listing_shows_notes_as_data_per_cluster(tmp_path: Path, store: Path | str) -> None:
    for cluster, text in (
        ("prod", "rolled back here \x1b]0;pwned\x07"),
        ("staging", "staging only"),
    ):
        done = note(
            store,
            tmp_path,
            "--at",
            "2026-11-19T21:46:00Z",
            "--cluster",
            cluster,
            "--author",
            "bob",
            text,
        )
        assert done.returncode == 0, done.stderr
    listed = note(store, tmp_path, "--list", "--since", "2026-11-19T00:00:00Z", "--cluster", "prod")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout == "2026-11-19T21:46:00Z  bob: rolled back here \\x1b]0;pwned\\x07\n"
    as_json = json.loads(
        note(store, tmp_path, "--list", "--since", "2026-11-19T00:00:00Z", "-o", "json").stdout
    )
    assert [n["text"] for n in as_json] == ["rolled back here \x1b]0;pwned\x07", "staging only"]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--cluster", "prod", "--author", "a", "  "], "a note needs some text"),
        (["--cluster", "prod", "--author", "a", "x" * 2001], "at most 2000 characters"),
        (["--author", "a", "text"], "choose one with --cluster NAME"),
        (["--cluster", "prod", "text"], "who writes it?"),
        (
            [
                "--cluster",
                "prod",
                "--author",
                "a",
                "--resource",
                "deploy/nope",
                "-n",
                "payments",
                "t",
            ],
            "no such object in namespace payments",
        ),
        (["--cluster", "prod", "--author", "a", "--resource", "api", "t"], "expected KIND/NAME"),
        (["--cluster", "prod", "--author", "a"], "what does the note say?"),
    ],
)
def test_bad_notes_get_one_line_and_exit_2(
    tmp_path: Path, store: Path | str, args: list[str], says: str
) -> None:
    done = note(store, tmp_path, *args)
    assert done.returncode == 2, done.stdout
    assert says in done.stderr and done.stderr.count("\n") == 1, done.stderr
    assert stored(store) == []


def test_copy_carries_notes_and_builds_once(
    tmp_path: Path, store: Path | str, postgres_server: Any
) -> None:
    from timetravel.domain.builds import BuildFacts
    from timetravel.store.builds import all_builds, upsert_build
    from timetravel.store.copy import copy_store
    from timetravel.store.copy_parts import Scope

    assert (
        note(
            store,
            tmp_path,
            "--cluster",
            "prod",
            "--author",
            "a",
            "--at",
            "2026-11-19T21:30:00Z",
            "p",
        ).returncode
        == 0
    )
    assert (
        note(
            store,
            tmp_path,
            "--cluster",
            "staging",
            "--author",
            "a",
            "--at",
            "2026-11-19T21:30:00Z",
            "s",
        ).returncode
        == 0
    )
    db = open_database(store)
    try:
        upsert_build(
            db,
            BuildFacts("ghcr.io/acme/api", "sha256:" + "1" * 64, reported_at=T, commit="ab" * 20),
        )
    finally:
        db.conn.close()
    target = postgres_server.new_database() if isinstance(store, Path) else tmp_path / "copy.db"
    for _ in range(2):  # a second copy finds everything there already
        src, dst = open_database(store, readonly=True), open_database(target)
        try:
            copy_store(src, dst, Scope(cluster="prod"))
        finally:
            src.conn.close()
            dst.conn.close()
    assert [n["text"] for n in stored(target)] == ["p"]
    db = open_database(target, readonly=True)
    try:
        assert [(b.repository, b.commit) for b in all_builds(db)] == [
            ("ghcr.io/acme/api", "ab" * 20)
        ]
    finally:
        db.conn.close()
