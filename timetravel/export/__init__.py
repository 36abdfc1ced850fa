"""Writers that turn a snapshot into files people read and share.

:func:`write_export` is the entry point for every format. The Markdown and HTML reports read
one :class:`Report` built here (what is affected, who last set each drifted field, the
timeline, what was left out), so both say the same thing; the bundle holds both, the JSON,
and YAML and diffs per resource.

Everything here is a pure function of the snapshot and the options: same input, same bytes.
Nothing from the cluster or git is trusted as markup: the writers escape it, and link only
``http(s)`` URLs. :func:`guard_secrets` runs first, so that a Secret value that reached the
snapshot by a bug upstream is still withheld from every format.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import json
import math
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any, TypeVar

from timetravel.domain import paths
from timetravel.domain.model import ResourceKey
from timetravel.domain.snapshot import (
    ChangeView,
    FieldChange,
    PipelineRunView,
    ResourceView,
    Snapshot,
    count_states,
)
from timetravel.domain.timeparse import format_local
from timetravel.domain.times import parse_rfc3339
from timetravel.errors import UserError

__all__ = [
    "FORMATS",
    "ONLY",
    "Affected",
    "Event",
    "ExportOptions",
    "Limits",
    "Report",
    "build_report",
    "drift_texts",
    "guard_secrets",
    "narrow",
    "to_yaml",
    "write_bundle_dir",
    "write_export",
]

T = TypeVar("T")

FORMATS = ("json", "markdown", "html", "bundle")
ONLY = ("drifted", "changed")
CAUSES = ("pipeline", "gitops", "manual", "controller", "unknown")
STATE_WORDS = {
    "in_sync": "in sync",
    "drifted": "drifted",
    "missing": "missing",
    "unmanaged": "unmanaged",
    "gone": "not live",
}
REDACTED = "redacted:"
WITHHELD = "redacted:withheld"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
FAILED_STATUSES = frozenset({"failed", "failure", "error", "errored", "cancelled", "canceled"})


@dataclass(frozen=True)
class Limits:
    """How much the reports show before they summarize (and say what they left out)."""

    resources: int = 50  # affected resources with a section of their own
    resource_rows: int = 500  # rows of the affected-resources table
    diff_rows: int = 50  # differing fields shown per resource
    changes: int = 30  # changes shown per resource
    timeline: int = 200  # rows of the timeline table
    value_chars: int = 120  # characters of one value shown inline
    lanes: int = 16  # resource lanes in the drawn timeline (HTML)
    context_lines: int = 240  # lines of the side-by-side manifest diff (HTML)


@dataclass(frozen=True)
class ExportOptions:
    only: str | None = None  # None (every affected resource) | "drifted" | "changed"
    tz: tzinfo = UTC  # zone of the times people read; the JSON stays UTC
    namespaces: tuple[str, ...] = ()  # as asked (shown in the reports)
    limits: Limits = Limits()


def write_export(
    snapshot: Snapshot,
    fmt: str,
    *,
    only: str | None = None,
    tz: tzinfo | None = None,
    namespaces: Iterable[str] = (),
    limits: Limits | None = None,
) -> bytes:
    """The bytes of ``snapshot`` in format ``fmt`` (json, markdown, html, bundle = .tar.gz)."""
    options = _options(only, tz, namespaces, limits)
    snapshot = guard_secrets(snapshot)
    if fmt == "json":
        from timetravel.export.json_export import render_json

        return render_json(narrow(snapshot, options.only))
    if fmt == "markdown":
        from timetravel.export.markdown import render_markdown

        return render_markdown(snapshot, options)
    if fmt == "html":
        from timetravel.export.html import render_html

        return render_html(snapshot, options)
    if fmt == "bundle":
        from timetravel.export.bundle import render_bundle

        return render_bundle(snapshot, options)
    raise UserError(f"--format {fmt}: unknown format (use one of {', '.join(FORMATS)})")


def write_bundle_dir(
    snapshot: Snapshot,
    directory: Path,
    *,
    only: str | None = None,
    tz: tzinfo | None = None,
    namespaces: Iterable[str] = (),
    limits: Limits | None = None,
) -> int:
    """Write the bundle's files into ``directory`` (new or empty); returns how many."""
    from timetravel.export.bundle import write_bundle_directory

    options = _options(only, tz, namespaces, limits)
    return write_bundle_directory(guard_secrets(snapshot), directory, options)


def _options(
    only: str | None, tz: tzinfo | None, namespaces: Iterable[str], limits: Limits | None
) -> ExportOptions:
    if only is not None and only not in ONLY:
        raise UserError(f"--only {only}: use one of {', '.join(ONLY)}")
    return ExportOptions(
        only=only, tz=tz or UTC, namespaces=tuple(namespaces), limits=limits or Limits()
    )


# --- Secrets: withheld again at the last step ------------------------------------------------


def _is_redacted(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(REDACTED)


def _safe_values(value: Any) -> Any:
    """A Secret's ``data``/``stringData`` with every value a ``redacted:`` hash."""
    if isinstance(value, dict):
        return {k: v if v is None or _is_redacted(v) else WITHHELD for k, v in value.items()}
    return value if value is None or _is_redacted(value) else WITHHELD


def _last_applied_is_safe(text: Any) -> bool:
    if _is_redacted(text):
        return True
    try:
        applied = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return False
    if not isinstance(applied, dict):
        return False
    return all(_safe_values(applied.get(f)) == applied.get(f) for f in ("data", "stringData"))


def _safe_secret(obj: Any) -> Any:
    """A Secret object (or a part of one rooted at the object) with no value left in it."""
    if not isinstance(obj, dict):
        return obj
    out = dict(obj)
    for name in ("data", "stringData"):
        if name in out:
            out[name] = _safe_values(out[name])
    meta = out.get("metadata")
    if isinstance(meta, dict) and isinstance(meta.get("annotations"), dict):
        annotations = meta["annotations"]
        if LAST_APPLIED in annotations and not _last_applied_is_safe(annotations[LAST_APPLIED]):
            out["metadata"] = {**meta, "annotations": {**annotations, LAST_APPLIED: WITHHELD}}
    return out


def _safe_field(path: str, value: Any) -> Any:
    """The value at ``path`` of a Secret, withheld when it is (or holds) a Secret value."""
    if value is None:
        return None
    try:
        segments = paths.parse(path)
    except ValueError:
        return WITHHELD
    if not all(isinstance(s, str) for s in segments):
        return value  # a list item: neither data, stringData nor an annotation
    wrapped: Any = value
    for segment in reversed(segments):
        wrapped = {segment: wrapped}
    guarded = _safe_secret(wrapped)
    for segment in segments:
        guarded = guarded[segment]
    return guarded


def _is_secret(key: ResourceKey) -> bool:
    return key.kind == "Secret" and key.group == ""


def _safe_change(change: ChangeView) -> ChangeView:
    fields = tuple(
        FieldChange(f.path, _safe_field(f.path, f.before), _safe_field(f.path, f.after))
        for f in change.fields
    )
    return dataclasses.replace(change, fields=fields)


def guard_secrets(snapshot: Snapshot) -> Snapshot:
    """``snapshot`` with every Secret value (and copy) that is not a ``redacted:`` hash withheld.

    The store already redacts; this is the exporters' own check, so a bug upstream cannot
    put a password into a file someone attaches to a ticket. Only Secrets are touched.
    """
    resources = []
    for resource in snapshot.resources:
        if _is_secret(resource.key):
            resource = dataclasses.replace(
                resource,
                desired=_safe_secret(resource.desired),
                actual=_safe_secret(resource.actual),
                diff=tuple(
                    {
                        **d,
                        "desired": _safe_field(d["path"], d.get("desired")),
                        "actual": _safe_field(d["path"], d.get("actual")),
                    }
                    for d in resource.diff
                ),
                last_change=_safe_change(resource.last_change) if resource.last_change else None,
            )
        resources.append(resource)
    changes = tuple(_safe_change(c) if _is_secret(c.key) else c for c in snapshot.changes)
    return dataclasses.replace(snapshot, resources=tuple(resources), changes=changes)


# --- What is affected ------------------------------------------------------------------------


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
    item: Any  # dict (gap) | CommitView | PipelineRunView | ChangeView | None (moment)


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
SAFE_URL = re.compile(r"^https?://[^\s<>()\[\]{}\"'`\\|^]+$")


def safe_url(url: Any) -> str | None:
    """``url`` when it is a plain http(s) URL that is safe to link, else None."""
    if isinstance(url, str) and len(url) <= 2048 and SAFE_URL.match(url):
        return url
    return None


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
    )


# --- Small shared wording --------------------------------------------------------------------


def run_label(run: PipelineRunView) -> str:
    """``deploy-payments #5121``; a long id that is not a number (Argo CD's are the sync's
    start time, shown beside it anyway) is left to the JSON."""
    run_id = run.run_id
    if run_id.isdigit():
        return f"{run.pipeline} #{run_id}"
    return f"{run.pipeline} {run_id}" if len(run_id) <= 16 else run.pipeline


def run_failed(run: PipelineRunView) -> bool:
    return (run.status or "").lower() in FAILED_STATUSES


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


def first_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[0] if (text or "").strip() else ""


def actor_text(change: ChangeView) -> str:
    """The actor, with the field manager when it adds something (``alice (kubectl-edit)``)."""
    actor = change.actor or ""
    managers = [m for m in change.field_managers if m and m != actor]
    if actor and managers:
        return f"{actor} ({', '.join(managers)})"
    return actor or ", ".join(managers)


_AMBIGUOUS = re.compile(
    r"^(?:[-+]?(?:[0-9][0-9_.,:eE+-]*|\.[0-9]+|\.inf|\.nan)|true|false|null|yes|no|on|off|y|n|~)$",
    re.IGNORECASE,
)


def short_value(value: Any, limit: int) -> str:
    """A value on one line: strings bare (quoted when they would read as something else),
    other values as compact JSON, Secret hashes shortened, long text cut with ``…``."""
    if isinstance(value, str):
        if value.startswith(REDACTED):
            return value[: len(REDACTED) + 12] + ("…" if len(value) > len(REDACTED) + 12 else "")
        text = (
            json.dumps(value, ensure_ascii=False)
            if _AMBIGUOUS.match(value) or (value != value.strip() or not value)
            else value
        )
    elif isinstance(value, bool) or value is None:
        text = json.dumps(value)
    elif isinstance(value, int | float):
        text = (
            json.dumps(value)
            if not isinstance(value, float) or math.isfinite(value)
            else str(value)
        )
    else:
        text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "), default=str)
    text = text.replace("\r\n", "⏎").replace("\n", "⏎").replace("\r", "⏎")
    if len(text) > limit:
        text = text[: max(limit - 1, 1)] + "…"
    return text


def _dig(obj: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def running(obj: dict[str, Any] | None) -> tuple[list[tuple[str, str]], Any, Any]:
    """What a workload ran: (container, image) pairs, desired replicas, ready replicas."""
    kind = _dig(obj, "kind")
    if kind == "Pod":
        pod = _dig(obj, "spec")
    elif kind == "CronJob":
        pod = _dig(obj, "spec", "jobTemplate", "spec", "template", "spec")
    else:
        pod = _dig(obj, "spec", "template", "spec")
    images: list[tuple[str, str]] = []
    for group in ("initContainers", "containers"):
        containers = _dig(pod, group)
        for container in containers if isinstance(containers, list) else []:
            if isinstance(container, dict) and container.get("image"):
                images.append((str(container.get("name") or "?"), str(container["image"])))
    replicas = ready = None
    if kind in ("Deployment", "StatefulSet", "ReplicaSet"):
        replicas = _dig(obj, "spec", "replicas")
        ready = _dig(obj, "status", "readyReplicas") or 0
    elif kind == "DaemonSet":
        replicas = _dig(obj, "status", "desiredNumberScheduled")
        ready = _dig(obj, "status", "numberReady")
    return images, replicas, ready


# --- YAML, written here: fast, deterministic, and the same with or without libyaml -----------

_PLAIN = re.compile(r"[A-Za-z_/][A-Za-z0-9_./@%+=,-]*(?::[A-Za-z0-9_./@%+=,-]+)*")
_RESERVED = frozenset({"yes", "no", "true", "false", "on", "off", "y", "n", "null", "~"})


_YAML_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _yaml_quoted(text: str) -> str:
    """A YAML double-quoted scalar: printable characters as they are, the rest escaped."""
    out = ['"']
    for ch in text:
        if ch in _YAML_ESCAPES:
            out.append(_YAML_ESCAPES[ch])
        elif ch.isprintable():
            out.append(ch)
        else:
            point = ord(ch)
            if point < 0x100:
                out.append(f"\\x{point:02x}")
            elif point < 0x10000:
                out.append(f"\\u{point:04x}")
            else:
                out.append(f"\\U{point:08x}")
    out.append('"')
    return "".join(out)


def _yaml_string(text: str, indent: int) -> str:
    if _PLAIN.fullmatch(text) and text.lower() not in _RESERVED:
        return text
    if "\n" in text and "\r" not in text:
        lines = text.split("\n")
        body = lines[:-1] if text.endswith("\n") else lines
        while text.endswith("\n") and body and body[-1] == "" and len(body) > 1:
            body = body[:-1]
        first = next((line for line in body if line), "")
        printable = all(line.isprintable() for line in body)
        blank_with_spaces = any(line and not line.strip(" ") for line in body)
        if printable and first and not first.startswith(" ") and not blank_with_spaces:
            trailing = len(text) - len(text.rstrip("\n"))
            chomp = "-" if trailing == 0 else ("" if trailing == 1 else "+")
            pad = " " * indent
            content = [pad + line if line else "" for line in text.rstrip("\n").split("\n")]
            content += [""] * (trailing - 1 if trailing > 1 else 0)
            return f"|{chomp}\n" + "\n".join(content)
    return _yaml_quoted(text)


def _yaml_scalar(value: Any, indent: int) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        text = repr(value)
        if "e" in text and "." not in text.split("e")[0]:
            mantissa, exponent = text.split("e")
            text = f"{mantissa}.0e{exponent}"
        return text
    if isinstance(value, str):
        return _yaml_string(value, indent)
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return _yaml_string(str(value), indent)


_KEYS: dict[str, str] = {}  # map keys repeat across objects (metadata, name, image...)


def _yaml_key(key: Any) -> str:
    if type(key) is not str:
        return _yaml_scalar(key, 0)
    text = _KEYS.get(key)
    if text is None:
        plain = _PLAIN.fullmatch(key) and key.lower() not in _RESERVED
        text = key if plain else _yaml_quoted(key)
        if len(_KEYS) > 50_000:
            _KEYS.clear()
        _KEYS[key] = text
    return text


def _yaml_map(value: dict[Any, Any], indent: int, out: list[str]) -> None:
    pad = " " * indent
    for key, item in value.items():
        name = _yaml_key(key)
        if isinstance(item, dict) and item:
            out.append(f"{pad}{name}:")
            _yaml_map(item, indent + 2, out)
        elif isinstance(item, list) and item:
            out.append(f"{pad}{name}:")
            _yaml_list(item, indent, out)
        else:
            out.append(f"{pad}{name}: {_yaml_scalar(item, indent + 2)}")


def _yaml_list(items: list[Any], indent: int, out: list[str]) -> None:
    pad = " " * indent
    for item in items:
        if isinstance(item, dict | list) and item:
            sub: list[str] = []
            if isinstance(item, dict):
                _yaml_map(item, indent + 2, sub)
            else:
                _yaml_list(item, indent + 2, sub)
            sub[0] = pad + "- " + sub[0][indent + 2 :]
            out.extend(sub)
        else:
            out.append(f"{pad}- {_yaml_scalar(item, indent + 2)}")


def to_yaml(value: Any) -> str:
    """``value`` (JSON-like data) as block YAML that ``yaml.safe_load`` reads back equal.

    Plain scalars only where no YAML 1.1 reader could take them for anything but a string;
    multi-line text as literal blocks; everything else JSON-quoted (valid YAML).
    """
    out: list[str] = []
    if isinstance(value, dict) and value:
        _yaml_map(value, 0, out)
    elif isinstance(value, list) and value:
        _yaml_list(value, 0, out)
    else:
        out.append(_yaml_scalar(value, 2))
    return "\n".join(out) + "\n"


# --- Drift placed in the manifest, for unified and side-by-side diffs ------------------------


def _set(obj: Any, path: str, value: Any) -> bool:
    """Set (or, for None, remove) ``path`` in ``obj``; False when the path does not fit."""
    try:
        segments = paths.parse(path)
    except ValueError:
        return False
    if not segments:
        return False
    current = obj
    for i, segment in enumerate(segments):
        last = i == len(segments) - 1
        if isinstance(segment, str):
            if not isinstance(current, dict):
                return False
            if last:
                if value is None:
                    current.pop(segment, None)
                else:
                    current[segment] = copy.deepcopy(value)
                return True
            if current.get(segment) is None:
                if value is None:
                    return True
                current[segment] = {} if isinstance(segments[i + 1], str) else []
            current = current[segment]
            continue
        if not isinstance(current, list):
            return False
        position = paths.find_item(current, segment)
        if position is None:
            if value is None:
                return True
            if isinstance(segment, int) and segment == len(current):
                current.append({} if not last and isinstance(segments[i + 1], str) else None)
            elif isinstance(segment, paths.Named):
                current.append({"name": segment.name})
            elif isinstance(segment, paths.Keyed):
                current.append(dict(segment.fields))
            elif isinstance(segment, paths.SetValue) and last:
                current.append(copy.deepcopy(value))
                return True
            else:
                return False
            position = len(current) - 1
        if last:
            if value is None:
                del current[position]
            else:
                current[position] = copy.deepcopy(value)
            return True
        current = current[position]
    return True


def drift_texts(resource: ResourceView) -> tuple[str, str, bool] | None:
    """(desired YAML, the other side's YAML, whether the other side is the drift placed in
    the manifest) for a drifted or missing resource; None when there is nothing to compare.

    The other side is the desired manifest with each differing field set to its live value,
    so the diff shows the drift and nothing else (server defaults and status are not drift).
    When a path cannot be placed, it falls back to the whole live object.
    """
    if resource.desired is None or resource.state not in ("drifted", "missing"):
        return None
    desired = to_yaml(resource.desired)
    if resource.actual is None:
        return desired, "", False
    placed = copy.deepcopy(resource.desired)
    sets = [d for d in resource.diff if d.get("actual") is not None]
    removals = [d for d in resource.diff if d.get("actual") is None]
    ok = all(_set(placed, str(d["path"]), d["actual"]) for d in sets)
    ok = ok and all(_set(placed, str(d["path"]), None) for d in reversed(removals))
    if not ok:
        return desired, to_yaml(resource.actual), False
    return desired, to_yaml(placed), True


def unified_diff(desired: str, other: str, from_name: str, to_name: str) -> Iterator[str]:
    return difflib.unified_diff(
        desired.splitlines(), other.splitlines(), from_name, to_name, lineterm="", n=3
    )
