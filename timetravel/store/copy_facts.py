"""Copying the facts other than revisions between stores (store.copy): gaps, Warning
events, git facts, pipeline runs, audit events, builds and notes, each skipped where the
target holds it."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from timetravel.domain.audit import stage_rank
from timetravel.store import codec, declared
from timetravel.store.copy_parts import CopyReport, Scope, StartProgress, Tally, chunks, many, marks
from timetravel.store.gitstore import GitStore
from timetravel.store.handle import StoreDB
from timetravel.store.runs import decode_clusters, encode_clusters

# Rows of a table a transaction copies (desired sets: a few, each a whole commit's).
ROWS = 1000
SETS = 20


class FactCopy:
    """Gaps, Warning events, git facts, pipeline runs and audit events."""

    def __init__(self, source: StoreDB, target: StoreDB, scope: Scope, report: CopyReport) -> None:
        self.source = source
        self.target = target
        self.src = source.conn
        self.dst = target.conn
        self.scope = scope
        self.report = report
        self.shas: set[str] = set()  # commits the copied facts name
        self.heads: set[str] = set()  # commits the copied ref updates moved a branch to

    def run(self, progress: StartProgress) -> None:
        tally = progress("copying other facts", None, "rows")
        try:
            self.gaps(tally)
            self.observations(tally)
            repos = self.repos()
            self.ref_updates(repos, tally)
            self.desired_sets(repos, tally)
            self.pipeline_runs(tally)
            self.commits(tally)
            self.audit_events(tally)
            self.builds(tally)
            self.notes(tally)
        finally:
            tally.close()

    def _pages(
        self, sql: str, params: Sequence[Any], size: int | None = None
    ) -> Iterator[list[Any]]:
        """Rows of ``sql`` (which selects ``id`` first and ends in ``WHERE id > ?``
        conditions), a page at a time, by id."""
        after = -(2**62)
        while True:
            rows = self.src.execute(
                f"{sql} ORDER BY id LIMIT {int(size or ROWS)}", [after, *params]
            ).fetchall()
            if not rows:
                return
            yield rows
            after = rows[-1][0]

    def _since(self, column: str) -> tuple[str, list[Any]]:
        if self.scope.since is None:
            return "", []
        return f" AND {column} >= ?", [self.scope.since]

    def gaps(self, tally: Tally) -> None:
        where, params = self._since("ended_at")
        if self.scope.cluster is not None:
            where += " AND (cluster = ? OR cluster IS NULL)"
            params.append(self.scope.cluster)
        have = {
            tuple(r)
            for r in self.dst.execute("SELECT cluster, source, started_at, ended_at FROM gaps")
        }
        sql = "SELECT id, cluster, source, started_at, ended_at, reason FROM gaps WHERE id > ?"
        for rows in self._pages(sql + where, params):
            new = [tuple(r[1:]) for r in rows if tuple(r[1:5]) not in have]
            with self.dst:
                many(
                    self.dst,
                    "INSERT INTO gaps (cluster, source, started_at, ended_at, reason) "
                    "VALUES (?, ?, ?, ?, ?)",
                    new,
                )
            have.update(r[:4] for r in new)
            self.report.add("gaps", len(new), len(rows) - len(new))
            tally.advance(len(rows))

    def observations(self, tally: Tally) -> None:
        columns = (
            "cluster, observed_at, kind, severity, reason, message, object_group, object_kind, "
            "object_namespace, object_name, first_at, last_at, count, dedupe_key"
        )
        where, params = self._since("observed_at")
        if self.scope.cluster is not None:
            where += " AND cluster = ?"
            params.append(self.scope.cluster)
        for rows in self._pages(
            f"SELECT id, {columns} FROM observations WHERE id > ?" + where, params
        ):
            added = 0
            with self.dst:
                for row in rows:
                    values = tuple(row[1:])
                    if values[-1] is None and self._observation_held(values):
                        continue  # no dedupe_key (timetravel always writes one): the same row
                    cursor = self.dst.execute(
                        f"INSERT INTO observations ({columns}) VALUES ({marks(values)}) "
                        "ON CONFLICT (dedupe_key) DO NOTHING",
                        values,
                    )
                    added += max(cursor.rowcount, 0)
            self.report.add("observations", added, len(rows) - added)
            tally.advance(len(rows))

    def _observation_held(self, values: tuple[Any, ...]) -> bool:
        rows = self.dst.execute(
            "SELECT cluster, observed_at, kind, severity, reason, message, object_group, "
            "object_kind, object_namespace, object_name, first_at, last_at, count, dedupe_key "
            "FROM observations WHERE observed_at = ?",
            (values[1],),
        ).fetchall()
        return any(tuple(r) == values for r in rows)

    # -- git -------------------------------------------------------------------------------
    def repos(self) -> dict[int, int]:
        """Source repository id -> the target's, for the repositories copied."""
        where = ""
        params: list[Any] = []
        if self.scope.cluster is not None:
            where = " WHERE cluster = ? OR cluster IS NULL"
            params = [self.scope.cluster]
        rows = self.src.execute(
            "SELECT id, path, branch, tracked_ref, remote_url, cluster, first_seen FROM repos"
            + where
            + " ORDER BY id",
            params,
        ).fetchall()
        out: dict[int, int] = {}
        with self.dst:
            for rid, *values in rows:
                cursor = self.dst.execute(
                    "INSERT INTO repos (path, branch, tracked_ref, remote_url, cluster, first_seen)"
                    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (path, branch) DO NOTHING",
                    values,
                )
                self.report.add("repos", max(cursor.rowcount, 0), 1 - max(cursor.rowcount, 0))
                found = self.dst.execute(
                    "SELECT id FROM repos WHERE path = ? AND branch = ?", (values[0], values[1])
                ).fetchone()
                out[int(rid)] = int(found[0])
        return out

    def ref_updates(self, repos: dict[int, int], tally: Tally) -> None:
        columns = "observed_at, sha, previous_sha, backfilled, forced"
        for source_repo, target_repo in repos.items():
            have = {
                tuple(r)
                for r in self.dst.execute(
                    "SELECT observed_at, sha FROM ref_updates WHERE repo_id = ?", (target_repo,)
                )
            }
            pages: list[list[Any]] = []
            where, params = self._since("observed_at")
            if self.scope.since is not None:
                base = self.src.execute(
                    f"SELECT id, {columns} FROM ref_updates WHERE repo_id = ? AND observed_at < ? "
                    "ORDER BY observed_at DESC, id DESC LIMIT 1",
                    (source_repo, self.scope.since),
                ).fetchall()
                pages.append(base)
            sql = f"SELECT id, {columns} FROM ref_updates WHERE id > ? AND repo_id = ?" + where
            for rows in [*pages, *self._pages(sql, [source_repo, *params])]:
                new = [tuple(r[1:]) for r in rows if (r[1], r[2]) not in have]
                self.heads.update(str(r[2]) for r in rows)
                self.shas.update(str(r[2]) for r in rows)
                self.shas.update(str(r[3]) for r in rows if r[3])
                with self.dst:
                    many(
                        self.dst,
                        f"INSERT INTO ref_updates (repo_id, {columns}) VALUES (?, ?, ?, ?, ?, ?)",
                        [(target_repo, *values) for values in new],
                    )
                have.update(values[:2] for values in new)
                self.report.add("ref_updates", len(new), len(rows) - len(new))
                tally.advance(len(rows))

    def desired_sets(self, repos: dict[int, int], tally: Tally) -> None:
        """Each desired set written again through the target's GitStore: its keyframe or
        delta against the target's previous set, and its declared_changes."""
        git = GitStore(self.target)
        cache = codec.KeyframeCache(16)
        for source_repo, target_repo in repos.items():
            sql = "SELECT id, sha FROM desired_sets WHERE id > ? AND repo_id = ?"
            for rows in self._pages(sql, [source_repo], size=SETS):
                wanted = [
                    (int(sid), str(sha))
                    for sid, sha in rows
                    if self.scope.since is None or sha in self.heads
                ]
                added = 0
                with self.dst:
                    for set_id, sha in wanted:
                        if git.has_desired_set(target_repo, sha):
                            continue
                        objects, errors = self._desired_set(set_id, cache)
                        git.put_desired_set(
                            target_repo,
                            sha,
                            [codec.dumps(item) for item in objects],
                            errors,
                            [declared.object_key(item.get("obj")) for item in objects],
                        )
                        added += 1
                self.shas.update(sha for _, sha in wanted)
                self.report.add("desired_sets", added, len(wanted) - added)
                tally.advance(len(rows))

    def _desired_set(
        self, set_id: int, cache: codec.KeyframeCache
    ) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
        row = self.src.execute(
            "SELECT d.keyframe_id, d.body, k.body FROM desired_sets d "
            "LEFT JOIN desired_sets k ON k.id = d.keyframe_id WHERE d.id = ?",
            (set_id,),
        ).fetchone()
        raw = codec.decode_body(row[1], row[0], row[2], cache, set_id)
        data = codec.loads(raw) if raw else {"objects": [], "errors": []}
        return list(data["objects"]), list(data["errors"])

    def commits(self, tally: Tally) -> None:
        """Every commit (a whole copy), or those the copied facts name."""
        columns = "sha, committed_at, authored_at, author, committer, message, parents"
        if self.scope.cluster is None and self.scope.since is None:
            pages: Iterator[list[Any]] = _by_key(self.src, f"SELECT {columns} FROM commits", "sha")
        else:
            pages = (
                self.src.execute(
                    f"SELECT {columns} FROM commits WHERE sha IN ({marks(chunk)})", chunk
                ).fetchall()
                for chunk in chunks(sorted(self.shas))
            )
        for rows in pages:
            added = 0
            with self.dst:
                for row in rows:
                    cursor = self.dst.execute(
                        f"INSERT INTO commits ({columns}) VALUES (?, ?, ?, ?, ?, ?, ?) "
                        "ON CONFLICT (sha) DO NOTHING",
                        tuple(row),
                    )
                    added += max(cursor.rowcount, 0)
            self.report.add("commits", added, len(rows) - added)
            tally.advance(len(rows))

    # -- runs and audit events -------------------------------------------------------------
    def _runs_of_cluster(self, rows: list[Any]) -> list[Any]:
        """The runs (``clusters`` last) that may have changed the copied cluster: those
        naming it or none (a name in a JSON list, read alike from either engine)."""
        cluster = self.scope.cluster
        if cluster is None:
            return rows
        return [r for r in rows if not (names := decode_clusters(r[-1])) or cluster in names]

    def pipeline_runs(self, tally: Tally) -> None:
        columns = (
            "provider, pipeline, run_id, url, commit_sha, status, actor, started_at, "
            "finished_at, targets, service_account, reported_at, source, clusters"
        )
        where, params = self._since("COALESCE(finished_at, reported_at)")
        sql = f"SELECT id, {columns} FROM pipeline_runs WHERE id > ?" + where
        for page in self._pages(sql, params):
            rows = self._runs_of_cluster(page)
            added = updated = 0
            with self.dst:
                for row in rows:
                    values = tuple(row[1:])
                    if values[4]:
                        self.shas.add(str(values[4]))
                    held = self.dst.execute(
                        "SELECT reported_at, clusters FROM pipeline_runs "
                        "WHERE provider = ? AND pipeline = ? AND run_id = ?",
                        values[:3],
                    ).fetchone()
                    if held is None:
                        self.dst.execute(
                            f"INSERT INTO pipeline_runs ({columns}) VALUES ({marks(values)})",
                            values,
                        )
                        added += 1
                        continue
                    # The clusters of both count, whichever report is later (as store.runs.
                    # upsert_pipeline_run merges reports).
                    clusters = encode_clusters(
                        (*decode_clusters(held[1]), *decode_clusters(values[13]))
                    )
                    if values[11] > held[0]:
                        # A later report of the run: what it says wins, what it leaves out
                        # stays.
                        self.dst.execute(
                            "UPDATE pipeline_runs SET url = coalesce(?, url), "
                            "commit_sha = coalesce(?, commit_sha), status = coalesce(?, status), "
                            "actor = coalesce(?, actor), started_at = coalesce(?, started_at), "
                            "finished_at = coalesce(?, finished_at), "
                            "targets = coalesce(?, targets), "
                            "service_account = coalesce(?, service_account), "
                            "reported_at = ?, source = ?, clusters = ? "
                            "WHERE provider = ? AND pipeline = ? AND run_id = ?",
                            (*values[3:13], clusters, *values[:3]),
                        )
                        updated += 1
                    elif clusters != held[1]:
                        self.dst.execute(
                            "UPDATE pipeline_runs SET clusters = ? "
                            "WHERE provider = ? AND pipeline = ? AND run_id = ?",
                            (clusters, *values[:3]),
                        )
                        updated += 1
            self.report.add("pipeline_runs", added + updated, len(rows) - added - updated)
            tally.advance(len(page))

    def builds(self, tally: Tally) -> None:
        _copy_builds(self, tally)

    def notes(self, tally: Tally) -> None:
        _copy_notes(self, tally)

    def audit_events(self, tally: Tally) -> None:
        columns = (
            'audit_id, stage, stage_at, verb, "user", user_groups, impersonated_user, '
            "user_agent, field_manager, api_group, api_version, resource, subresource, "
            "namespace, name, response_code, request_uri, level, imported_at, cluster"
        )
        settable = [c.strip() for c in columns.split(",")][1:]
        where, params = self._since("stage_at")
        if self.scope.cluster is not None:
            # The events of C's API server, and those that name no cluster (they may be).
            where += " AND (cluster = ? OR cluster IS NULL)"
            params.append(self.scope.cluster)
        sql = f"SELECT id, {columns} FROM audit_events WHERE id > ?" + where
        for rows in self._pages(sql, params):
            ids = sorted({str(r[1]) for r in rows if r[1] is not None})
            held: dict[str, tuple[int, str | None]] = {}  # rank of the stage, cluster
            for chunk in chunks(ids):
                for audit_id, stage, cluster in self.dst.execute(
                    "SELECT audit_id, stage, cluster FROM audit_events "
                    f"WHERE audit_id IN ({marks(chunk)})",
                    chunk,
                ):
                    held[str(audit_id)] = (stage_rank(stage), cluster)
            added = 0
            with self.dst:
                for row in rows:
                    values = tuple(row[1:])
                    audit_id, cluster = values[0], values[-1]
                    known = held.get(audit_id) if audit_id is not None else None
                    if known is None:
                        self.dst.execute(
                            f"INSERT INTO audit_events ({columns}) VALUES ({marks(values)})",
                            values,
                        )
                    elif stage_rank(values[1]) > known[0]:
                        # A later stage of the request (as store.runs.insert_audit_events:
                        # a cluster the target holds stays).
                        self.dst.execute(
                            "UPDATE audit_events SET "
                            + ", ".join(
                                "cluster = coalesce(cluster, ?)" if c == "cluster" else f"{c} = ?"
                                for c in settable
                            )
                            + " WHERE audit_id = ?",
                            (*values[1:], audit_id),
                        )
                    else:
                        if cluster is not None and known[1] is None:
                            # Held without its cluster, which the source knows.
                            self.dst.execute(
                                "UPDATE audit_events SET cluster = ? WHERE audit_id = ?",
                                (cluster, audit_id),
                            )
                            held[audit_id] = (known[0], cluster)
                        continue
                    if audit_id is not None:
                        held[audit_id] = (stage_rank(values[1]), (known and known[1]) or cluster)
                    added += 1
            self.report.add("audit_events", added, len(rows) - added)
            tally.advance(len(rows))


_BUILD_COLUMNS = (
    "repository, digest, tags, source_repo, commit_sha, commit_at, commit_author, "
    "commit_subject, provider, pipeline, run_id, url, actor, built_at, provenance, "
    "reported_at, source"
)
_NOTE_COLUMNS = "at, cluster, api_group, kind, namespace, name, text, author, written_at"


def _copy_builds(fc: FactCopy, tally: Tally) -> None:
    """Builds name no cluster: each one the target lacks (by repository and digest)."""
    where, params = fc._since("reported_at")
    sql = f"SELECT id, {_BUILD_COLUMNS} FROM builds WHERE id > ?" + where
    for page in fc._pages(sql, params):
        added = 0
        with fc.dst:
            for row in page:
                values = tuple(row[1:])
                if fc.dst.execute(
                    "SELECT 1 FROM builds WHERE repository = ? AND digest = ?", values[:2]
                ).fetchone():
                    continue
                fc.dst.execute(
                    f"INSERT INTO builds ({_BUILD_COLUMNS}) VALUES ({marks(values)})", values
                )
                added += 1
        fc.report.add("builds", added, len(page) - added)
        tally.advance(len(page))


def _copy_notes(fc: FactCopy, tally: Tally) -> None:
    """Notes of the copied cluster or of none; one already there (same moment, place,
    text and author) is not copied again."""
    where, params = fc._since("at")
    if fc.scope.cluster is not None:
        where += " AND (cluster = ? OR cluster IS NULL)"
        params.append(fc.scope.cluster)
    sql = f"SELECT id, {_NOTE_COLUMNS} FROM notes WHERE id > ?" + where
    for page in fc._pages(sql, params):
        added = 0
        with fc.dst:
            for row in page:
                values = tuple(row[1:])
                held = fc.dst.execute(
                    "SELECT 1 FROM notes WHERE at = ? AND text = ? AND author = ? "
                    "AND coalesce(cluster, '') = coalesce(?, '') "
                    "AND coalesce(kind, '') = coalesce(?, '') "
                    "AND coalesce(namespace, '') = coalesce(?, '') "
                    "AND coalesce(name, '') = coalesce(?, '')",
                    (values[0], values[6], values[7], values[1], values[3], values[4], values[5]),
                ).fetchone()
                if held:
                    continue
                fc.dst.execute(
                    f"INSERT INTO notes ({_NOTE_COLUMNS}) VALUES ({marks(values)})", values
                )
                added += 1
        fc.report.add("notes", added, len(page) - added)
        tally.advance(len(page))


def _by_key(conn: Any, sql: str, key: str) -> Iterator[list[Any]]:
    """Rows of a table without an integer id, a page at a time by its text key (first)."""
    after = ""
    while True:
        rows = conn.execute(
            f"{sql} WHERE {key} > ? ORDER BY {key} LIMIT {ROWS}", (after,)
        ).fetchall()
        if not rows:
            return
        yield rows
        after = rows[-1][0]
