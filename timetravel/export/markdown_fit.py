"""The Markdown report cut to a size: a GitHub comment holds at most 65,536 characters.

:func:`fit` renders the report, and while it is too long, lowers one limit at a time, the
least important first: the drift drawn in each manifest (the field tables say the same),
then the changes and differing fields shown per resource, the resources with a section of
their own, the timeline's rows, long values, and at last whole sections (the commits and
runs, the timeline, the affected resources, the gaps and errors), the summary last of all.
A step that does not shorten the report is not taken, so what the report leaves out is
only what had to go, and a section at the end ("Left out to fit") lists it; each part also
says in place what it left out, as it does past the usual limits.

Size is counted the way GitHub's limit is met in the worst case: each line break counts
two characters, since a browser sends a text area's line breaks as CRLF. A report within
``max_chars`` by this count is within it whichever way it is pasted or posted.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from timetravel.export.options import Limits
from timetravel.export.report import Report

Render = Callable[[Report, frozenset[str], Iterable[str]], str]


def size(text: str) -> int:
    """Characters as GitHub counts them at worst: a line break is two (CRLF)."""
    return len(text) + text.count("\n")


@dataclass(frozen=True)
class _Cut:
    limits: Limits
    skip: frozenset[str] = frozenset()


# Least important first. Each step lowers limits (never raises them: min with the current)
# or leaves a section out.
_STEPS: tuple[dict[str, int] | str, ...] = (
    {"context_lines": 0},
    {"changes": 10, "diff_rows": 20},
    {"resources": 20},
    {"timeline": 100},
    {"resources": 10},
    {"changes": 5, "diff_rows": 10},
    {"timeline": 50},
    {"resources": 5},
    {"value_chars": 60},
    "git",  # the timeline has the commits and runs too
    {"resource_rows": 100, "timeline": 20},
    {"resources": 1, "changes": 3, "diff_rows": 5},
    {"resources": 0, "resource_rows": 20},
    "problems",  # the summary counts them
    "timeline",
    "affected",
)

_SECTIONS = {
    "git": "the section Commits and pipeline runs",
    "timeline": "the section Timeline",
    "affected": "the section Affected resources",
    "problems": "the list of recording gaps and errors",
}


def _step(cut: _Cut, step: dict[str, int] | str) -> _Cut:
    if isinstance(step, str):
        return dataclasses.replace(cut, skip=cut.skip | {step})
    lowered = {k: min(v, getattr(cut.limits, k)) for k, v in step.items()}
    return dataclasses.replace(cut, limits=dataclasses.replace(cut.limits, **lowered))


def _left_out(first: Limits, cut: _Cut, max_chars: int) -> list[str]:
    """The closing section's lines: the size asked for, then each limit lowered and each
    section left out."""
    items = []
    last = cut.limits

    def lowered(name: str) -> int | None:
        value: int = getattr(last, name)
        return value if value < getattr(first, name) else None

    if lowered("context_lines") is not None:
        items.append("the drift drawn in each manifest (the tables of differing fields stay)")
    if (n := lowered("changes")) is not None:
        items.append(f"changes beyond {n:,} per resource")
    if (n := lowered("diff_rows")) is not None:
        items.append(f"differing fields beyond {n:,} per resource")
    if (n := lowered("resources")) is not None:
        items.append(
            f"a section of its own for each resource after the first {n:,}"
            if n
            else "a section of its own for each resource"
        )
    if (n := lowered("resource_rows")) is not None:
        items.append(f"rows of the affected-resources table beyond {n:,}")
    if (n := lowered("timeline")) is not None:
        items.append(f"timeline rows beyond {n:,}")
    if (n := lowered("value_chars")) is not None:
        items.append(f"values beyond {n:,} characters (cut with …)")
    items += [_SECTIONS[s] for s in ("problems", "git", "timeline", "affected") if s in cut.skip]
    lines = [
        f"To stay under {max_chars:,} characters (`--max-size`; a line break counts two), "
        "this report leaves out:",
        "",
    ]
    lines += [f"- {item}" for item in items]
    lines += [
        "",
        "Each part says what it left out. Everything is in the full report (without "
        "`--max-size`) and in the JSON snapshot (`timetravel export -o json`).",
    ]
    return lines


def fit(report: Report, max_chars: int, render: Render) -> str:
    """The report ``render`` writes, cut to at most ``max_chars`` (by :func:`size`)."""
    first = report.limits
    cut = _Cut(first)
    text = render(report, cut.skip, ())
    if size(text) <= max_chars:
        return text

    def draw(trial: _Cut, notes: Iterable[str] = ()) -> str:
        options = dataclasses.replace(report.options, limits=trial.limits)
        return render(dataclasses.replace(report, options=options), trial.skip, notes)

    body = text
    for step in _STEPS:
        trial = _step(cut, step)
        if trial == cut:
            continue
        shorter = draw(trial)
        if size(shorter) >= size(body):
            continue  # lowering this limit changes nothing here: keep what it shows
        cut, body = trial, shorter
        text = draw(cut, _left_out(first, cut, max_chars))
        if size(text) <= max_chars:
            return draw(cut := _needed(cut, first, body, draw), _left_out(first, cut, max_chars))
    cut = _needed(cut, first, body, draw)
    return _hard_cut(draw(cut, _left_out(first, cut, max_chars)), max_chars)


def _needed(cut: _Cut, first: Limits, body: str, draw: Callable[[_Cut], str]) -> _Cut:
    """``cut`` with each lowered limit that changes nothing put back (the timeline's
    limit once the timeline is left out, say), so the list of what was cut is only what
    was."""
    for field in dataclasses.fields(Limits):
        name = field.name
        if getattr(cut.limits, name) == getattr(first, name):
            continue
        back = dataclasses.replace(cut.limits, **{name: getattr(first, name)})
        trial = dataclasses.replace(cut, limits=back)
        if draw(trial) == body:
            cut = trial
    return cut


def _hard_cut(text: str, max_chars: int) -> str:
    """The last resort, when even the summary is too long (thousands of recording gaps):
    the summary's last points go, and a line says how many. Every other section is out by
    now, down to its heading and a note, so the cut falls in a plain list."""
    lines = text.split("\n")
    start = lines.index("## Summary")
    end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("## "))
    points = [i for i in range(start, end) if lines[i].startswith("- ")]

    def without(dropped: int) -> str:
        gone = set(points[len(points) - dropped :]) if dropped else set()
        summary = [lines[i] for i in range(start, end) if i not in gone]
        if dropped:
            note = f"*The summary is cut here: {dropped:,} more points left out to fit.*"
            summary[-1:] = ["", note, ""]  # a paragraph of its own, not the last point's
        rest = list(lines[end:])
        if dropped and "## Left out to fit" in rest:
            at = rest.index("## Left out to fit")
            items = [i for i in range(at, len(rest)) if rest[i].startswith("- ")]
            # after the list's last item; or, with none, after its opening line
            rest.insert(
                max(items) + 1 if items else at + 4, f"- the summary's last {dropped:,} points"
            )
        return "\n".join([*lines[:start], *summary, *rest])

    # the fewest points to drop: size only shrinks as more go
    low, high = 0, len(points)
    while low < high:
        middle = (low + high) // 2
        if size(without(middle)) <= max_chars:
            high = middle
        else:
            low = middle + 1
    return without(low)
