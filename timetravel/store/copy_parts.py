"""What the parts of a copy between stores share (store.copy): what to copy, the report
of what was copied, progress, and a few SQL helpers both engines accept."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from timetravel.store.handle import StoreDB

CHUNK = 500  # values in one IN (...)


@dataclass(frozen=True)
class Scope:
    """Which facts: one cluster's (or all), observed at or after ``since`` (or all)."""

    cluster: str | None = None
    since: str | None = None  # stored text


class Tally(Protocol):
    """What reports progress (recorder.progress.Progress has it)."""

    def advance(self, n: int = 1) -> None: ...

    def close(self) -> None: ...


# (label, total or None, unit) -> a tally
StartProgress = Callable[[str, int | None, str], Tally]


class Quiet:
    """No progress shown."""

    def advance(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def quiet(label: str, total: int | None, unit: str) -> Tally:
    return Quiet()


@dataclass
class CopyReport:
    """What a copy did, table by table: rows added, and rows already there."""

    added: dict[str, int] = field(default_factory=dict)
    present: dict[str, int] = field(default_factory=dict)
    objects: int = 0  # target objects that got revisions
    unreadable: int = 0  # revisions the source's index names and its segments lack
    seconds: float = 0.0

    def add(self, table: str, added: int = 0, present: int = 0) -> None:
        self.added[table] = self.added.get(table, 0) + added
        self.present[table] = self.present.get(table, 0) + present

    def lines(self) -> list[str]:
        """The summary a person reads: what was added, what was there already."""
        revisions = self.added.get("revisions", 0)
        parts = [
            _count(self.added[table], *names)
            for table, names in _NAMES.items()
            if self.added.get(table)
        ]
        if revisions:
            parts[0] += f" of {_count(self.objects, 'object', 'objects')}"
        present = sum(self.present.values())
        if parts:
            rate = (
                f", {revisions / self.seconds:,.0f} revisions/s"
                if self.seconds and revisions
                else ""
            )
            out = [f"copied {', '.join(parts)} in {self.seconds:.1f} s{rate}"]
            if present:
                out.append(f"{_count(present, 'fact', 'facts')} were there already")
        else:
            out = [f"nothing new to copy: {_count(present, 'fact', 'facts')} were there already"]
        if self.unreadable:
            out.append(
                f"{self.unreadable:,} revisions the source's index names are not in its "
                "segments (not copied): run `timetravel check` on the source"
            )
        return out


_NAMES = {
    "revisions": ("revision", "revisions"),
    "gaps": ("gap", "gaps"),
    "observations": ("Warning event", "Warning events"),
    "repos": ("repository", "repositories"),
    "commits": ("commit", "commits"),
    "ref_updates": ("ref update", "ref updates"),
    "desired_sets": ("desired set", "desired sets"),
    "pipeline_runs": ("pipeline run", "pipeline runs"),
    "audit_events": ("audit event", "audit events"),
    "builds": ("build", "builds"),
    "notes": ("note", "notes"),
}


def _count(n: int, one: str, many: str) -> str:
    return f"{n:,} {one if n == 1 else many}"


def where_of(db: StoreDB) -> str:
    """A store's name for messages (a URL with its password masked)."""
    return str(getattr(db.conn, "timetravel_path", "the database"))


def meta(conn: Any, key: str) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def many(conn: Any, sql: str, rows: Sequence[Sequence[Any]]) -> None:
    """``executemany``, skipped when there is nothing (psycopg refuses an empty list)."""
    if rows:
        conn.executemany(sql, rows)


def marks(values: Sequence[Any]) -> str:
    return ",".join("?" * len(values))


def chunks(values: Sequence[Any], size: int = CHUNK) -> Iterator[list[Any]]:
    for start in range(0, len(values), size):
        yield list(values[start : start + size])
