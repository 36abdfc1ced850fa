"""Append-only, named migrations. Never edit one that has shipped: add a new one.

The tables are documented for people who query them directly in docs/STORE.md.
"""

from __future__ import annotations

import secrets

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from timetravel.domain.normalize import Redaction
from timetravel.domain.times import to_micros
from timetravel.store import codec
from timetravel.store import segments as seg
from timetravel.store.declared import index_existing_sets
from timetravel.store.pod_digests import fill as fill_pod_digests
from timetravel.store.redact_stored import redact_stored_secrets
from timetravel.store.secret_key import stored_redaction

migrations = Migrations("timetravel")


@migrations(name="m001_facts")
def m001_facts(db: Database) -> None:
    db.execute(
        """
        CREATE TABLE meta (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        )"""
    )
    db.execute(
        """
        CREATE TABLE clusters (
            name TEXT PRIMARY KEY,
            server TEXT,
            context TEXT,
            first_seen TEXT NOT NULL
        )"""
    )
    db.execute(
        """
        CREATE TABLE resources (
            id INTEGER PRIMARY KEY,
            cluster TEXT NOT NULL,
            api_group TEXT NOT NULL,
            api_version TEXT NOT NULL,
            kind TEXT NOT NULL,
            namespace TEXT NOT NULL,
            name TEXT NOT NULL,
            UNIQUE (cluster, api_group, kind, namespace, name)
        )"""
    )
    db.execute(
        """
        CREATE TABLE revisions (
            id INTEGER PRIMARY KEY,
            resource_id INTEGER NOT NULL REFERENCES resources(id),
            observed_at TEXT NOT NULL,
            change TEXT NOT NULL CHECK (change IN ('created', 'updated', 'deleted')),
            resource_version TEXT,
            uid TEXT,
            inferred INTEGER NOT NULL DEFAULT 0,
            status_only INTEGER NOT NULL DEFAULT 0,
            source TEXT NOT NULL,
            server_time TEXT,
            managers TEXT,
            content_hash TEXT NOT NULL,
            spec_hash TEXT NOT NULL,
            keyframe_id INTEGER REFERENCES revisions(id),
            raw_size INTEGER NOT NULL,
            body BLOB NOT NULL
        )"""
    )
    # One seek finds the latest revision of an object at or before T.
    db.execute(
        "CREATE INDEX revisions_by_resource_time ON revisions (resource_id, observed_at, id)"
    )
    # Changes in a window, across all objects, for the timeline.
    db.execute("CREATE INDEX revisions_by_time ON revisions (observed_at)")
    db.execute(
        """
        CREATE TABLE gaps (
            id INTEGER PRIMARY KEY,
            cluster TEXT,
            source TEXT NOT NULL,
            started_at TEXT NOT NULL,
            ended_at TEXT NOT NULL,
            reason TEXT NOT NULL
        )"""
    )
    db.execute("CREATE INDEX gaps_by_time ON gaps (started_at)")


@migrations(name="m002_observations_and_recorders")
def m002_observations_and_recorders(db: Database) -> None:
    # Things seen on the cluster that are not object revisions: Warning events (they
    # expire from the cluster after an hour; we keep them), failed syncs, rollouts stuck.
    db.execute(
        """
        CREATE TABLE observations (
            id INTEGER PRIMARY KEY,
            cluster TEXT NOT NULL,
            observed_at TEXT NOT NULL,
            kind TEXT NOT NULL,
            severity TEXT NOT NULL,
            reason TEXT,
            message TEXT,
            object_group TEXT,
            object_kind TEXT,
            object_namespace TEXT,
            object_name TEXT,
            first_at TEXT,
            last_at TEXT,
            count INTEGER,
            dedupe_key TEXT UNIQUE
        )"""
    )
    db.execute("CREATE INDEX observations_by_time ON observations (observed_at)")
    db.execute(
        "CREATE INDEX observations_by_object ON observations "
        "(object_kind, object_namespace, object_name, observed_at)"
    )
    # One row per running (or last run) recorder source: a heartbeat, so a restart knows
    # how long it was away and records that span as a gap.
    db.execute(
        """
        CREATE TABLE recorder_state (
            source TEXT PRIMARY KEY,
            started_at TEXT NOT NULL,
            heartbeat_at TEXT NOT NULL,
            stopped_at TEXT,
            detail TEXT
        )"""
    )


@migrations(name="m003_git_pipelines_audit")
def m003_git_pipelines_audit(db: Database) -> None:
    # Git: the desired side. A repo row is one (checkout, branch) the recorder follows.
    db.execute(
        """
        CREATE TABLE repos (
            id INTEGER PRIMARY KEY,
            path TEXT NOT NULL,
            branch TEXT NOT NULL,
            tracked_ref TEXT NOT NULL,
            remote_url TEXT,
            cluster TEXT,
            first_seen TEXT NOT NULL,
            UNIQUE (path, branch)
        )"""
    )
    db.execute(
        """
        CREATE TABLE commits (
            sha TEXT PRIMARY KEY,
            committed_at TEXT NOT NULL,
            authored_at TEXT,
            author TEXT,
            committer TEXT,
            message TEXT NOT NULL,
            parents TEXT
        )"""
    )
    # Where the tracked branch pointed, and since when: observed ref moves, and (marked
    # backfilled) first-parent history before the recorder ran, at committer time.
    db.execute(
        """
        CREATE TABLE ref_updates (
            id INTEGER PRIMARY KEY,
            repo_id INTEGER NOT NULL REFERENCES repos(id),
            observed_at TEXT NOT NULL,
            sha TEXT NOT NULL,
            previous_sha TEXT,
            backfilled INTEGER NOT NULL DEFAULT 0,
            forced INTEGER NOT NULL DEFAULT 0
        )"""
    )
    db.execute("CREATE INDEX ref_updates_by_time ON ref_updates (repo_id, observed_at, id)")
    # Derived from git, rebuildable: manifests parsed once per blob, and the desired set
    # of each commit (keyframe/delta encoded like revisions, so near-identical sets of
    # consecutive commits cost little).
    db.execute(
        """
        CREATE TABLE manifest_cache (
            key TEXT PRIMARY KEY,
            parsed BLOB NOT NULL
        )"""
    )
    db.execute(
        """
        CREATE TABLE desired_sets (
            id INTEGER PRIMARY KEY,
            repo_id INTEGER NOT NULL REFERENCES repos(id),
            sha TEXT NOT NULL,
            objects INTEGER NOT NULL,
            errors INTEGER NOT NULL,
            content_hash TEXT NOT NULL,
            keyframe_id INTEGER REFERENCES desired_sets(id),
            body BLOB NOT NULL,
            UNIQUE (repo_id, sha)
        )"""
    )
    # Pipeline runs, as reported by record-run or seen in the cluster (Argo CD, Tekton...).
    db.execute(
        """
        CREATE TABLE pipeline_runs (
            id INTEGER PRIMARY KEY,
            provider TEXT NOT NULL,
            pipeline TEXT NOT NULL,
            run_id TEXT NOT NULL,
            url TEXT,
            commit_sha TEXT,
            status TEXT,
            actor TEXT,
            started_at TEXT,
            finished_at TEXT,
            targets TEXT,
            service_account TEXT,
            reported_at TEXT NOT NULL,
            source TEXT NOT NULL,
            UNIQUE (provider, pipeline, run_id)
        )"""
    )
    db.execute("CREATE INDEX pipeline_runs_by_time ON pipeline_runs (started_at)")
    # Kubernetes audit events (who did it), matched to revisions when read.
    db.execute(
        """
        CREATE TABLE audit_events (
            id INTEGER PRIMARY KEY,
            audit_id TEXT UNIQUE,
            stage TEXT,
            stage_at TEXT NOT NULL,
            verb TEXT,
            user TEXT,
            user_groups TEXT,
            impersonated_user TEXT,
            user_agent TEXT,
            field_manager TEXT,
            api_group TEXT,
            api_version TEXT,
            resource TEXT,
            subresource TEXT,
            namespace TEXT,
            name TEXT,
            response_code INTEGER,
            request_uri TEXT,
            level TEXT,
            imported_at TEXT NOT NULL
        )"""
    )
    db.execute("CREATE INDEX audit_by_object ON audit_events (resource, namespace, name, stage_at)")


@migrations(name="m004_resource_lifetimes")
def m004_resource_lifetimes(db: Database) -> None:
    # When each identity was first seen and, if its latest revision is a deletion, when it
    # went. State at T seeks a latest revision only for identities alive around T instead
    # of every identity ever recorded (replaced Pods make those ten times the live ones).
    # A re-created object keeps its first first_at: the bounds are a superset, the
    # revisions decide.
    db.execute("ALTER TABLE resources ADD COLUMN first_at TEXT")
    db.execute("ALTER TABLE resources ADD COLUMN gone_at TEXT")
    db.execute(
        "UPDATE resources SET first_at = (SELECT min(observed_at) FROM revisions "
        "WHERE resource_id = resources.id)"
    )
    db.execute(
        "UPDATE resources SET gone_at = (SELECT CASE change WHEN 'deleted' THEN observed_at END "
        "FROM revisions WHERE resource_id = resources.id "
        "ORDER BY observed_at DESC, id DESC LIMIT 1)"
    )
    # One namespace's state without scanning every identity of the cluster.
    db.execute("CREATE INDEX resources_by_namespace ON resources (namespace, first_at)")


@migrations(name="m005_declared_changes")
def m005_declared_changes(db: Database) -> None:
    # Per declared object, the desired sets in which its entry changed (or it stopped being
    # declared: item_hash NULL), against the repo's previous set: which version of one
    # object a commit declares, without decoding the commit's whole set (the drift of one
    # resource over 2,000 commits). Derived from desired_sets, like them rebuildable.
    db.execute(
        """
        CREATE TABLE declared_changes (
            set_id INTEGER NOT NULL REFERENCES desired_sets(id),
            repo_id INTEGER NOT NULL REFERENCES repos(id),
            api_group TEXT NOT NULL,
            kind TEXT NOT NULL,
            namespace TEXT NOT NULL,
            name TEXT NOT NULL,
            item_hash BLOB
        )"""
    )
    db.execute(
        "CREATE INDEX declared_changes_by_object ON declared_changes "
        "(repo_id, api_group, kind, namespace, name, set_id)"
    )
    index_existing_sets(db)


@migrations(name="m006_segments")
def m006_segments(db: Database) -> None:
    # Revisions move from one row each into segments: up to SEGMENT_SIZE consecutive
    # revisions of one resource compressed together (see store/segments.py), ~2.5x smaller.
    # ``revisions`` stays, as the time index of every revision.
    db.execute("CREATE TABLE keyframes (id INTEGER PRIMARY KEY, body BLOB NOT NULL)")
    db.execute(
        """
        CREATE TABLE segments (
            id INTEGER PRIMARY KEY,
            resource_id INTEGER NOT NULL REFERENCES resources(id),
            first_at TEXT NOT NULL,
            count INTEGER NOT NULL,
            keyframe_id INTEGER NOT NULL REFERENCES keyframes(id),
            body BLOB NOT NULL
        )"""
    )
    # The latest segment of a resource at or before T: one seek.
    db.execute("CREATE INDEX segments_by_resource_time ON segments (resource_id, first_at)")
    db.execute(
        """
        CREATE TABLE revisions_segmented (
            observed_at TEXT NOT NULL,
            id INTEGER NOT NULL,
            segment_id INTEGER NOT NULL REFERENCES segments(id),
            PRIMARY KEY (observed_at, id)
        ) WITHOUT ROWID"""
    )
    next_id = _segment_old_revisions(db)
    db.execute("DROP TABLE revisions")
    db.execute("ALTER TABLE revisions_segmented RENAME TO revisions")
    db.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES ('next_revision_id', ?)", [str(next_id)]
    )
    # For people who query the file: which object each revision is of, in SQL.
    db.execute(
        """
        CREATE VIEW revision_objects AS
        SELECT rv.observed_at, rv.id, res.cluster, res.api_group, res.kind, res.namespace,
               res.name, rv.segment_id
        FROM revisions rv
        JOIN segments s ON s.id = rv.segment_id
        JOIN resources res ON res.id = s.resource_id"""
    )


def _segment_old_revisions(db: Database) -> int:
    """Copy every revision of the one-row-per-revision layout into segments; returns the
    next revision id. Ids are kept, and so are keyframes (a keyframe row takes the id of
    the revision that was one)."""
    cache = codec.KeyframeCache(4096)
    plain = codec.keyframe_context()
    conn = db.conn
    keyframes: set[int] = set()

    def load(revision_id: int) -> bytes | None:
        row = conn.execute("SELECT body FROM revisions WHERE id = ?", (revision_id,)).fetchone()
        return None if row is None else bytes(row[0])

    def flush(rid: int, rows: list[tuple[seg.Entry, bytes, int]]) -> None:
        if not rows:
            return
        keyframe_id = rows[0][2]
        if keyframe_id not in keyframes:
            keyframe_blob = load(keyframe_id)
            conn.execute(
                "INSERT INTO keyframes (id, body) VALUES (?, ?)", (keyframe_id, keyframe_blob)
            )
            keyframes.add(keyframe_id)
        keyframe_raw = cache.get(keyframe_id)
        if keyframe_raw is None:
            blob = load(keyframe_id)
            assert blob is not None
            keyframe_raw = plain.decompress(blob)
            cache.put(keyframe_id, keyframe_raw)
        entries = [e for e, _, _ in rows]
        cur = conn.execute(
            "INSERT INTO segments (resource_id, first_at, count, keyframe_id, body)"
            " VALUES (?, ?, ?, ?, ?)",
            (
                rid,
                entries[0][seg.OBSERVED_AT],
                len(entries),
                keyframe_id,
                seg.encode(entries, [raw for _, raw, _ in rows], seg.compressor(keyframe_raw)),
            ),
        )
        conn.executemany(
            "INSERT INTO revisions_segmented (observed_at, id, segment_id) VALUES (?, ?, ?)",
            [(e[seg.OBSERVED_AT], e[seg.ID], cur.lastrowid) for e in entries],
        )
        rows.clear()

    max_id = 0
    current: int | None = None
    pending: list[tuple[seg.Entry, bytes, int]] = []
    cursor = conn.execute(
        "SELECT r.id, r.resource_id, r.observed_at, r.change, r.resource_version, r.uid, "
        "r.inferred, r.status_only, r.source, r.server_time, r.managers, r.keyframe_id, r.body, "
        "k.body FROM revisions r LEFT JOIN revisions k ON k.id = r.keyframe_id "
        "ORDER BY r.resource_id, r.observed_at, r.id"
    )
    while chunk := cursor.fetchmany(1000):
        for row in chunk:
            rev_id, rid, at, change, rv, uid, inferred, status_only, source = row[:9]
            server_time, managers, keyframe_id, blob, keyframe_blob = row[9:]
            raw = codec.decode_body(blob, keyframe_id, keyframe_blob, cache, rev_id, load)
            assert raw is not None
            if rid != current or len(pending) >= seg.SEGMENT_SIZE:
                flush(current or 0, pending)
                current = rid
            entry = seg.entry(
                rev_id, at, change, rv, uid, bool(inferred), bool(status_only), source,
                server_time, managers, len(raw),
            )  # fmt: skip
            pending.append((entry, raw, rev_id if keyframe_id is None else keyframe_id))
            max_id = max(max_id, rev_id)
    flush(current or 0, pending)
    return max_id + 1


@migrations(name="m007_integer_time_index")
def m007_integer_time_index(db: Database) -> None:
    # The time index keyed by integer microseconds instead of RFC 3339 text: ~half the
    # bytes a revision (45 -> 23 B) and integer comparisons in every window read.
    db.execute("DROP VIEW revision_objects")
    db.execute(
        """
        CREATE TABLE revisions_by_us (
            observed_us INTEGER NOT NULL,
            id INTEGER NOT NULL,
            segment_id INTEGER NOT NULL REFERENCES segments(id),
            PRIMARY KEY (observed_us, id)
        ) WITHOUT ROWID"""
    )
    conn = db.conn
    cursor = conn.execute("SELECT observed_at, id, segment_id FROM revisions")
    while chunk := cursor.fetchmany(10_000):
        conn.executemany(
            "INSERT INTO revisions_by_us (observed_us, id, segment_id) VALUES (?, ?, ?)",
            [(to_micros(at), rev_id, segment_id) for at, rev_id, segment_id in chunk],
        )
    db.execute("DROP TABLE revisions")
    db.execute("ALTER TABLE revisions_by_us RENAME TO revisions")
    # For people who query the file: which object each revision is of, and when, in SQL
    # (the stored text, whole microseconds: strftime's %f would round 03.9999995 up to 04).
    db.execute(
        """
        CREATE VIEW revision_objects AS
        SELECT strftime('%Y-%m-%dT%H:%M:%S', rv.observed_us / 1000000, 'unixepoch')
               || printf('.%06dZ', rv.observed_us % 1000000) AS observed_at,
               rv.observed_us, rv.id, res.cluster, res.api_group, res.kind, res.namespace,
               res.name, rv.segment_id
        FROM revisions rv
        JOIN segments s ON s.id = rv.segment_id
        JOIN resources res ON res.id = s.resource_id"""
    )


@migrations(name="m008_redact_stored_secrets", transactional=False)
def m008_redact_stored_secrets(db: Database) -> None:
    # Releases before one rule decided what is a Secret (normalize.is_secret, by kind)
    # stored the values of a kind: Secret whose apiVersion was not exactly "v1" in
    # plaintext. Hash them where they lie (store/redact_stored.py), then free the pages
    # that held them: SQLite keeps a deleted or rewritten row's bytes in free pages (and
    # in the WAL) until they are reused, so secure_delete zeroes what is freed meanwhile,
    # VACUUM rebuilds the file and a TRUNCATE checkpoint empties the WAL. Not one
    # transaction with its record (sqlite-utils' transactional=False): VACUUM cannot run
    # inside one. Run again after a crash between the two, it finds nothing left to hash.
    #
    # The database's own key hashes the values when it is to be found here (a legacy
    # file's key in meta, TIMETRAVEL_SECRET_KEY, its key file), in its scheme: the
    # migrated history compares with what is recorded next. When it is not (a copy
    # opened on another machine), a key made for this once and forgotten: no value is
    # kept in plaintext to wait for the key, at the cost that the first revision recorded
    # afterwards shows those values as changed.
    conn = db.conn
    (secure,) = conn.execute("PRAGMA secure_delete").fetchone()
    conn.execute("PRAGMA secure_delete = ON")
    try:
        redaction = stored_redaction(db) or Redaction(secrets.token_bytes(32), per_object=True)
        conn.execute("BEGIN IMMEDIATE")
        try:
            done = redact_stored_secrets(db, redaction)
        except BaseException:
            conn.rollback()
            raise
        conn.commit()
        if done.changed:
            conn.execute("VACUUM")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.execute(f"PRAGMA secure_delete = {int(secure)}")


@migrations(name="m009_facts_name_their_cluster")
def m009_facts_name_their_cluster(db: Database) -> None:
    # A team store holds several clusters, and an audit log is one API server's: its events
    # explain changes of that cluster only, as a deploy run changes the clusters it deploys
    # to (a JSON list; the cluster a run was seen in for Argo CD and the like). NULL: not
    # said, as in every row written before: such a fact still bears on any cluster.
    db.execute("ALTER TABLE audit_events ADD COLUMN cluster TEXT")
    db.execute("ALTER TABLE pipeline_runs ADD COLUMN clusters TEXT")
    # Causes read a day of audit events at a time, by stage time, every cluster's at once
    # (then keep those of the change's cluster or of none): without this index each such
    # day scanned the table, 210 ms to find one day's 5,000 of 300,000 events, 1 ms with it.
    db.execute("CREATE INDEX audit_by_time ON audit_events (stage_at)")


@migrations(name="m010_builds")
def m010_builds(db: Database) -> None:
    # What a build job reported it built (record-build, or an in-toto/SLSA provenance
    # statement): one row per image (repository and manifest digest), reports of one image
    # merging. Running Pods name their digest; this is how a digest finds its source commit.
    db.execute(
        """
        CREATE TABLE builds (
            id INTEGER PRIMARY KEY,
            repository TEXT NOT NULL,
            digest TEXT NOT NULL,
            tags TEXT,
            source_repo TEXT,
            commit_sha TEXT,
            commit_at TEXT,
            commit_author TEXT,
            commit_subject TEXT,
            provider TEXT,
            pipeline TEXT,
            run_id TEXT,
            url TEXT,
            actor TEXT,
            built_at TEXT,
            provenance TEXT,
            reported_at TEXT NOT NULL,
            source TEXT NOT NULL,
            UNIQUE (repository, digest)
        )"""
    )
    db.execute("CREATE INDEX builds_by_digest ON builds (digest)")


@migrations(name="m011_notes")
def m011_notes(db: Database) -> None:
    # What people say about a moment ("incident started", "rolled back here"), on the
    # timeline of a cluster or one resource; shared through the team store like every fact.
    db.execute(
        """
        CREATE TABLE notes (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            cluster TEXT,
            api_group TEXT,
            kind TEXT,
            namespace TEXT,
            name TEXT,
            text TEXT NOT NULL,
            author TEXT NOT NULL,
            written_at TEXT NOT NULL
        )"""
    )
    db.execute("CREATE INDEX notes_by_time ON notes (at)")


@migrations(name="m012_alerts")
def m012_alerts(db: Database) -> None:
    # The alerts' durable outbox: events found in the record (each once, by its key), the
    # messages made of them for each receiver (retried until delivered, same key each
    # time), the evaluator's cursors and the drift state it last saw per resource. All in
    # the store, so a receiver down for an hour, or a recorder restarted, loses nothing.
    db.execute(
        """
        CREATE TABLE alert_events (
            id INTEGER PRIMARY KEY,
            key TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL,
            cluster TEXT,
            at TEXT NOT NULL,
            created_at TEXT NOT NULL,
            payload TEXT NOT NULL
        )"""
    )
    db.execute(
        """
        CREATE TABLE alert_messages (
            id INTEGER PRIMARY KEY,
            target TEXT NOT NULL,
            key TEXT NOT NULL UNIQUE,
            events TEXT NOT NULL,
            created_at TEXT NOT NULL,
            attempts INTEGER NOT NULL,
            next_try_at TEXT NOT NULL,
            delivered_at TEXT,
            last_error TEXT
        )"""
    )
    db.execute(
        "CREATE INDEX alert_messages_due ON alert_messages (target, delivered_at, next_try_at)"
    )
    db.execute("CREATE TABLE alert_cursors (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.execute(
        """
        CREATE TABLE alert_drift (
            resource_id INTEGER PRIMARY KEY,
            state TEXT NOT NULL,
            since TEXT NOT NULL
        )"""
    )


@migrations(name="m013_pod_digests")
def m013_pod_digests(db: Database) -> None:
    # The image digests each Pod's containers ran, a row where they change (see
    # store/pod_digests.py): `timetravel report` reads a month of them in one range scan
    # instead of decoding every Pod revision of the month. What a Pod runs is a row of
    # pod_runs, stored once for every Pod and change that runs it. Kept by the writer from
    # now on; filled here from the Pod revisions already stored, each decoded once.
    db.execute(
        """
        CREATE TABLE pod_runs (
            id INTEGER PRIMARY KEY,
            hash BLOB NOT NULL UNIQUE,
            body TEXT NOT NULL
        )"""
    )
    db.execute(
        """
        CREATE TABLE pod_digests (
            at_us INTEGER NOT NULL,
            revision_id INTEGER NOT NULL,
            resource_id INTEGER NOT NULL REFERENCES resources(id),
            run_id INTEGER REFERENCES pod_runs(id),
            PRIMARY KEY (at_us, revision_id)
        ) WITHOUT ROWID"""
    )
    db.execute(
        "CREATE INDEX pod_digests_by_resource ON pod_digests (resource_id, at_us, revision_id)"
    )
    fill_pod_digests(db.conn)


@migrations(name="m014_resources_in_list_order")
def m014_resources_in_list_order(db: Database) -> None:
    # The identities in the resource list's order, with what a far jump's glimpse reads of
    # them (query/glimpse.py): one scan of this index, no sort and no table row, lists who
    # is alive around a moment (100,000 objects: 0.26 s, was 0.6 s).
    db.execute(
        "CREATE INDEX resources_in_list_order ON resources "
        "(namespace, kind, name, cluster, first_at, gone_at, api_group, api_version)"
    )


@migrations(name="m015_revision_writers")
def m015_revision_writers(db: Database) -> None:
    # What each writer has written (store/write_marks.py): read again after news, it tells
    # a screen whether anything new lies at or before the moment it keeps, so the moment
    # can step on rather than be read again in full. A row per writer: on PostgreSQL,
    # where recorders write at once, none updates another's row (no lock between them).
    db.execute(
        """
        CREATE TABLE revision_writers (
            writer TEXT PRIMARY KEY,
            batches INTEGER NOT NULL,
            written INTEGER NOT NULL,
            oldest_us INTEGER NOT NULL,
            newest_us INTEGER NOT NULL,
            last_us INTEGER NOT NULL,
            late INTEGER NOT NULL
        )"""
    )
