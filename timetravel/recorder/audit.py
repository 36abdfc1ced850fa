"""Audit logs into the store: who made each change (``timetravel import-audit``)."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field

from timetravel.domain.audit import AuditEvent, BadLine, parse_audit_records
from timetravel.errors import UserError
from timetravel.recorder.progress import Progress, with_rest
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


def import_audit_lines(
    db: Database,
    lines: Iterable[bytes | str | LongLine],
    *,
    name: str = "-",
    report: AuditImportReport | None = None,
    progress: Progress | None = None,
) -> AuditImportReport:
    """Import audit events; read-only requests are counted and dropped, bad lines listed.

    Each batch is one transaction, so an interrupted import keeps every batch before it,
    and importing the same log again adds nothing (requests are keyed by auditID). A line
    over the length limit (:func:`~timetravel.sources.files.read_lines`) is a bad line.
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
        for line_no, line in enumerate(lines, start=1):
            if isinstance(line, LongLine):
                report.bad.append((name, BadLine(line_no, line.reason)))
                continue
            for item in parse_audit_records(line, line_no):
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
    db: Database, sources: Iterable[str], *, progress: Progress | None = None
) -> AuditImportReport:
    """Import every log in ``sources`` (checked by :func:`check_audit_sources`), gzip or plain.

    A truncated or corrupt compressed log keeps the events before the damage and raises
    UserError naming the file.
    """
    report = AuditImportReport()
    for source in sources:
        stream, raw = open_input(source, gunzip=True)
        try:
            import_audit_lines(
                db, read_lines(stream), name=source, report=report, progress=progress
            )
        except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
            raise UserError(
                f"{source}: compressed log is truncated or corrupt ({exc}); "
                "events before that point were imported"
            ) from None
        finally:
            close_input(stream, raw)
    return report
