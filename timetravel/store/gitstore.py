"""Git facts in the store: repositories, commits, ref updates, and desired sets per commit."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import zstandard as zstd

from timetravel.domain.manifests import ParsedFile
from timetravel.domain.times import to_stored, utc_now
from timetravel.host import collector_paused
from timetravel.store import codec, declared, dialect
from timetravel.store.declared import ObjectKey
from timetravel.store.handle import StoreDB

_PARSER_CACHE_PREFIX = "v1:"


@dataclass(frozen=True)
class RepoRecord:
    id: int
    path: str
    branch: str
    tracked_ref: str
    remote_url: str | None
    cluster: str | None


@dataclass(frozen=True)
class CommitRecord:
    sha: str
    committed_at: str
    author: str | None
    message: str


@dataclass(frozen=True)
class RefUpdate:
    repo_id: int
    observed_at: str
    sha: str
    previous_sha: str | None
    backfilled: bool
    forced: bool


@dataclass(frozen=True)
class StoredDesiredSet:
    """A commit's desired objects (normalized, redacted) and the paths that could not be read."""

    sha: str
    objects: list[dict[str, Any]]  # {"path": ..., "obj": {...}}
    errors: list[dict[str, str]]  # {"path": ..., "message": ...}


class SqliteBlobCache:
    """Manifest parses persisted by blob id, so a restart does not parse history again."""

    def __init__(self, db: StoreDB) -> None:
        self.conn = db.conn

    def get(self, sha: str) -> ParsedFile | None:
        row = self.conn.execute(
            "SELECT parsed FROM manifest_cache WHERE key = ?", (_PARSER_CACHE_PREFIX + sha,)
        ).fetchone()
        if row is None:
            return None
        return ParsedFile.from_json(codec.decompress_keyframe(row[0]))

    def put(self, sha: str, parsed: ParsedFile) -> None:
        blob = codec.compress_keyframe(parsed.to_json().encode())
        self.conn.execute(
            "INSERT INTO manifest_cache (key, parsed) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET parsed = excluded.parsed",
            (_PARSER_CACHE_PREFIX + sha, blob),
        )


class GitStore:
    """Reads and writes of git facts; one instance per thread."""

    def __init__(self, db: StoreDB) -> None:
        self.db = db
        self.conn = db.conn
        self._keyframes = codec.KeyframeCache(64)
        self._sets: OrderedDict[tuple[int, str], StoredDesiredSet] = OrderedDict()
        # A database written before m005 and opened read-only has no declared_changes.
        self.indexed = dialect.has_table(self.conn, "declared_changes")
        self._last_index: dict[int, tuple[int, declared.Index]] = {}  # by repo: its last set
        self._set_ids: dict[tuple[int, str], int] = {}
        self._compressor: tuple[int, zstd.ZstdCompressor] | None = None

    # -- repositories -------------------------------------------------------------------
    def ensure_repo(
        self,
        path: str,
        branch: str,
        tracked_ref: str,
        remote_url: str | None = None,
        cluster: str | None = None,
    ) -> RepoRecord:
        with self.conn:
            self.conn.execute(
                "INSERT INTO repos (path, branch, tracked_ref, remote_url, cluster, first_seen) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(path, branch) DO UPDATE SET "
                "tracked_ref = excluded.tracked_ref, remote_url = excluded.remote_url, "
                "cluster = coalesce(excluded.cluster, repos.cluster)",
                (path, branch, tracked_ref, remote_url, cluster, to_stored(utc_now())),
            )
        row = self.conn.execute(
            "SELECT id, path, branch, tracked_ref, remote_url, cluster FROM repos "
            "WHERE path = ? AND branch = ?",
            (path, branch),
        ).fetchone()
        return RepoRecord(*row)

    def mark(self) -> tuple[Any, ...]:
        """What the git facts are, read cheaply: equal twice, no branch was followed, moved,
        rendered or pruned between (ref moves and sets are only added, or pruned from the
        oldest; a branch's row is tiny and read whole)."""
        repos = self.conn.execute(
            "SELECT id, path, branch, tracked_ref, remote_url, cluster FROM repos ORDER BY id"
        ).fetchall()
        ends = self.conn.execute(
            "SELECT (SELECT min(id) FROM ref_updates), (SELECT max(id) FROM ref_updates), "
            "(SELECT min(id) FROM desired_sets), (SELECT max(id) FROM desired_sets)"
        ).fetchone()
        return (tuple(tuple(r) for r in repos), tuple(ends))

    def repos(self) -> list[RepoRecord]:
        rows = self.conn.execute(
            "SELECT id, path, branch, tracked_ref, remote_url, cluster FROM repos ORDER BY id"
        )
        return [RepoRecord(*row) for row in rows]

    def recorded_groups(self, cluster: str | None) -> frozenset[str]:
        """The API groups of the objects recorded in ``cluster`` (None: in any): groups its
        API server serves, for telling cluster objects from tools' files in a repository."""
        if cluster is None:
            rows = self.conn.execute("SELECT DISTINCT api_group FROM resources")
        else:
            rows = self.conn.execute(
                "SELECT DISTINCT api_group FROM resources WHERE cluster = ?", (cluster,)
            )
        return frozenset(str(row[0]) for row in rows)

    # -- gaps in a repository's record (fetches that failed) ----------------------------
    def open_gap(
        self, cluster: str | None, source: str, started_at: str, ended_at: str, reason: str
    ) -> int:
        """Write a gap of ``source`` (``repo:<path>#<branch>``); its id, to extend it."""
        with self.conn:
            return dialect.insert_id(
                self.conn,
                "INSERT INTO gaps (cluster, source, started_at, ended_at, reason) "
                "VALUES (?, ?, ?, ?, ?)",
                (cluster, source, started_at, ended_at, reason),
            )

    def extend_gap(self, gap_id: int, ended_at: str) -> None:
        """Move the end of a gap written by :meth:`open_gap` (never earlier)."""
        with self.conn:
            self.conn.execute(
                "UPDATE gaps SET ended_at = ? WHERE id = ? AND ended_at < ?",
                (ended_at, gap_id, ended_at),
            )

    # -- commits and ref updates --------------------------------------------------------
    def add_commit(
        self,
        sha: str,
        committed_at: str,
        authored_at: str | None,
        author: str | None,
        committer: str | None,
        message: str,
        parents: list[str],
    ) -> None:
        self.conn.execute(
            "INSERT INTO commits (sha, committed_at, authored_at, author, committer, "
            "message, parents) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (sha) DO NOTHING",
            (
                sha,
                committed_at,
                authored_at,
                author,
                committer,
                message,
                orjson.dumps(parents).decode(),
            ),
        )

    def commit(self, sha: str) -> CommitRecord | None:
        row = self.conn.execute(
            "SELECT sha, committed_at, author, message FROM commits WHERE sha = ?", (sha,)
        ).fetchone()
        return CommitRecord(*row) if row else None

    def add_ref_update(
        self,
        repo_id: int,
        observed_at: str,
        sha: str,
        previous_sha: str | None,
        *,
        backfilled: bool,
        forced: bool = False,
    ) -> None:
        self.conn.execute(
            "INSERT INTO ref_updates (repo_id, observed_at, sha, previous_sha, backfilled, forced)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (repo_id, observed_at, sha, previous_sha, int(backfilled), int(forced)),
        )

    def last_ref_update(self, repo_id: int) -> RefUpdate | None:
        row = self.conn.execute(
            "SELECT repo_id, observed_at, sha, previous_sha, backfilled, forced FROM ref_updates "
            "WHERE repo_id = ? ORDER BY observed_at DESC, id DESC LIMIT 1",
            (repo_id,),
        ).fetchone()
        return _ref(row)

    def newest_update(self) -> tuple[int, str] | None:
        """The ref update recorded last, of any repository: its row id (a new one with
        every update the recorder adds) and when it was observed."""
        row = self.conn.execute(
            "SELECT id, observed_at FROM ref_updates ORDER BY id DESC LIMIT 1"
        ).fetchone()
        return (int(row[0]), str(row[1])) if row else None

    def newest_set(self) -> int:
        """The id of the desired set stored last (0: none): it changes with every set a
        backfill renders after its commits were recorded (:meth:`pending_sets`)."""
        row = self.conn.execute("SELECT MAX(id) FROM desired_sets").fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def pending_sets(self, repo_id: int | None = None) -> list[tuple[int, str]]:
        """(repo id, sha) of each commit a branch pointed to whose desired set is not stored
        yet, the newest move first: a backfill records a history's commits and ref updates
        first and renders their sets afterwards, so the screen opens at once and answers
        the recent past first. ``repo_id`` None: of every repository."""
        where = "" if repo_id is None else "r.repo_id = ? AND "
        rows = self.conn.execute(
            "SELECT r.repo_id, r.sha, MAX(r.id) FROM ref_updates r WHERE "
            f"{where}NOT EXISTS (SELECT 1 FROM desired_sets d "
            "WHERE d.repo_id = r.repo_id AND d.sha = r.sha) "
            "GROUP BY r.repo_id, r.sha ORDER BY MAX(r.id) DESC",
            () if repo_id is None else (repo_id,),
        ).fetchall()
        return [(int(r[0]), str(r[1])) for r in rows]

    def ref_at(self, repo_id: int, at: str) -> RefUpdate | None:
        """Where the tracked branch pointed at ``at``."""
        row = self.conn.execute(
            "SELECT repo_id, observed_at, sha, previous_sha, backfilled, forced FROM ref_updates "
            "WHERE repo_id = ? AND observed_at <= ? ORDER BY observed_at DESC, id DESC LIMIT 1",
            (repo_id, at),
        ).fetchone()
        return _ref(row)

    def ref_updates(self, repo_id: int) -> list[RefUpdate]:
        """Every move of a repository's branch, in the order ``ref_at`` reads them."""
        rows = self.conn.execute(
            "SELECT repo_id, observed_at, sha, previous_sha, backfilled, forced FROM ref_updates "
            "WHERE repo_id = ? ORDER BY observed_at, id",
            (repo_id,),
        )
        return [RefUpdate(r[0], r[1], r[2], r[3], bool(r[4]), bool(r[5])) for r in rows]

    def ref_updates_between(self, start: str, end: str) -> list[tuple[RefUpdate, CommitRecord]]:
        """Every commit that became a branch head in [start, end], oldest first."""
        rows = self.conn.execute(
            "SELECT u.repo_id, u.observed_at, u.sha, u.previous_sha, u.backfilled, u.forced, "
            "c.sha, c.committed_at, c.author, c.message FROM ref_updates u "
            "JOIN commits c ON c.sha = u.sha WHERE u.observed_at >= ? AND u.observed_at <= ? "
            "ORDER BY u.observed_at, u.id",
            (start, end),
        )
        return [(RefUpdate(*r[:6]), CommitRecord(*r[6:])) for r in rows]

    # -- desired sets -------------------------------------------------------------------
    def has_desired_set(self, repo_id: int, sha: str) -> bool:
        row = self.conn.execute(
            "SELECT 1 FROM desired_sets WHERE repo_id = ? AND sha = ?", (repo_id, sha)
        ).fetchone()
        return row is not None

    def put_desired_set(
        self,
        repo_id: int,
        sha: str,
        objects: Sequence[bytes],
        errors: list[dict[str, str]],
        keys: Sequence[ObjectKey | None],
    ) -> None:
        """Store a commit's desired set, as a delta against the repo's latest keyframe, and
        which objects it changed (``declared_changes``).

        ``objects`` are the set's entries encoded by :func:`desired_item`: consecutive commits
        share most of them, so a caller encodes each once rather than the whole set each time.
        ``keys`` are their objects' keys (:func:`declared.object_key`).
        """
        index = declared.index_of(keys, objects)
        raw = _desired_body(objects, errors)
        content_hash = hashlib.blake2b(raw, digest_size=12).hexdigest()
        # Newest rows first, stopping at the repo's latest: the (repo_id, sha) index would
        # visit every set of the repo and sort them, once per commit recorded.
        previous = self.conn.execute(
            f"SELECT id, keyframe_id FROM desired_sets{dialect.not_indexed(self.conn)} "
            "WHERE repo_id = ? "
            "ORDER BY id DESC LIMIT 1",
            (repo_id,),
        ).fetchone()
        keyframe_id: int | None = None
        blob = b""
        if previous is not None:
            kf_id = previous[1] if previous[1] is not None else previous[0]
            kf_blob = self.conn.execute(
                "SELECT body FROM desired_sets WHERE id = ?", (kf_id,)
            ).fetchone()[0]
            if self._compressor is None or self._compressor[0] != kf_id:
                # Consecutive sets share a keyframe: its dictionary (a whole set, ~360 KB
                # for 500 objects) is loaded once, not once per commit.
                self._compressor = (kf_id, codec.delta_compressor(self._keyframe(kf_id, kf_blob)))
            delta = self._compressor[1].compress(raw)
            if not codec.needs_new_keyframe(delta, len(kf_blob)):
                keyframe_id, blob = kf_id, delta
        if keyframe_id is None:
            blob = codec.compress_keyframe(raw)
        set_id = dialect.insert_id_or_none(
            self.conn,
            "INSERT INTO desired_sets (repo_id, sha, objects, errors, content_hash, "
            "keyframe_id, body) VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (repo_id, sha) DO NOTHING",
            (repo_id, sha, len(objects), len(errors), content_hash, keyframe_id, blob),
        )
        if set_id is not None and self.indexed:
            before: declared.Index | None = None
            if previous is not None:
                cached = self._last_index.get(repo_id)
                before = cached[1] if cached and cached[0] == previous[0] else None
                if before is None:  # the first set this writer puts for the repo
                    before = self._index_of_set(previous[0])
            declared.record_changes(self.db, repo_id, set_id, before, index)
            self._last_index[repo_id] = (set_id, index)

    def _index_of_set(self, set_id: int) -> declared.Index:
        """The index of a stored set (the first set a new writer puts is compared with it)."""
        row = self.conn.execute(
            "SELECT d.keyframe_id, d.body, k.body FROM desired_sets d "
            "LEFT JOIN desired_sets k ON k.id = d.keyframe_id WHERE d.id = ?",
            (set_id,),
        ).fetchone()
        raw = codec.decode_body(row[1], row[0], row[2], self._keyframes, set_id)
        return declared.index_of_stored(codec.loads(raw)["objects"] if raw else [])

    # -- one declared object over time ----------------------------------------------------
    def set_id(self, repo_id: int, sha: str) -> int | None:
        """The id of the desired set stored for a commit (ids follow the order stored)."""
        known = self._set_ids.get((repo_id, sha))
        if known is None:
            row = self.conn.execute(
                "SELECT id FROM desired_sets WHERE repo_id = ? AND sha = ?", (repo_id, sha)
            ).fetchone()
            if row is None:
                return None
            known = self._set_ids[(repo_id, sha)] = int(row[0])
        return known

    def set_commit(self, repo_id: int, commit: str) -> str | None:
        """The full sha of the commit whose desired set the repo holds, given it whole or
        abbreviated (at least 7 hex digits, as CI systems and people quote it); None when no
        stored set has it, or an abbreviation names more than one."""
        commit = commit.strip().lower()
        if len(commit) < 7 or len(commit) > 64 or any(c not in "0123456789abcdef" for c in commit):
            return None
        # A range on the (repo_id, sha) index: every sha starting with ``commit`` sorts
        # between it and the same text followed by "g" (after "f").
        rows = self.conn.execute(
            "SELECT sha FROM desired_sets WHERE repo_id = ? AND sha >= ? AND sha < ? LIMIT 2",
            (repo_id, commit, commit + "g"),
        ).fetchall()
        return str(rows[0][0]) if len(rows) == 1 else None

    def declared_changes(self, repo_id: int, key: ObjectKey) -> list[tuple[int, bytes | None]]:
        """(set id, entry hash or None when no longer declared) of each set that changed
        ``key``'s entry, oldest first. Needs :attr:`indexed`."""
        rows = self.conn.execute(
            "SELECT set_id, item_hash FROM declared_changes WHERE repo_id = ? AND api_group = ? "
            "AND kind = ? AND namespace = ? AND name = ? ORDER BY set_id",
            (repo_id, *key),
        )
        return [(int(set_id), None if h is None else bytes(h)) for set_id, h in rows]

    def _keyframe(self, kf_id: int, blob: bytes) -> bytes:
        raw = self._keyframes.get(kf_id)
        if raw is None:
            raw = self._keyframes.decompress_keyframe(blob)
            self._keyframes.put(kf_id, raw)
        return raw

    def desired_set(self, repo_id: int, sha: str) -> StoredDesiredSet | None:
        cached = self._sets.get((repo_id, sha))
        if cached is not None:
            self._sets.move_to_end((repo_id, sha))
            return cached
        row = self.conn.execute(
            "SELECT d.id, d.keyframe_id, d.body, k.body FROM desired_sets d "
            "LEFT JOIN desired_sets k ON k.id = d.keyframe_id WHERE d.repo_id = ? AND d.sha = ?",
            (repo_id, sha),
        ).fetchone()
        if row is None:
            return None
        set_id, kf_id, body, kf_body = row
        # The cache keeps each keyframe's dictionary loaded: most sets are deltas against a few.
        raw = codec.decode_body(body, kf_id, kf_body, self._keyframes, set_id)
        assert raw is not None  # body is NOT NULL
        with collector_paused():
            data = codec.loads(raw)
        result = StoredDesiredSet(sha, data["objects"], data["errors"])
        self._sets[(repo_id, sha)] = result
        while len(self._sets) > 16:
            self._sets.popitem(last=False)
        return result


def desired_item(path: str, obj: dict[str, Any]) -> bytes:
    """One entry of a stored desired set (``{"path", "obj"}``), encoded as the store keeps it."""
    return codec.dumps({"path": path, "obj": obj})


def _desired_body(items: Sequence[bytes], errors: list[dict[str, str]]) -> bytes:
    """``codec.dumps({"objects": [...], "errors": errors})`` joined from encoded entries: the
    keys are sorted ("errors" first) and nothing separates tokens, so the bytes are the same."""
    return b'{"errors":' + codec.dumps(errors) + b',"objects":[' + b",".join(items) + b"]}"


def _ref(row: Any) -> RefUpdate | None:
    if row is None:
        return None
    repo_id, observed_at, sha, previous, backfilled, forced = row
    return RefUpdate(repo_id, observed_at, sha, previous, bool(backfilled), bool(forced))
