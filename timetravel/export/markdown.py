"""The incident report in Markdown: paste-ready for an incident document or a GitHub issue.

Layout: a headline (what ran, drift, changes by cause), commits and pipeline runs with links,
a timeline table of the window, then one short section per affected resource with its field
diff (desired against actual, and the change that last set each field) and who changed what.
Past the limits in :class:`~timetravel.export.Limits` it summarizes and says what it left out.
Written for GitHub: a field diff of more than ``FOLD_ROWS`` rows and each drift in the
manifest (a ``diff`` code block) sit in ``<details>``, and ``max_chars`` (``export
--max-size``) keeps the whole under a comment's size, cutting the least important parts
first and listing them at the end (``markdown_fit.py``).

Everything from the cluster or git is escaped: code spans get a fence longer than any run of
backticks inside, table cells escape ``|``, text escapes Markdown and HTML characters, and
only http(s) URLs become links. Control and bidi characters are written as escapes
(:func:`~timetravel.domain.printable.printable`), the same in a viewer and under ``cat``.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from typing import Any

from timetravel.domain.model import ResourceKey
from timetravel.domain.printable import printable
from timetravel.domain.snapshot import ChangeView, Snapshot
from timetravel.export.manifest_diff import drift_texts, unified_diff
from timetravel.export.markdown_fit import fit
from timetravel.export.options import ExportOptions
from timetravel.export.report import Affected, Report, build_report
from timetravel.export.sections import Sections
from timetravel.export.wording import plural, safe_url

_ESCAPE = re.compile(r"([\\`*_\[\]<>~&$])")
_BACKTICKS = re.compile(r"`+")


def text(value: Any) -> str:
    """Text from the cluster or git as inline Markdown: one line, special characters escaped,
    control characters visible (after the Markdown escapes: a viewer shows ``\\x1b`` as
    written, since a backslash before a letter is no escape)."""
    return printable(_ESCAPE.sub(r"\\\1", " ".join(str(value).split())))


def code(value: Any) -> str:
    """A code span that holds ``value`` exactly, on one line (``row`` escapes its pipes),
    line breaks as ``⏎`` and other control characters as escapes."""
    raw = str(value).replace("\r\n", "⏎").replace("\n", "⏎").replace("\r", "⏎")
    raw = printable(raw, block=True)  # code spans show backslashes as they are
    if not raw:
        return "*empty*"
    fence = "`" * (max((len(m) for m in _BACKTICKS.findall(raw)), default=0) + 1)
    if raw[0] == "`" or raw[-1] == "`" or (raw[0] == " " and raw[-1] == " " and raw.strip()):
        raw = f" {raw} "
    return f"{fence}{raw}{fence}"


def link(label: str, url: str | None) -> str:
    """``[label](url)`` for a safe http(s) URL; the label alone otherwise (already Markdown)."""
    safe = safe_url(url)
    return f"[{label}]({safe})" if safe else label


def row(*cells: str) -> str:
    """A table row. Every ``|`` in a cell is content (links never hold one), so all are
    escaped here, inside code spans too: GFM splits cells before it reads code spans."""
    return "| " + " | ".join(cell.replace("|", "\\|") or " " for cell in cells) + " |"


def header(*names: str) -> list[str]:
    return [row(*names), "|" + "|".join("---" for _ in names) + "|"]


def fence(lines: Iterable[str]) -> str:
    """A code fence longer than any run of backticks in ``lines``: none of them closes it."""
    longest = max((len(m) for line in lines for m in _BACKTICKS.findall(line)), default=0)
    return "`" * max(3, longest + 1)


def render_markdown(
    snapshot: Snapshot, options: ExportOptions | None = None, *, max_chars: int | None = None
) -> bytes:
    """The report; with ``max_chars``, cut to fit (see ``markdown_fit.py``)."""
    report = build_report(snapshot, options or ExportOptions())
    text = _render(report) if max_chars is None else fit(report, max_chars, _render)
    return text.encode("utf-8", "backslashreplace")


def _render(
    report: Report, skip: frozenset[str] = frozenset(), left_out: Iterable[str] = ()
) -> str:
    return _Markdown(report, skip).render(list(left_out))


class _Markdown(Sections):
    """The sections in Markdown: each block ends with a blank line; no ids, no styles."""

    absent = "*absent*"
    field_separator = "; "
    inferred_mark = " (inferred)"

    def __init__(self, report: Report, skip: frozenset[str] = frozenset()) -> None:
        super().__init__(report)
        self.skip = skip  # sections left out to fit a size (markdown_fit.py)

    def render(self, left_out: list[str] | None = None) -> str:
        self.add(f"# {self.headline()}", "", self.lede(), "")
        self.sections()
        if left_out:
            self.add("## Left out to fit", "", *left_out, "")
        self.add("---", "", f"*{self.colophon()}*")
        return "\n".join(self.out).rstrip("\n") + "\n"

    # --- sections left out to fit a size -----------------------------------------------------

    def git(self) -> None:
        if "git" not in self.skip:
            super().git()
        else:
            self.left_out("Commits and pipeline runs")

    def timeline(self) -> None:
        if "timeline" not in self.skip:
            super().timeline()
        else:
            self.left_out("Timeline")

    def affected(self) -> None:
        if "affected" not in self.skip:
            super().affected()
        else:
            self.left_out(f"Affected resources ({len(self.r.affected):,})")

    def problems(self) -> None:
        if "problems" not in self.skip:
            super().problems()
        elif self.problem_items():
            self.left_out("Recording gaps and errors")

    def left_out(self, title: str) -> None:
        self.open_section("", title)
        self.note("Left out to fit the size asked for (see the end); it is in the JSON snapshot.")

    # --- markup ------------------------------------------------------------------------------

    def text(self, value: Any) -> str:
        return text(value)

    def code(self, value: Any) -> str:
        return code(value)

    def link(self, label: str, url: str | None) -> str:
        return link(label, url)

    def internal_link(self, label: str, fragment: str) -> str:
        return label  # a pasted report's headings have no stable ids

    def strong(self, markup: str) -> str:
        return f"**{markup}**"

    def em(self, markup: str) -> str:
        return f"*{markup}*"

    def mark(self, markup: str, style: str) -> str:
        return markup  # no styles in Markdown

    def ref(self, key: ResourceKey, *, linked: bool = True) -> str:
        return code(self.r.name(key))

    def cause_label(self, cause: str) -> str:
        return f"**{text(cause)}**"

    def evidence(self, evidence: str) -> str:
        return ": " + text(evidence)

    def failed(self, status: str) -> str:
        return f"**{status}**"

    # --- layout: blocks end with a blank line ------------------------------------------------

    def open_section(self, anchor: str, title: str) -> None:
        self.add(f"## {title}", "")

    def close_section(self) -> None:
        pass  # the next heading ends it

    def paragraph(self, markup: str) -> None:
        self.add(markup, "")

    def note(self, markup: str) -> None:
        self.add(f"*{markup}*", "")

    def subheading(self, markup: str) -> None:
        self.add(f"{markup}:", "")

    def item(self, markup: str, style: str = "") -> str:
        return f"- {markup}"

    def bullets(self, items: Iterable[str]) -> None:
        self.add(*items, "")

    def table(self, head: Iterable[str], rows: Iterable[str], style: str = "") -> None:
        self.add(*header(*head), *rows, "")

    def table_row(self, *cells: str, style: str = "") -> str:
        return row(*cells)

    def moment_row(self, when: str, width: int, what: str = "") -> str:
        return row(self.strong(when), self.strong("snapshot moment"), *[""] * (width - 3), what)

    def diff_row(self, entry: dict[str, Any], setter: ChangeView | None) -> str:
        limit = self.r.limits.value_chars
        return row(
            code(entry.get("path", "")),
            self.value(entry.get("desired"), limit),
            self.value(entry.get("actual"), limit),
            self.setter(setter),
        )

    def open_resource(self, a: Affected) -> None:
        self.add(f"### {self.ref(a.key)} · {text(a.label)}", "")

    def close_resource(self) -> None:
        pass  # the next heading ends it

    def stresses(self, state: str, n: int) -> bool:
        # no cards above: the sentence is where a reader sees drift and missing resources
        return n > 0 and state in ("drifted", "missing")

    # --- folded parts ------------------------------------------------------------------------

    def fold(self, summary: str) -> bool:
        # GitHub renders Markdown inside <details> when a blank line follows the summary.
        # the summary is HTML, not Markdown: GitHub shows a Markdown escape as written
        self.add(f"<details><summary>{html.escape(summary)}</summary>", "")
        return True

    def unfold(self) -> None:
        self.add("</details>", "")

    def manifest_diff(self, a: Affected) -> None:
        """A drifted resource's drift in its manifest, as a folded ``diff`` block (GitHub
        colours it), cut at ``context_lines`` lines as the HTML report's side-by-side is."""
        budget = self.r.limits.context_lines
        if budget <= 0 or a.resource is None or a.resource.state != "drifted":
            return
        texts = drift_texts(a.resource)
        if texts is None:
            return
        desired, other, placed = texts
        right = "actual: the drifted fields, in the manifest" if placed else "actual: live"
        lines = list(unified_diff(desired, other, "desired (git)", right))
        if not lines:
            return
        # a line from the cluster keeps its text; control and bidi characters show escaped
        body = [printable(line, block=True) for line in lines[:budget]]
        mark = fence(body)
        self.fold(f"The drift in the manifest: {plural(len(lines), 'diff line')}")
        self.add(f"{mark}diff", *body, mark, "")
        if len(lines) > budget:
            self.note(f"The diff is cut at {budget:,} lines; the bundle holds it whole (diffs/).")
        self.unfold()
