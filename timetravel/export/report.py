"""What the Markdown and HTML reports say, computed once from the snapshot: the counts, the
affected resources (and the change that last set each drifted field), and the timeline."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from timetravel.domain.model import ResourceKey
from timetravel.domain.snapshot import ChangeView, ResourceView, Snapshot, count_states
from timetravel.domain.timeparse import format_local
from timetravel.domain.times import parse_rfc3339
from timetravel.export.options import ExportOptions, Limits
from timetravel.export.wording import CAUSES, STATE_WORDS, plural, safe_url

T = TypeVar("T")


def _wanted(state: str, changed: bool, only: str | None) -> bool:
    if only == "drifted":
        return state in ("drifted", "missing")
    if only == "changed":
        return changed
    return changed or state in ("drifted", "missing")


def narrow(snapshot: Snapshot, only: str | None) -> Snapshot:
    """The snapshot with only the resources ``--only`` asks for (and their changes)."""
    if only is None:
        return snapshot
    changed = {c.key for c in snapshot.changes}
    resources = tuple(r for r in snapshot.resources if _wanted(r.state, r.key in changed, only))
    if only == "changed":
        return dataclasses.replace(snapshot, resources=resources)
    keys = {r.key for r in resources}
    changes = tuple(c for c in snapshot.changes if c.key in keys)
    return dataclasses.replace(snapshot, resources=resources, changes=changes)


def _related(a: str, b: str) -> bool:
    """Whether one field path is the other or lies inside it."""
    if a == b:
        return True
    short, long = (a, b) if len(a) < len(b) else (b, a)
    if not short:
        return True  # the whole object
    return long.startswith(short) and long[len(short)] in ".["


@dataclass(frozen=True)
class Affected:
    """A resource the reports detail: drifted, missing, or changed in the window."""

    key: ResourceKey
    api_version: str
    resource: ResourceView | None  # None: neither live nor declared at the moment
    changes: tuple[ChangeView, ...]  # in the window, oldest first
    setters: tuple[ChangeView | None, ...]  # per diff entry: the change that last set it

    @property
    def state(self) -> str:
        return self.resource.state if self.resource else "gone"

    @property
    def status_changes(self) -> int:
        return sum(1 for c in self.changes if c.status_only)

    @property
    def spec_changes(self) -> int:
        return len(self.changes) - self.status_changes

    @property
    def diff(self) -> tuple[dict[str, Any], ...]:
        return self.resource.diff if self.resource else ()

    @property
    def label(self) -> str:
        """The state as the reports name it: ``drifted``, ``in sync, changed``, ..."""
        word = STATE_WORDS.get(self.state, self.state)
        return f"{word}, changed" if self.changes else word

    @property
    def counted(self) -> str:
        """``7 (4 status only)``: the changes in the window."""
        n = len(self.changes)
        return f"{n:,} ({self.status_changes:,} status only)" if self.status_changes else f"{n:,}"

    def rank(self) -> int:
        if self.state in ("drifted", "missing"):
            return 0 if self.state == "drifted" else 1
        return 2 if self.spec_changes else 3


@dataclass(frozen=True)
class Event:
    """One row of the timeline: a gap, a commit, a pipeline run, a change, or the moment."""

    at: datetime
    kind: str  # gap | commit | run | change | moment
    item: Any  # dict (gap) | CommitView | PipelineRun | ChangeView | None (moment)


_EVENT_ORDER = {"gap": 0, "commit": 1, "run": 2, "change": 3, "moment": 9}


@dataclass(frozen=True)
class Report:
    """What the Markdown and HTML reports say, computed once."""

    snapshot: Snapshot
    options: ExportOptions
    at: datetime
    start: datetime
    end: datetime
    counts: dict[str, int]  # every resource, by state
    causes: dict[str, int]  # every change in the window, by cause
    status_only: int
    inferred: int
    changed_resources: int
    affected: tuple[Affected, ...]  # what --only selects, most telling first
    counted_only: dict[str, int]  # resources not detailed, by state
    events: tuple[Event, ...]  # oldest first, the moment included
    gaps: tuple[dict[str, Any], ...]
    problems: tuple[dict[str, Any], ...]  # every other error
    commit_urls: dict[str, str]
    multi_cluster: bool
    late: int = 0  # changes not seen live: delivered after a recording gap

    @property
    def limits(self) -> Limits:
        return self.options.limits

    @property
    def zone(self) -> str:
        local = self.at.astimezone(self.options.tz)
        name = local.tzname() or ""
        offset = local.utcoffset() or timedelta(0)
        if offset == timedelta(0) and name in ("UTC", ""):
            return "UTC"
        minutes = int(offset.total_seconds()) // 60
        sign = "-" if minutes < 0 else "+"
        return f"{name} (UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d})"

    @property
    def one_day(self) -> bool:
        tz = self.options.tz
        return self.start.astimezone(tz).date() == self.end.astimezone(tz).date()

    def clock(self, value: str | datetime | None) -> str:
        """A time as the reports show it: ``21:04:00``, or ``11-19 21:04:00`` across days."""
        if value is None:
            return ""
        when = parse_rfc3339(value) if isinstance(value, str) else value
        local = when.astimezone(self.options.tz)
        text = f"{local.hour:02d}:{local.minute:02d}:{local.second:02d}"
        return text if self.one_day else f"{local.month:02d}-{local.day:02d} {text}"

    def span(self, start: str | None, end: str | None) -> str:
        """``21:01:00–21:06:00`` (the end without its date when it is the start's day)."""
        first, last = self.clock(start), self.clock(end)
        if not self.one_day and first[:5] == last[:5]:
            last = last[6:]
        return f"{first}–{last}"

    def when(self, change: ChangeView) -> datetime:
        return _when(change.at) or self.at

    def moment(self) -> str:
        return format_local(self.at, self.options.tz)

    def name(self, key: ResourceKey) -> str:
        """``namespace/Kind/name`` (``cluster:`` first when there are several clusters)."""
        text = key.display()
        return f"{key.cluster}:{text}" if self.multi_cluster else text

    def timeline(self) -> tuple[list[Event], str | None]:
        """The timeline rows within the limit, and a sentence on what was left out."""
        kept, note = trim(
            list(self.events),
            self.limits.timeline,
            self.at,
            when=lambda e: e.at,
            minor=lambda e: e.kind == "change" and e.item.status_only,
        )
        return kept, (note + " (every change is in the JSON snapshot)") if note else None


def trim(
    items: list[T],
    limit: int,
    at: datetime,
    *,
    when: Callable[[T], datetime],
    minor: Callable[[T], bool],
) -> tuple[list[T], str | None]:
    """At most ``limit`` items in their order: minor ones (status only) go first, then the
    ones farthest from ``at``. Returns them and a sentence on what was left out, if any."""
    if len(items) <= limit:
        return items, None
    notes = []
    kept = [item for item in items if not minor(item)]
    if len(kept) < len(items):
        notes.append(plural(len(items) - len(kept), "status-only change"))
    if len(kept) > limit:
        nearest = sorted(range(len(kept)), key=lambda i: (abs(when(kept[i]) - at), i))[:limit]
        first, last = min(nearest), max(nearest)
        if first:
            notes.append(plural(first, "earlier row"))
        if len(kept) - 1 - last:
            notes.append(plural(len(kept) - 1 - last, "later row"))
        kept = kept[first : last + 1]
    return kept, "left out: " + ", ".join(notes)


def _when(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return parse_rfc3339(text)
    except ValueError:
        return None


def _setters(
    resource: ResourceView, changes: tuple[ChangeView, ...], at: datetime
) -> tuple[ChangeView | None, ...]:
    """Per differing field, the latest change at or before ``at`` that touched it."""
    candidates = [c for c in changes if (_when(c.at) or at) <= at]
    last = resource.last_change
    if last is not None and all(last.at != c.at for c in candidates):
        candidates.insert(0, last)
    out: list[ChangeView | None] = []
    for entry in resource.diff:
        path = str(entry.get("path", ""))
        found = None
        for change in reversed(candidates):
            if change.type == "created" or any(_related(path, f.path) for f in change.fields):
                found = change
                break
        out.append(found)
    return tuple(out)


_GITHUB_RUN = re.compile(r"^(https://github\.com/[^/\s]+/[^/\s]+)/actions/runs/")
_GITLAB_RUN = re.compile(r"^(https://[^/\s]+/[^\s]+?)/-/pipelines/")
_REPO_URL = re.compile(r"^(https?://[^\s]+?)(?:\.git)?/?$")


def _commit_urls(snapshot: Snapshot) -> dict[str, str]:
    """Web links for commits: from a pipeline run of the same commit, or an http(s) repo."""
    urls: dict[str, str] = {}
    runs = list(snapshot.pipeline_runs)
    runs += [c.pipeline_run for c in snapshot.changes if c.pipeline_run is not None]
    for run in runs:
        if not run.commit or run.commit in urls or not safe_url(run.url):
            continue
        github = _GITHUB_RUN.match(run.url or "")
        gitlab = _GITLAB_RUN.match(run.url or "")
        if github:
            urls[run.commit] = f"{github.group(1)}/commit/{run.commit}"
        elif gitlab:
            urls[run.commit] = f"{gitlab.group(1)}/-/commit/{run.commit}"
    web = [r for r in snapshot.repos if safe_url(r.path)]
    if len(web) == 1:
        match = _REPO_URL.match(web[0].path)
        base = match.group(1) if match else web[0].path
        shas = [c.sha for c in snapshot.commits] + [r.commit for r in snapshot.repos if r.commit]
        for sha in shas:
            urls.setdefault(sha, f"{base}/commit/{sha}")
    return {sha: url for sha, url in urls.items() if safe_url(url)}


def _sort_key(key: ResourceKey) -> tuple[str, str, str, str]:
    return (key.namespace, key.kind, key.name, key.cluster)


def build_report(snapshot: Snapshot, options: ExportOptions) -> Report:
    """Count, select and order what the reports show. Linear in the snapshot's size."""
    at = parse_rfc3339(snapshot.at)
    by_key: dict[ResourceKey, list[ChangeView]] = {}
    api_versions: dict[ResourceKey, str] = {}
    causes = dict.fromkeys(CAUSES, 0)
    for change in snapshot.changes:
        by_key.setdefault(change.key, []).append(change)
        api_versions.setdefault(change.key, change.api_version)
        causes[change.cause] = causes.get(change.cause, 0) + 1
    affected: list[Affected] = []
    counted_only = dict.fromkeys(("in_sync", "drifted", "missing", "unmanaged"), 0)
    seen: set[ResourceKey] = set()
    for resource in snapshot.resources:
        seen.add(resource.key)
        changes = tuple(by_key.get(resource.key, ()))
        if not _wanted(resource.state, bool(changes), options.only):
            counted_only[resource.state] = counted_only.get(resource.state, 0) + 1
            continue
        affected.append(
            Affected(
                resource.key,
                resource.api_version,
                resource,
                changes,
                _setters(resource, changes, at),
            )
        )
    if options.only != "drifted":
        # Changed in the window, yet neither live nor declared at the moment (came or went).
        for key, key_changes in by_key.items():
            if key not in seen:
                affected.append(Affected(key, api_versions[key], None, tuple(key_changes), ()))
    affected.sort(key=lambda a: (a.rank(), _sort_key(a.key)))
    selected = {a.key for a in affected}
    events: list[Event] = []
    gaps = tuple(e for e in snapshot.errors if e.get("kind") == "gap")
    for gap in gaps:
        events.append(Event(_when(gap.get("from")) or at, "gap", gap))
    for commit in snapshot.commits:
        events.append(Event(_when(commit.at) or at, "commit", commit))
    for run in snapshot.pipeline_runs:
        when = _when(run.started_at) or _when(run.finished_at)
        if when is not None:
            events.append(Event(when, "run", run))
    for change in snapshot.changes:
        if change.key in selected:
            events.append(Event(_when(change.at) or at, "change", change))
    events.append(Event(at, "moment", None))
    order = {id(e): i for i, e in enumerate(events)}
    events.sort(key=lambda e: (e.at, _EVENT_ORDER[e.kind], order[id(e)]))
    return Report(
        snapshot=snapshot,
        options=options,
        at=at,
        start=parse_rfc3339(snapshot.window_from),
        end=parse_rfc3339(snapshot.window_to),
        counts=count_states(snapshot.resources),
        causes=causes,
        status_only=sum(1 for c in snapshot.changes if c.status_only),
        inferred=sum(1 for c in snapshot.changes if c.inferred),
        changed_resources=len(by_key),
        affected=tuple(affected),
        counted_only=counted_only,
        events=tuple(events),
        gaps=gaps,
        problems=tuple(e for e in snapshot.errors if e.get("kind") != "gap"),
        commit_urls=_commit_urls(snapshot),
        multi_cluster=len({r.key.cluster for r in snapshot.resources}) > 1,
        late=sum(1 for c in snapshot.changes if c.happened_between is not None),
    )
