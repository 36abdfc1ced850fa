"""The incident report in Markdown: paste-ready for an incident document or a GitHub issue.

Layout: a headline (what ran, drift, changes by cause), commits and pipeline runs with links,
a timeline table of the window, then one short section per affected resource with its field
diff (desired against actual, and the change that last set each field) and who changed what.
Past the limits in :class:`~timetravel.export.Limits` it summarizes and says what it left out.

Everything from the cluster or git is escaped: code spans get a fence longer than any run of
backticks inside, table cells escape ``|``, text escapes Markdown and HTML characters, and
only http(s) URLs become links. Control and bidi characters are written as escapes
(:func:`~timetravel.domain.printable.printable`), the same in a viewer and under ``cat``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from timetravel.domain.model import ResourceKey
from timetravel.domain.printable import printable
from timetravel.domain.snapshot import ChangeView, Snapshot
from timetravel.export.options import ExportOptions
from timetravel.export.report import Affected, build_report
from timetravel.export.sections import Sections
from timetravel.export.wording import safe_url

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


def render_markdown(snapshot: Snapshot, options: ExportOptions | None = None) -> bytes:
    report = build_report(snapshot, options or ExportOptions())
    return _Markdown(report).render().encode("utf-8", "backslashreplace")


class _Markdown(Sections):
    """The sections in Markdown: each block ends with a blank line; no ids, no styles."""

    absent = "*absent*"
    field_separator = "; "
    inferred_mark = " (inferred)"

    def render(self) -> str:
        self.add(f"# {self.headline()}", "", self.lede(), "")
        self.sections()
        self.add("---", "", f"*{self.colophon()}*")
        return "\n".join(self.out).rstrip("\n") + "\n"

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
