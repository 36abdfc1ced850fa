"""The incident report as one self-contained HTML file.

The same content as the Markdown report, plus a drawn timeline of the window (inline SVG,
``timeline_svg.py``) and side-by-side diffs. No script, no network, no external asset: the
stylesheet (``report.css``) is inline, reads in light and dark (``prefers-color-scheme``) and
prints (``@media print``); its Content-Security-Policy lets the page load nothing at all.
Every text from the cluster or git goes through :func:`esc`
(control and bidi characters as escapes, then :func:`html.escape`); only http(s) URLs become
links.
"""

from __future__ import annotations

import difflib
import functools
import html
from collections.abc import Iterable
from importlib.resources import files
from typing import Any

from timetravel.domain.model import ResourceKey
from timetravel.domain.printable import printable
from timetravel.domain.snapshot import ChangeView, Snapshot
from timetravel.domain.yaml_writer import to_yaml
from timetravel.export.manifest_diff import drift_texts
from timetravel.export.options import ExportOptions
from timetravel.export.report import Affected, Report, build_report
from timetravel.export.sections import Sections
from timetravel.export.timeline_svg import draw_timeline, legend
from timetravel.export.wording import CAUSES, safe_url, short_value


@functools.cache
def stylesheet() -> str:
    """The report's stylesheet (``report.css``, package data), read once."""
    return files("timetravel.export").joinpath("report.css").read_text(encoding="utf-8")


def esc(value: Any) -> str:
    """Text as HTML: control and bidi characters as escapes (``\\x1b``), ``<>&"'`` as
    entities; tab and newline kept (they lay out ``<pre>`` blocks)."""
    return html.escape(printable(str(value), block=True), quote=True)


def link(label_html: str, url: str | None) -> str:
    safe = safe_url(url)
    if not safe:
        return label_html
    return f'<a href="{esc(safe)}" rel="noopener noreferrer">{label_html}</a>'


def code(value: Any) -> str:
    return f"<code>{esc(value)}</code>"


def _class(style: str) -> str:
    """The ``class`` attribute for ``style`` (a class of the stylesheet), if any."""
    return f' class="{style}"' if style else ""


def render_html(snapshot: Snapshot, options: ExportOptions | None = None) -> bytes:
    report = build_report(snapshot, options or ExportOptions())
    return _Html(report).render().encode("utf-8", "backslashreplace")


class _Html(Sections):
    """The sections as one HTML page: ids to link to, classes that report.css styles."""

    absent = "<em>absent</em>"
    field_separator = "<br>"
    inferred_mark = ' <abbr title="found by a relist after a recording gap">(inferred)</abbr>'

    def __init__(self, report: Report) -> None:
        super().__init__(report)
        self.anchors = {a.key: f"r{i + 1}" for i, a in enumerate(report.affected)}

    def render(self) -> str:
        title = self.headline()
        self.add(
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            '<meta name="generator" content="timetravel">',
            '<meta name="color-scheme" content="light dark">',
            # Nothing to fetch, ever: a report opened from a mail or a ticket loads nothing
            # from anywhere, whatever text reached it.
            '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
            "style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'\">",
            f"<title>{title}</title>",
            f"<style>\n{stylesheet()}</style>",
            "</head>",
            "<body>",
            f"<header><h1>{title}</h1>",
            f'<p class="lede">{self.lede()}</p>',
            "</header>",
            "<main>",
        )
        self.sections()
        self.add("</main>", f"<footer>{self.colophon()}</footer>", "</body>", "</html>")
        return "\n".join(self.out) + "\n"

    # --- markup ------------------------------------------------------------------------------

    def text(self, value: Any) -> str:
        return esc(value)

    def code(self, value: Any) -> str:
        return code(value)

    def link(self, label: str, url: str | None) -> str:
        return link(label, url)

    def internal_link(self, label: str, fragment: str) -> str:
        return f'<a href="#{fragment}">{label}</a>'

    def strong(self, markup: str) -> str:
        return f"<strong>{markup}</strong>"

    def em(self, markup: str) -> str:
        return f"<em>{markup}</em>"

    def mark(self, markup: str, style: str) -> str:
        return f'<span class="{style}">{markup}</span>'

    def ref(self, key: ResourceKey, *, linked: bool = True) -> str:
        """The name breakable only after its slashes, linked to the resource's article."""
        parts = self.r.name(key).split("/")
        name = '<code class="res">' + "/<wbr>".join(esc(p) for p in parts) + "</code>"
        anchor = self.anchors.get(key) if linked else None
        return self.internal_link(name, anchor) if anchor else name

    def cause_label(self, cause: str) -> str:
        name = cause if cause in CAUSES else "unknown"
        return f'<span class="cause cause-{name}">{esc(cause)}</span>'

    def evidence(self, evidence: str) -> str:
        return f'<br><span class="muted">{esc(evidence)}</span>'

    def failed(self, status: str) -> str:
        return f'<span class="fail">{status}</span>'

    # --- layout ------------------------------------------------------------------------------

    def open_section(self, anchor: str, title: str) -> None:
        self.add(f'<section id="{anchor}"><h2>{title}</h2>')

    def close_section(self) -> None:
        self.add("</section>")

    def paragraph(self, markup: str) -> None:
        self.add(f"<p>{markup}</p>")

    def note(self, markup: str) -> None:
        self.add(f'<p class="note">{markup}</p>')

    def subheading(self, markup: str) -> None:
        self.add(f"<h4>{markup}</h4>")

    def item(self, markup: str, style: str = "") -> str:
        return f"<li{_class(style)}>{markup}</li>"

    def bullets(self, items: Iterable[str]) -> None:
        self.add("<ul>", *items, "</ul>")

    def table(self, head: Iterable[str], rows: Iterable[str], style: str = "") -> None:
        self.add(
            f"<table{_class(style)}><thead><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>"
        )
        self.add("</thead><tbody>", *rows, "</tbody></table>")

    def table_row(self, *cells: str, style: str = "") -> str:
        return f"<tr{_class(style)}>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"

    def moment_row(self, when: str, width: int, what: str = "") -> str:
        if what:
            return self.table_row(
                when, "snapshot moment", *[""] * (width - 3), what, style="moment"
            )
        # nothing to say beside it: the marker spans the row
        return (
            f'<tr class="moment"><td>{when}</td><td colspan="{width - 1}">snapshot moment</td></tr>'
        )

    def diff_row(self, entry: dict[str, Any], setter: ChangeView | None) -> str:
        desired, actual = entry.get("desired"), entry.get("actual")
        return (
            f"<tr><td>{code(entry.get('path', ''))}</td>"
            + self.side(desired, "del")
            + self.side(actual, "add")
            + f"<td>{self.setter(setter)}</td></tr>"
        )

    def side(self, value: Any, style: str) -> str:
        """One side of a field diff as a cell: shaded as removed or added, or absent."""
        if value is None:
            return f'<td class="absent">{self.absent}</td>'
        return f'<td class="{style}">{self.block(value)}</td>'

    def block(self, value: Any) -> str:
        """A table cell's value: scalars on one line, maps and lists as (cut) YAML."""
        limit = self.r.limits.value_chars
        if not isinstance(value, dict | list) or not value:
            return f"<pre>{esc(short_value(value, limit * 2))}</pre>"
        lines = to_yaml(value).splitlines()
        if len(lines) > 12:
            lines = [*lines[:12], f"… {len(lines) - 12} more lines"]
        return "<pre>" + esc("\n".join(line[: limit * 2] for line in lines)) + "</pre>"

    def open_resource(self, a: Affected) -> None:
        bad = " bad" if a.state in ("drifted", "missing") else ""
        badge = f'<span class="badge{bad}">{esc(a.label)}</span>'
        self.add(
            f'<article class="resource" id="{self.anchors[a.key]}">',
            f"<h3>{self.ref(a.key, linked=False)} {badge}</h3>",
        )

    def close_resource(self) -> None:
        self.add("</article>")

    def stresses(self, state: str, n: int) -> bool:
        # The cards above show every count; the sentence stresses drift alone, zero or not.
        return state == "drifted"

    # --- what only this report shows ---------------------------------------------------------

    def at_a_glance(self) -> None:
        r, s = self.r, self.r.snapshot
        cards = [
            ("resources", len(s.resources), False),
            ("in sync", r.counts["in_sync"], False),
            ("drifted", r.counts["drifted"], True),
            ("missing", r.counts["missing"], True),
            ("unmanaged", r.counts["unmanaged"], False),
            ("changes in window", len(s.changes), False),
            ("pipeline runs", len(s.pipeline_runs), False),
        ]
        self.add('<div class="cards">')
        for label, n, bad in cards:
            cls = "card bad" if bad and n else "card"
            self.add(f'<div class="{cls}"><b>{n:,}</b>{esc(label)}</div>')
        self.add("</div>")

    def timeline_figure(self) -> None:
        self.add(draw_timeline(self.r, legend()))

    def manifest_diff(self, a: Affected) -> None:
        if a.resource is not None and a.resource.state == "drifted":
            self.side_by_side(a)

    def side_by_side(self, a: Affected) -> None:
        """The manifest as declared beside the drifted one (or the live object), line by line
        around each difference, cut at ``context_lines`` rows."""
        assert a.resource is not None
        texts = drift_texts(a.resource)
        if texts is None:
            return
        desired, other, placed = texts
        left, right = desired.splitlines(), other.splitlines()
        source = (a.resource.source or {}).get("path", "")
        right_title = (
            "actual: the drifted fields, in the manifest"
            if placed
            else "actual: the whole live object"
        )
        self.subheading("In the manifest")
        self.add(
            '<table class="sbs"><thead><tr>'
            f'<th class="ln"></th><th>desired (git) {code(source) if source else ""}</th>'
            f'<th class="ln"></th><th>{esc(right_title)}</th></tr></thead><tbody>',
        )
        budget = self.r.limits.context_lines
        shown = 0
        matcher = difflib.SequenceMatcher(None, left, right, autojunk=False)
        for group in matcher.get_grouped_opcodes(3):
            if shown >= budget:
                break
            first, last = group[0], group[-1]
            self.add(
                f'<tr class="hunk"><td class="ln"></td><td>lines {first[1] + 1}–{last[2]}</td>'
                f'<td class="ln"></td><td>lines {first[3] + 1}–{last[4]}</td></tr>'
            )
            for tag, i1, i2, j1, j2 in group:
                for k in range(max(i2 - i1, j2 - j1)):
                    if shown >= budget:
                        break
                    shown += 1
                    li, ri = i1 + k, j1 + k
                    has_left, has_right = li < i2, ri < j2
                    lcls = "" if tag == "equal" else (' class="del"' if has_left else "")
                    rcls = "" if tag == "equal" else (' class="add"' if has_right else "")
                    self.add(
                        f'<tr><td class="ln">{li + 1 if has_left else ""}</td>'
                        f"<td{lcls}>{esc(left[li]) if has_left else ''}</td>"
                        f'<td class="ln">{ri + 1 if has_right else ""}</td>'
                        f"<td{rcls}>{esc(right[ri]) if has_right else ''}</td></tr>"
                    )
        self.add("</tbody></table>")
        if shown >= budget:
            self.note(f"The diff is cut at {budget:,} lines; the bundle holds it whole (diffs/).")

    def problems(self) -> None:
        # The list opens on the heading's line and closes on the section's: the page's
        # layout since the first version, kept so that reports stay comparable byte for byte.
        items = self.problem_items()
        if items:
            self.add(
                '<section id="problems"><h2>Recording gaps and errors</h2><ul>',
                *items,
                "</ul></section>",
            )
