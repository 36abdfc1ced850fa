"""Desired | actual side by side (or unified), and the field diff list under it.

Every line and value comes from the records: each is made printable as it is cut to its
column (PyYAML writes ESC as ``\\e`` but a right-to-left override as it is).
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Static

from timetravel.domain.model import ResourceKey
from timetravel.domain.printable import printable
from timetravel.domain.values import field_label, short_value, telling_rank
from timetravel.query.compare import Difference
from timetravel.query.detail import Detail, diff_entries
from timetravel.query.moment import EXTRANEOUS_PATH
from timetravel.tui import sidebyside
from timetravel.tui.literal import literal
from timetravel.tui.sidebyside import ACTUAL_ONLY, CHANGED, DESIRED_ONLY, SAME, Row
from timetravel.tui.widgets.linelist import TIME_KEYS
from timetravel.tui.widgets.resource_list import BADGES

MARK_CLASS = {
    CHANGED: "diff--changed",
    DESIRED_ONLY: "diff--desired-only",
    ACTUAL_ONLY: "diff--actual-only",
}


class DesiredActualView(ScrollView, can_focus=True):
    """YAML of the selected resource at the cursor; renders only the visible lines."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "scroll_up", "Up", show=False, id="yaml.up"),
        Binding("down,j", "scroll_down", "Down", show=False, id="yaml.down"),
        Binding("pageup,ctrl+b", "page_up", "Page up", show=False, id="yaml.page_up"),
        Binding("pagedown,ctrl+f", "page_down", "Page down", show=False, id="yaml.page_down"),
        *TIME_KEYS,
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        *MARK_CLASS.values(),
        "diff--gutter",
        "diff--note",
    }

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.detail: Detail | None = None
        self.unified = False
        self.noise = False
        self.rows: list[Row] = []
        self.lines: list[tuple[str, str]] = []
        self.note = "no resource selected"

    def show(self, detail: Detail | None, *, unified: bool, noise: bool) -> None:
        same_resource = (
            self.detail is not None and detail is not None and (self.detail.key == detail.key)
        )
        self.detail, self.unified, self.noise = detail, unified, noise
        self._build()
        count = len(self.lines) if unified else len(self.rows)
        self.virtual_size = Size(self.scrollable_content_region.width, count + 1)
        if not same_resource:
            self.scroll_to(0, 0, animate=False, immediate=True)
        self.refresh()

    def show_pair(
        self,
        key: ResourceKey | None,
        a: dict[str, Any] | None,
        b: dict[str, Any] | None,
        labels: tuple[str, str],
        *,
        unified: bool,
        noise: bool,
        loading: bool = False,
    ) -> None:
        """Compare mode: the resource at A (left) and at B (right), aligned as desired and
        actual are; ``labels`` name A and B (two moments, or two clusters)."""
        self.detail, self.unified, self.noise = None, unified, noise
        left, right = labels
        mode = f"unified (- {left}, + {right})" if unified else f"{left} │ {right}"
        self.border_title = literal(mode + ("" if noise else " · noise hidden"))
        self.border_subtitle = literal(key.display()) if key is not None else ""
        self.rows = sidebyside.align(
            sidebyside.to_yaml(a, noise=noise), sidebyside.to_yaml(b, noise=noise)
        )
        self.lines = sidebyside.unified(self.rows)
        if key is None:
            self.note = "nothing differs between them"
        elif loading:
            self.note = "reading…"
        elif a is None or b is None:
            self.note = f"not live at {left if a is None else right}"
        elif a == b:
            self.note = "the same at both"
        else:
            self.note = ""
        count = len(self.lines) if unified else len(self.rows)
        self.virtual_size = Size(self.scrollable_content_region.width, count + 1)
        self.refresh()

    def _build(self) -> None:
        detail = self.detail
        view = detail.view if detail else None
        mode = "unified" if self.unified else "desired │ actual"
        self.border_title = f"{mode}" + ("" if self.noise else " · noise hidden")
        if detail is None:
            self.rows, self.lines, self.note = [], [], "no resource selected"
            self.border_subtitle = ""
            return
        self.border_subtitle = literal(
            f"{detail.key.display()} · {view.state if view else 'not live'}"
        )
        shown = view.actual if view else None
        if not self.noise and detail.quiet_actual is not None:
            shown = detail.quiet_actual  # defaults and controller fields hidden too
        actual = sidebyside.to_yaml(shown, noise=self.noise)
        if view is not None and view.desired is not None:
            desired = sidebyside.to_yaml(view.desired, noise=self.noise)
            self.rows = sidebyside.align(desired, actual)
            self.note = ""
        else:
            self.rows = sidebyside.actual_only(actual)
            self.note = "not declared in git" if view is not None else ""
        if view is None:
            when = f" (deleted {detail.deleted_at[:19]}Z)" if detail.deleted_at else ""
            self.note = f"not live at the cursor{when}"
        rules = ignored_rules(detail)
        if rules:
            # The lines an ignore rule covers still differ below: say which are expected.
            ignored = "; ".join(
                f"{p} ({r})" if p != EXTRANEOUS_PATH else r for p, r in rules.items()
            )
            self.note = " · ".join(n for n in (self.note, f"ignored: {ignored}") if n)
        self.lines = sidebyside.unified(self.rows)

    # -- rendering ------------------------------------------------------------------------
    def _text(self, text: str, style: Style, width: int) -> list[Segment]:
        text = printable(text)
        cut = text if len(text) <= width else text[: max(0, width - 1)] + "…"
        return [Segment(cut.ljust(width), style)]

    def render_line(self, y: int) -> Strip:
        _, scroll_y = self.scroll_offset
        index = scroll_y + y
        width = self.scrollable_content_region.width
        base = self.rich_style
        note_style = base + self.get_component_rich_style("diff--note", partial=True)
        gutter = base + self.get_component_rich_style("diff--gutter", partial=True)
        if index == 0 and self.note:
            return Strip(self._text(self.note, note_style, width))
        index -= 1 if self.note else 0
        if self.unified:
            if not 0 <= index < len(self.lines):
                return Strip.blank(width, base)
            mark, line = self.lines[index]
            style = base + self._mark_style(mark)
            return Strip([Segment(mark + " ", gutter), *self._text(line, style, width - 2)])
        if not 0 <= index < len(self.rows):
            return Strip.blank(width, base)
        row = self.rows[index]
        half = max(1, (width - 3) // 2)
        style = base + self._mark_style(row.mark)
        left = row.desired if row.desired is not None else ""
        right = row.actual if row.actual is not None else ""
        return Strip(
            [
                Segment(row.mark, gutter),
                *self._text(left, style if row.desired is not None else base, half),
                Segment(" │ ", gutter),
                *self._text(right, style if row.actual is not None else base, width - half - 3),
            ]
        )

    def _mark_style(self, mark: str) -> Style:
        if mark == SAME:
            return Style()
        return self.get_component_rich_style(MARK_CLASS[mark], partial=True)


def _item_value(value: Any) -> Any:
    """An env-like item (``{name, value}``) by its value: its name is in the label."""
    if isinstance(value, dict) and "name" in value and set(value) - {"name"} == {"value"}:
        return value["value"]
    return value


def ignored_rules(detail: Detail | None) -> dict[str, str]:
    """The differences of the resource an ignore rule covers: path -> the rule, as written
    where it was found ("Application argocd/payments: /spec/replicas")."""
    view = detail.view if detail else None
    if view is None:
        return {}
    return {str(d.get("path")): str(d.get("ignored_by") or "a rule") for d in view.ignored}


def field_lines(
    detail: Detail | None, *, noise: bool, ignored: bool = True
) -> list[tuple[str, str, str, bool]]:
    """The field diff in words: (label, git's value, the live value, noise), values as
    compact JSON ("not set": the side lacks the field), most telling field first; the
    differences an ignore rule covers only with ``ignored`` (:func:`field_rows` says which)."""
    return [(r[0], r[1], r[2], r[3]) for r in field_rows(detail, noise=noise, ignored=ignored)]


def field_rows(
    detail: Detail | None, *, noise: bool, ignored: bool = True
) -> list[tuple[str, str, str, bool, str | None]]:
    """:func:`field_lines` with the rule that ignores each difference (None: drift)."""
    entries = diff_entries(detail.view if detail else None, detail.field_diffs if detail else ())
    rules = ignored_rules(detail)
    shown = [e for e in entries if (noise or not e[3]) and (ignored or e[0] not in rules)]
    # Drift first, most telling first; what a rule expects after it.
    shown.sort(key=lambda e: (e[0] in rules, telling_rank(e[0])))
    out = []
    for path, desired, actual, is_noise in shown:
        git = "not set" if desired is None else short_value(_item_value(desired), 200)
        live = "not set" if actual is None else short_value(_item_value(actual), 200)
        out.append((field_label(path), git, live, is_noise, rules.get(path)))
    return out


class FieldDiffList(Static, can_focus=True):
    """The selected resource's field differences, in words: what git wanted, what ran;
    noise on ``z``; enter shows every value whole."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "app.values", "Whole values", show=False, id="fields.values"),
        *TIME_KEYS,
    ]

    def show(self, detail: Detail | None, *, noise: bool, ignored: bool = True) -> None:
        """``ignored``: also the differences an ignore rule covers, dimmed with the rule
        (without: counted in the subtitle, never silently dropped)."""
        entries = diff_entries(
            detail.view if detail else None, detail.field_diffs if detail else ()
        )
        hidden = sum(1 for e in entries if e[3]) if not noise else 0
        rules = ignored_rules(detail)
        lines = field_rows(detail, noise=noise, ignored=ignored)
        drift = sum(1 for line in lines if line[4] is None)
        # Every ignored difference (or an extraneous object's "not in git") the rules name.
        covered = len(rules) if ignored else 0
        hidden_ignored = len(rules) - covered
        # The selected resource and its state in words: the list may show only a glyph.
        view = detail.view if detail else None
        if detail is None:
            self.border_title = "Git wanted → live"
        else:
            state = BADGES.get(view.state, ("", view.state)) if view else ("", "not live")
            self.border_title = literal(f"{detail.key.display()} {' '.join(state).strip()}")
        self.border_subtitle = (
            f"git → live: {drift}"
            + (f" +{covered} ignored" if covered else "")
            + (f" (+{hidden_ignored} ignored, I)" if hidden_ignored else "")
            + (f" (+{hidden} noise, z)" if hidden else "")
        )
        text = Text(no_wrap=True, overflow="ellipsis")
        if detail is None or detail.view is None:
            text.append("—", "dim")
        elif detail.view.desired is None:
            text.append(f"{printable(detail.view.state)}: nothing in git to compare with", "dim")
            if ignored:  # Argo CD's IgnoreExtraneous: its not being in git is expected
                for rule in rules.values():
                    text.append("\n" + _cut(f"ignored: {printable(rule)}", 76), "dim italic")
        elif not lines:
            text.append("desired and actual agree", "dim")
            if hidden_ignored:
                text.append(f" ({hidden_ignored} ignored, I shows)", "dim")
        for label, git, live, is_noise, covered_by in lines:
            if text:
                text.append("\n")
            if covered_by is not None:
                # Ignored: dimmed whole, with the rule that covers it.
                line = Text(no_wrap=True, overflow="ellipsis", style="dim")
                line.append(printable(label) + ":")
                line.append(
                    f" git {printable(_cut(git, 20))}" if git != "not set" else " not in git"
                )
                line.append(
                    f", live {printable(_cut(live, 20))}" if live != "not set" else ", not live"
                )
                line.append(f"  ignored: {printable(covered_by)}", "italic")
                text.append_text(line)
                continue
            text.append(printable(label) + ":", "bold" if not is_noise else "dim")
            if git == "not set":
                text.append(" not in git", "dim")
            else:
                text.append(" git ", "dim")
                text.append(printable(_cut(git, 30)))
            if live == "not set":
                text.append(", not live", "dim")
            else:
                text.append(", live ", "dim")
                text.append(printable(_cut(live, 30)))
            if is_noise:
                text.append("  noise", "dim italic")
        if detail is not None and detail.conflict:
            # Several files in git declare it differently: which one is shown, and why
            # (docs/DESIRED.md's rule), is never hidden.
            text.append(("\n" if text else "") + printable(detail.conflict), "italic")
        self.update(text)

    def show_difference(
        self, key: ResourceKey | None, difference: Difference | None, labels: tuple[str, str]
    ) -> None:
        """Compare mode: what changed in the selected resource from A to B."""
        left, right = labels
        self.border_title = literal(f"{left} → {right}")
        text = Text(no_wrap=True, overflow="ellipsis")
        if key is None:
            self.border_subtitle = ""
            text.append("nothing added, removed or changed", "dim")
        elif difference is None:
            self.border_subtitle = ""
            text.append("the same at both", "dim")
        elif difference.change != "changed":
            self.border_subtitle = literal(difference.change)
            where = right if difference.change == "added" else left
            text.append(f"{difference.change}: only at {printable(where)}", "bold")
        else:
            self.border_subtitle = f"changed: {len(difference.fields)}"
            for field in difference.fields:
                if text:
                    text.append("\n")
                text.append(printable(field_label(field.path)) + ":", "bold")
                before, after = (
                    "not set" if value is None else short_value(_item_value(value), 200)
                    for value in (field.before, field.after)
                )
                # A and B by letter here (the title names them): room for the values.
                text.append(" A " if left.startswith("A ") else f" {printable(left)} ", "dim")
                text.append(printable(_cut(before, 24)))
                text.append(", B " if right.startswith("B ") else f", {printable(right)} ", "dim")
                text.append(printable(_cut(after, 24)))
        self.update(text)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
