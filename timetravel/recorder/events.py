"""``import-events``: kubectl watch output into the store, through the one write path."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from timetravel.domain.model import Observation
from timetravel.domain.times import (
    SUPPORTED_RANGE,
    TimeOutOfRange,
    in_supported_range,
    parse_rfc3339,
    to_stored,
    utc_now,
)
from timetravel.recorder.progress import Progress, with_rest
from timetravel.sources.events_file import BadRecord, read_records
from timetravel.sources.files import LongLine
from timetravel.store import Database
from timetravel.store.writer import RevisionWriter, validate

BATCH = 2000


@dataclass
class ImportReport:
    """What an import did: records read, revisions written, and every record skipped."""

    read: int = 0
    written: int = 0
    unchanged: int = 0
    bad: list[BadRecord] = field(default_factory=list)

    def summary(self) -> str:
        line = (
            f"imported {self.read:,} records: {self.written:,} revisions written, "
            f"{self.unchanged:,} unchanged"
        )
        if self.bad:
            line += f", {len(self.bad):,} skipped"
        return line

    def skipped_lines(self, limit: int = 20) -> list[str]:
        return with_rest([f"  line {b.line}: {b.reason}" for b in self.bad[:limit]], len(self.bad))


def import_events(
    db: Database,
    lines: Iterable[str | bytes | LongLine],
    *,
    cluster: str,
    clock: Callable[[], datetime] = utc_now,
    progress: Progress | None = None,
) -> ImportReport:
    """Import watch events / object lists; bad records are reported, never fatal.

    Each batch is one transaction, so an interrupted import keeps every batch before it.
    """
    writer = RevisionWriter(db)
    report = ImportReport()
    batch: list[tuple[int, Observation]] = []

    def flush() -> None:
        if not batch:
            return
        result = writer.write(obs for _, obs in batch)
        report.written += result.written
        report.unchanged += result.unchanged
        if progress is not None:
            progress.advance(len(batch))
        batch.clear()

    for record in read_records(lines):
        if isinstance(record, BadRecord):
            report.bad.append(record)
            continue
        report.read += 1
        if record.observed_at is not None:
            try:
                observed: datetime | None = parse_rfc3339(record.observed_at)
            except TimeOutOfRange:
                observed = None
            except ValueError:
                report.bad.append(
                    BadRecord(record.line, f"observed_at is not RFC 3339: {record.observed_at!r}")
                )
                continue
            if observed is None or not in_supported_range(observed):
                report.bad.append(
                    BadRecord(
                        record.line,
                        f"observed_at {record.observed_at!r} is outside the supported range "
                        f"({SUPPORTED_RANGE})",
                    )
                )
                continue
            observed_at = to_stored(observed)
        else:
            observed_at = to_stored(clock())
        obs = Observation(cluster, record.event, record.obj, observed_at, source="import-events")
        try:
            validate(obs)
        except ValueError as exc:
            report.bad.append(BadRecord(record.line, str(exc)))
            continue
        batch.append((record.line, obs))
        if len(batch) >= BATCH:
            flush()
    flush()
    if progress is not None:
        progress.close()
    return report
