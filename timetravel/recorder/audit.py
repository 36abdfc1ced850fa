"""Audit logs into the store: who made each change (``timetravel import-audit``).

An audit log is one API server's, so one cluster's: in a store of several clusters its
events must say which (``--cluster``), or prod's ``kubectl edit`` would be taken for the
author of staging's change of an object with the same name at the same moment.
"""

from __future__ import annotations

import gzip
import itertools
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from timetravel.domain.audit import AuditEvent, BadLine, audit_records, parse_audit_records
from timetravel.domain.audit_managed import without_export_time
from timetravel.errors import UserError
from timetravel.recorder.progress import Progress, with_rest
from timetravel.sources.events_file import BadRecord, read_values
from timetravel.sources.files import LongLine, close_input, open_input, read_lines
from timetravel.store import Database
from timetravel.store.runs import insert_audit_events

BATCH = 2000


@dataclass
class AuditImportReport:
    """What an import did: events written, requests already stored, lines skipped."""

    inserted: int = 0
    changes: int = 0
    duplicates: int = 0
    read_only: int = 0
    bad: list[tuple[str, BadLine]] = field(default_factory=list)  # (file, line)
    files: int = 0

    @property
    def records(self) -> int:
        """Every record read: each is imported, already stored, read-only or bad."""
        return self.inserted + self.duplicates + self.read_only + len(self.bad)

    def summary(self) -> str:
        bad = len(self.bad)
        line = (
            f"imported {self.inserted:,} audit events ({self.changes:,} changes), "
            f"{self.read_only:,} skipped (read-only verbs), "
            f"{bad:,} bad line{'' if bad == 1 else 's'}"
        )
        if self.duplicates:
            line += f", {self.duplicates:,} already in the database"
        return line

    def bad_lines(self, limit: int = 20) -> list[str]:
        # With several files each bad line names its file; with one, the line is enough.
        return with_rest(
            [
                f"  {name + ' ' if self.files > 1 else ''}line {b.line_no}: {b.reason}"
                for name, b in self.bad[:limit]
            ],
            len(self.bad),
        )


@dataclass(frozen=True)
class LogCluster:
    """The cluster a log's events are filed under (None: not said, any cluster), and a
    warning to show first, if any."""

    cluster: str | None
    warning: str | None = None


def _listing(known: Sequence[str]) -> str:
    return ", ".join(known) if known else "none yet"


def log_cluster(known: Sequence[str], cluster: str | None) -> LogCluster:
    """Which cluster a log is from, given the clusters the store records (``known``) and
    ``--cluster`` (None when not given).

    Without ``--cluster`` a store of one cluster (or none yet) files the events under no
    cluster, as before there were several; a store of several refuses (UserError naming
    them): nothing says which one's changes the log explains. A name the store does not
    record (yet: the log may come before the recorder) is taken, with a warning.
    """
    if cluster is not None and not cluster.strip():
        raise UserError("--cluster needs a cluster name")
    if cluster is None:
        if len(known) > 1:
            raise UserError(
                f"this store records clusters {_listing(known)}: say which cluster the "
                "audit log is from with --cluster"
            )
        return LogCluster(None)
    if cluster in known:
        return LogCluster(cluster)
    records = (
        f"no cluster {cluster!r} yet (it records {_listing(known)})"
        if known
        else ("no cluster yet")
    )
    return LogCluster(
        cluster, f"this store records {records}; the events are filed under {cluster!r}"
    )


def import_audit_lines(
    db: Database,
    lines: Iterable[bytes | str | LongLine],
    *,
    name: str = "-",
    report: AuditImportReport | None = None,
    progress: Progress | None = None,
    cluster: str | None = None,
) -> AuditImportReport:
    """Import audit events; read-only requests are counted and dropped, bad lines listed.

    Each batch is one transaction, so an interrupted import keeps every batch before it,
    and importing the same log again adds nothing (requests are keyed by auditID; again
    with a ``cluster``, the events stored without one take it). A line over the length
    limit (:func:`~timetravel.sources.files.read_lines`) is a bad line. ``report``
    accumulates over several files (named ``name`` in its bad lines). ``cluster`` is the
    cluster whose API server wrote the log (None: not said).
    """
    report = report if report is not None else AuditImportReport()
    report.files += 1
    batch: list[AuditEvent] = []

    def flush() -> None:
        if not batch:
            return
        result = insert_audit_events(db, batch)
        report.inserted += result.inserted
        report.duplicates += result.duplicates
        report.changes += result.changes
        if progress is not None:
            progress.advance(len(batch))
        batch.clear()

    try:
        for item in read_audit_records(lines):
            if isinstance(item, BadLine):
                report.bad.append((name, item))
            elif item.read_only:
                # Most of a real audit log is get/list/watch: nothing changed, nothing kept.
                report.read_only += 1
            else:
                batch.append(item if cluster is None else replace(item, cluster=cluster))
                if len(batch) >= BATCH:
                    flush()
    finally:
        # Whatever was read before a failure (a truncated .gz) is kept.
        flush()
    return report


def read_audit_records(
    lines: Iterable[bytes | str | LongLine],
) -> Iterator[AuditEvent | BadLine]:
    """The events and bad records of one log, in order, lines numbered from 1.

    A log whose first line is a whole JSON value is read a line at a time, as the API
    server and the managed clusters' exports write it (a line of an S3 export of CloudWatch
    Logs starts with its time: that is dropped). Otherwise it is a stream of JSON values,
    pretty-printed or concatenated (``jq .``, ``gcloud logging read --format=json``), read
    as ``import-events`` reads one; a record then counts from the line it starts on.
    """
    lines = iter(lines)
    head: list[bytes | str | LongLine] = []
    for line in lines:
        head.append(line)
        if isinstance(line, LongLine) or line.strip():
            break
    rest = itertools.chain(head, lines)
    if head and _starts_a_stream(head[-1]):
        records: Iterator[AuditEvent | BadLine | BadRecord] = read_values(rest, _expand)
        for item in records:
            yield BadLine(item.line, item.reason) if isinstance(item, BadRecord) else item
        return
    for line_no, line in enumerate(rest, start=1):
        if isinstance(line, LongLine):
            yield BadLine(line_no, line.reason)
            continue
        if isinstance(line, bytes):
            line = without_export_time(line)
        yield from parse_audit_records(line, line_no)


def _starts_a_stream(first: bytes | str | LongLine) -> bool:
    """Whether the first line of a log is not a JSON value by itself (but its start)."""
    if isinstance(first, LongLine):
        return False
    text = without_export_time(first if isinstance(first, bytes) else first.encode())
    try:
        orjson.loads(text)
    except orjson.JSONDecodeError:
        return text.lstrip()[:1] in (b"{", b"[")
    return False


def _expand(line: int, value: Any, _deep: bool) -> Iterator[AuditEvent | BadLine]:
    # Nesting depth does not matter here: nothing of a request's bodies is kept.
    return audit_records(value, line)


def check_audit_sources(sources: Iterable[str]) -> list[str]:
    """The logs to import, each opened once to refuse a missing one before any is imported
    (a half-done import is confusing). ``-`` (standard input) stands alone."""
    sources = list(sources)
    if "-" in sources and len(sources) > 1:
        raise UserError("'-' (standard input) cannot be combined with files")
    for source in sources:
        if source != "-":
            close_input(*open_input(source))
    return sources


def import_audit_files(
    db: Database,
    sources: Iterable[str],
    *,
    progress: Progress | None = None,
    cluster: str | None = None,
) -> AuditImportReport:
    """Import every log in ``sources`` (checked by :func:`check_audit_sources`), gzip or plain,
    all from ``cluster`` (None: not said).

    A truncated or corrupt compressed log keeps the events before the damage and raises
    UserError naming the file.
    """
    report = AuditImportReport()
    for source in sources:
        stream, raw = open_input(source, gunzip=True)
        try:
            import_audit_lines(
                db,
                read_lines(stream),
                name=source,
                report=report,
                progress=progress,
                cluster=cluster,
            )
        except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
            raise UserError(
                f"{source}: compressed log is truncated or corrupt ({exc}); "
                "events before that point were imported"
            ) from None
        finally:
            close_input(stream, raw)
    return report
