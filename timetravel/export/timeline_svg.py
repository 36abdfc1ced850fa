"""The report's window drawn as inline SVG: a lane for commits, one per pipeline, and one per
changed resource, with recording gaps hatched and the snapshot moment marked.

The marks are styled by classes that ``report.css`` defines (light, dark and print alike), so
the drawing holds no colours of its own. Every label and tooltip is escaped, its control and
bidi characters made visible as in the rest of the page.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime, timedelta
from typing import Any

from timetravel.domain.ci_env import PipelineRun
from timetravel.domain.printable import printable
from timetravel.domain.snapshot import ChangeView
from timetravel.domain.times import parse_rfc3339
from timetravel.export.report import Report
from timetravel.export.wording import CAUSES, actor_text, first_line, run_failed, run_label

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def draw_timeline(report: Report, caption: str = "") -> str:
    """The window as one ``<figure>`` holding an ``<svg>`` (and ``caption``, markup, after
    it: a page break never falls between the drawing and its legend), on one line."""
    return _Drawing(report).svg(caption)


def legend() -> str:
    """What the drawing's marks mean, as a ``<p class="legend">`` to put under it."""
    return (
        '<p class="legend">'
        + "".join(f'<span><i class="sw {c}"></i>{_esc(c)}</span>' for c in CAUSES)
        + '<span><i class="sw status"></i>status only</span>'
        + '<span><i class="sw commit"></i>commit</span>'
        + '<span><i class="sw run"></i>pipeline run (red: failed)</span>'
        + '<span><i class="sw gap"></i>recording gap</span>'
        + "</p>"
    )


def _esc(value: Any) -> str:
    return html.escape(printable(str(value), block=True), quote=True)


class _Drawing:
    """The window as an SVG: lanes for commits, each pipeline and each affected resource."""

    WIDTH = 1000
    LABEL = 210
    RIGHT = 30
    TOP = 44
    LANE = 24

    def __init__(self, report: Report) -> None:
        self.r = report
        self.span = max((report.end - report.start).total_seconds(), 1.0)

    def x(self, when: datetime) -> float:
        seconds = (when - self.r.start).total_seconds()
        seconds = min(max(seconds, 0.0), self.span)
        return self.LABEL + seconds / self.span * (self.WIDTH - self.LABEL - self.RIGHT)

    def lanes(self) -> tuple[list[tuple[str, str, list[Any]]], int]:
        """(label, kind, items) per lane, and how many resource lanes were left out."""
        r, s = self.r, self.r.snapshot
        lanes: list[tuple[str, str, list[Any]]] = []
        if s.commits:
            lanes.append(("commits", "commit", list(s.commits)))
        pipelines: dict[tuple[str, str], list[PipelineRun]] = {}
        for run in s.pipeline_runs:
            pipelines.setdefault((run.provider, run.pipeline), []).append(run)
        for (provider, pipeline), runs in pipelines.items():
            lanes.append((f"{provider} {pipeline}", "run", list(runs)))
        changed = [a for a in r.affected if a.changes]
        for a in changed[: r.limits.lanes]:
            lanes.append((r.name(a.key), "change", list(a.changes)))
        return lanes, max(len(changed) - r.limits.lanes, 0)

    def ticks(self) -> list[tuple[datetime, str]]:
        r = self.r
        tz = r.options.tz
        steps = (60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)
        step = next((s for s in steps if self.span / s <= 10), 86400 * 7)
        local = r.start.astimezone(tz)
        base = local.replace(hour=0, minute=0, second=0, microsecond=0)
        offset = (local.replace(tzinfo=None) - base.replace(tzinfo=None)).total_seconds()
        k = int(-(-offset // step))
        out: list[tuple[datetime, str]] = []
        while len(out) < 40:
            naive = base.replace(tzinfo=None) + timedelta(seconds=k * step)
            when = naive.replace(tzinfo=tz).astimezone(UTC)
            if when > r.end:
                break
            if when >= r.start:
                if step >= 86400:
                    label = f"{_DAYS[naive.weekday()]} {naive.month:02d}-{naive.day:02d}"
                elif r.one_day:
                    label = f"{naive.hour:02d}:{naive.minute:02d}"
                else:
                    label = f"{_DAYS[naive.weekday()]} {naive.hour:02d}:{naive.minute:02d}"
                out.append((when, label))
            k += 1
        return out

    def svg(self, caption: str = "") -> str:
        r = self.r
        lanes, left_out = self.lanes()
        bottom = self.TOP + max(len(lanes), 1) * self.LANE
        height = bottom + (22 if left_out else 8)
        w = self.WIDTH
        out = [
            f'<figure><svg class="timeline" viewBox="0 0 {w} {height}" role="img" '
            f'aria-label="Timeline from {_esc(r.clock(r.start))} to {_esc(r.clock(r.end))}" '
            'xmlns="http://www.w3.org/2000/svg">',
            '<defs><pattern id="tt-hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
            'patternTransform="rotate(45)"><line class="hatch" x1="0" y1="0" x2="0" y2="6"/>'
            "</pattern></defs>",
        ]
        for i in range(len(lanes)):
            if i % 2 == 0:
                top = self.TOP + i * self.LANE
                out.append(f'<rect class="band" x="0" y="{top}" width="{w}" height="{self.LANE}"/>')
        for when, label in self.ticks():
            x = self.x(when)
            out.append(
                f'<line class="grid" x1="{x:.1f}" y1="20" x2="{x:.1f}" y2="{bottom}"/>'
                f'<text class="tick" x="{x:.1f}" y="14" text-anchor="middle">{_esc(label)}</text>'
            )
        for gap in r.gaps:
            start = _parse(gap.get("from")) or r.start
            end = _parse(gap.get("to")) or r.end
            x1, x2 = self.x(start), self.x(end)
            out.append(
                f'<rect class="gap" x="{x1:.1f}" y="20" width="{max(x2 - x1, 2):.1f}" '
                f'height="{bottom - 20}"><title>recording gap {_esc(r.clock(start))}–'
                f"{_esc(r.clock(end))}: {_esc(gap.get('reason', ''))}</title></rect>"
            )
        for i, (label, kind, items) in enumerate(lanes):
            y = self.TOP + i * self.LANE + self.LANE / 2
            short = label if len(label) <= 32 else label[:31] + "…"
            out.append(
                f'<text x="8" y="{y + 4:.1f}"><title>{_esc(label)}</title>{_esc(short)}</text>'
            )
            for item in items:
                out.append(self.mark(kind, item, y))
        x = self.x(r.at)
        out.append(
            f'<line class="moment" x1="{x:.1f}" y1="20" x2="{x:.1f}" y2="{bottom}"/>'
            f'<text class="now" x="{x:.1f}" y="32" text-anchor="middle">'
            f"{_esc(r.clock(r.at))}</text>"
        )
        if left_out:
            out.append(
                f'<text class="tick" x="8" y="{bottom + 15}">{left_out:,} more changed resources '
                "are not drawn (see the table)</text>"
            )
        out.append(f"</svg>{caption}</figure>")
        return "".join(out)

    def mark(self, kind: str, item: Any, y: float) -> str:
        r = self.r
        if kind == "commit":
            x = self.x(_parse(item.at) or r.at)
            title = f"{r.clock(item.at)} commit {item.sha[:7]} {first_line(item.message)}"
            return (
                f'<polygon class="commit" points="{x:.1f},{y - 6:.1f} {x + 6:.1f},{y:.1f} '
                f'{x:.1f},{y + 6:.1f} {x - 6:.1f},{y:.1f}"><title>{_esc(title)}</title></polygon>'
            )
        if kind == "run":
            run: PipelineRun = item
            start = _parse(run.started_at) or _parse(run.finished_at) or r.at
            end = _parse(run.finished_at) or r.end
            x1, x2 = self.x(start), self.x(end)
            status = (run.status or "").lower()
            cls = (
                "run-fail"
                if run_failed(run)
                else (
                    "run-ok" if status in ("success", "succeeded", "passed", "ok") else "run-other"
                )
            )
            title = (
                f"{run.provider} {run_label(run)}: {run.status or 'unknown'}, "
                f"{r.span(run.started_at, run.finished_at)}"
            )
            return (
                f'<rect class="{cls}" x="{x1:.1f}" y="{y - 5:.1f}" width="{max(x2 - x1, 4):.1f}" '
                f'height="10" rx="2"><title>{_esc(title)}</title></rect>'
            )
        change: ChangeView = item
        x = self.x(_parse(change.at) or r.at)
        cause = change.cause if change.cause in CAUSES else "unknown"
        classes = [f"c-{cause}"]
        if change.status_only:
            classes.append("status")
        fields = ", ".join(f.path for f in change.fields[:4])
        if len(change.fields) > 4:
            fields += f", +{len(change.fields) - 4} more"
        title = (
            f"{r.clock(change.at)} {change.type}{' (status)' if change.status_only else ''} "
            f"by {actor_text(change) or 'unknown'} ({change.cause})"
            + (f": {fields}" if fields else "")
        )
        circle = (
            f'<circle class="{" ".join(classes)}" cx="{x:.1f}" cy="{y:.1f}" r="5">'
            f"<title>{_esc(title)}</title></circle>"
        )
        if not change.inferred:
            return circle
        # Found by the relist after a gap: it happened at some time since the gap began.
        found = _parse(change.at) or r.at
        starts = []
        for gap in r.gaps:
            began = _parse(gap.get("from"))
            if (
                began is not None
                and began <= found
                and gap.get("cluster") in (None, change.key.cluster)
            ):
                starts.append(began)
        since = self.x(max(starts)) if starts else x - 12
        return (
            f'<line class="c-{cause} inferred" x1="{since:.1f}" y1="{y:.1f}" x2="{x:.1f}" '
            f'y2="{y:.1f}"><title>{_esc(title)} (happened during the gap)</title></line>' + circle
        )


def _parse(value: Any) -> datetime | None:
    """An RFC 3339 time, or None when it is absent or unreadable (the caller picks a stand-in)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return parse_rfc3339(value)
    except ValueError:
        return None
