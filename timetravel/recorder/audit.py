"""``import-audit``: a Kubernetes audit log into the store (who made each change)."""

from __future__ import annotations

import gzip
import sys
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import click

from timetravel.commands.options import db_option, resolve_db, user_errors
from timetravel.domain.audit import AuditEvent, BadLine, read_audit
from timetravel.errors import UserError
from timetravel.recorder.progress import Progress
from timetravel.store import Database
from timetravel.store.db import open_database
from timetravel.store.runs import insert_audit_events

BATCH = 2000
_GZIP_MAGIC = b"\x1f\x8b"


@dataclass
class AuditImportReport:
    """What an import did: events written, requests already stored, lines skipped."""

    inserted: int = 0
    changes: int = 0
    duplicates: int = 0
    read_only: int = 0
    bad: list[tuple[str, BadLine]] = field(default_factory=list)  # (file, line)
    files: int = 0

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
        lines = [
            f"  {name + ' ' if self.files > 1 else ''}line {b.line_no}: {b.reason}"
            for name, b in self.bad[:limit]
        ]
        if len(self.bad) > limit:
            lines.append(f"  ... and {len(self.bad) - limit:,} more")
        return lines


def import_audit_lines(
    db: Database,
    lines: Iterable[bytes | str],
    *,
    name: str = "-",
    report: AuditImportReport | None = None,
    progress: Progress | None = None,
) -> AuditImportReport:
    """Import audit events; read-only requests are counted and dropped, bad lines listed.

    Each batch is one transaction, so an interrupted import keeps every batch before it,
    and importing the same log again adds nothing (requests are keyed by auditID).
    ``report`` accumulates over several files (named ``name`` in its bad lines).
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
        for item in read_audit(lines):
            if isinstance(item, BadLine):
                report.bad.append((name, item))
            elif item.read_only:
                # Most of a real audit log is get/list/watch: nothing changed, nothing kept.
                report.read_only += 1
            else:
                batch.append(item)
                if len(batch) >= BATCH:
                    flush()
    finally:
        # Whatever was read before a failure (a truncated .gz) is kept.
        flush()
    return report


def open_audit(source: str) -> tuple[BinaryIO, BinaryIO]:
    """The log as bytes, and the file under it (to close; stdin is left open).

    A gzip-compressed log (the API server's rotated files) is decompressed as it is read.
    """
    if source == "-":
        raw: BinaryIO = sys.stdin.buffer
    else:
        try:
            raw = open(source, "rb")  # noqa: SIM115 - closed by the caller
        except OSError as exc:
            raise UserError(f"{source}: cannot read ({exc.strerror})") from None
    peek = getattr(raw, "peek", None)
    head = peek(2)[:2] if peek is not None else b""
    if head == _GZIP_MAGIC:
        return gzip.GzipFile(fileobj=raw, mode="rb"), raw  # type: ignore[return-value]
    return raw, raw


@click.command("import-audit")
@db_option
@click.option("--quiet", "-q", is_flag=True, help="No progress output.")
@click.argument("sources", metavar="FILE...|-", nargs=-1, required=True)
@user_errors
def import_audit(db_path: Path | None, quiet: bool, sources: tuple[str, ...]) -> None:
    """Import Kubernetes audit logs (audit.k8s.io Event JSON, one per line).

    Reads what the API server's log backend writes (--audit-log-path, and its .gz
    rotations: give several files at once) and webhook EventList batches, at any
    level. Only metadata is kept (user, impersonation, user agent, field manager,
    object, response code), never request or response bodies. get/list/watch requests
    are skipped. Bad lines are listed at the end (exit 1); the rest is imported.
    Importing a log twice adds nothing.

    Example:

        timetravel import-audit /var/log/kubernetes/audit/audit*.log*
    """
    if "-" in sources and len(sources) > 1:
        raise UserError("'-' (standard input) cannot be combined with files")
    for source in sources:
        # Refuse a missing file before importing any: a half-done import is confusing.
        if source != "-":
            open_audit(source)[1].close()
    db = open_database(resolve_db(db_path))
    progress = Progress("importing audit events", unit="events", enabled=not quiet)
    report = AuditImportReport()
    for source in sources:
        stream, raw = open_audit(source)
        try:
            import_audit_lines(db, stream, name=source, report=report, progress=progress)
        except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
            raise UserError(
                f"{source}: compressed log is truncated or corrupt ({exc}); "
                "events before that point were imported"
            ) from None
        finally:
            if raw is not sys.stdin.buffer:
                stream.close()
                raw.close()
    progress.close()
    click.echo(report.summary(), err=True)
    if report.bad:
        for line in report.bad_lines():
            click.echo(line, err=True)
        sys.exit(1)
