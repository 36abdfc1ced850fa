"""Builds reported by CI (``timetravel record-build``): written, merged and found by digest."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import orjson

from timetravel.domain.builds import Build, BuildFacts
from timetravel.domain.times import to_stored
from timetravel.store import dialect
from timetravel.store.handle import StoreDB

_COLUMNS = (
    "id, repository, digest, tags, source_repo, commit_sha, provider, pipeline, run_id, url, "
    "actor, built_at, provenance, reported_at, source, commit_at, commit_author, commit_subject"
)
_CHUNK = 500


def _opt(at: datetime | None) -> str | None:
    return to_stored(at) if at is not None else None


def _build(row: Sequence[Any]) -> Build:
    return Build(
        repository=str(row[1]),
        digest=str(row[2]),
        tags=tuple(orjson.loads(row[3])) if row[3] else (),
        source_repo=row[4],
        commit=row[5],
        provider=row[6],
        pipeline=row[7],
        run_id=row[8],
        url=row[9],
        actor=row[10],
        built_at=row[11],
        provenance=orjson.loads(row[12]) if row[12] else None,
        reported_at=row[13],
        source=str(row[14]),
        commit_at=row[15],
        commit_author=row[16],
        commit_subject=row[17],
    )


def _sources(old: str, new: str) -> str:
    parts = [*old.split("+"), *(p for p in new.split("+") if p not in old.split("+"))]
    return "+".join(parts)


def upsert_build(db: StoreDB, build: BuildFacts) -> tuple[int, bool]:
    """Record one report of a build; returns (its row id, whether it merged into one).

    A later report of the same image fills in what earlier ones did not say and replaces
    a value only with a non-null one; tags accumulate; a provenance statement's summary
    replaces an earlier one (it is the fuller account)."""
    conn = db.conn
    tags = list(dict.fromkeys(build.tags))
    provenance = orjson.dumps(build.provenance).decode() if build.provenance else None
    with conn:
        row = conn.execute(
            f"SELECT {_COLUMNS} FROM builds WHERE repository = ? AND digest = ?",
            (build.repository, build.digest),
        ).fetchone()
        reported_at = to_stored(build.reported_at)
        if row is None:
            new_id = dialect.insert_id(
                conn,
                "INSERT INTO builds (repository, digest, tags, source_repo, commit_sha, "
                "provider, pipeline, run_id, url, actor, built_at, provenance, reported_at, "
                "source, commit_at, commit_author, commit_subject) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    build.repository,
                    build.digest,
                    orjson.dumps(tags).decode() if tags else None,
                    build.source_repo,
                    build.commit,
                    build.provider,
                    build.pipeline,
                    build.run_id,
                    build.url,
                    build.actor,
                    _opt(build.built_at),
                    provenance,
                    reported_at,
                    build.source,
                    _opt(build.commit_at),
                    build.commit_author,
                    build.commit_subject,
                ),
            )
            return new_id, False
        old = _build(row)
        merged_tags = list(dict.fromkeys([*old.tags, *tags]))
        conn.execute(
            "UPDATE builds SET tags = ?, source_repo = ?, commit_sha = ?, provider = ?, "
            "pipeline = ?, run_id = ?, url = ?, actor = ?, built_at = ?, provenance = ?, "
            "reported_at = ?, source = ?, commit_at = ?, commit_author = ?, "
            "commit_subject = ? WHERE id = ?",
            (
                orjson.dumps(merged_tags).decode() if merged_tags else None,
                build.source_repo or old.source_repo,
                build.commit or old.commit,
                build.provider or old.provider,
                build.pipeline or old.pipeline,
                build.run_id or old.run_id,
                build.url or old.url,
                build.actor or old.actor,
                _opt(build.built_at) or old.built_at,
                provenance or (row[12] if row[12] else None),
                max(reported_at, str(old.reported_at)),
                _sources(old.source, build.source),
                # The commit's own facts go with the commit: a report naming another one
                # replaces them, even with nothing.
                *(
                    (_opt(build.commit_at), build.commit_author, build.commit_subject)
                    if build.commit and build.commit != old.commit
                    else (
                        _opt(build.commit_at) or old.commit_at,
                        build.commit_author or old.commit_author,
                        build.commit_subject or old.commit_subject,
                    )
                ),
                int(row[0]),
            ),
        )
        return int(row[0]), True


def builds_of_digests(db: StoreDB, digests: Iterable[str]) -> dict[str, list[Build]]:
    """The builds of each digest (one digest may be pushed to several repositories)."""
    wanted = sorted(set(digests))
    out: dict[str, list[Build]] = {}
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        marks = ", ".join("?" for _ in chunk)
        rows = db.conn.execute(
            f"SELECT {_COLUMNS} FROM builds WHERE digest IN ({marks}) ORDER BY repository, id",
            chunk,
        ).fetchall()
        for row in rows:
            found = _build(row)
            out.setdefault(found.digest, []).append(found)
    return out


def builds_mark(db: StoreDB) -> tuple[int, int]:
    """How many builds are recorded, and the newest's id: the same twice, none was
    recorded between (a build is reported once per repository and digest)."""
    row = db.conn.execute("SELECT count(*), coalesce(max(id), 0) FROM builds").fetchone()
    return int(row[0]), int(row[1])


def all_builds(db: StoreDB) -> list[Build]:
    rows = db.conn.execute(f"SELECT {_COLUMNS} FROM builds ORDER BY reported_at, id").fetchall()
    return [_build(row) for row in rows]
