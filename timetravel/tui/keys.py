"""The screen's keys (k9s where they overlap: / filter, ? help, : command, esc back)
and its zoom steps."""

from __future__ import annotations

from datetime import timedelta

from textual.binding import Binding, BindingType

ZOOMS = tuple(
    timedelta(minutes=m) for m in (15, 30, 60, 180, 360, 720, 1440, 4320, 10080, 20160, 43200)
)
DEFAULT_ZOOM = 6  # one day
# Seconds without a key before loads start (and running ones resume): a held key repeats
# every 30-80 ms, and the data for each moment it passes is not wanted.
QUIET = 0.08
# Seconds a theme must stay chosen before it is written to timetravel.toml.
THEME_SETTLES = 0.5


def zoom_label(span: timedelta) -> str:
    minutes = int(span.total_seconds() // 60)
    if minutes < 60:
        return f"{minutes}m"
    if minutes < 1440:
        return f"{minutes // 60}h"
    return f"{minutes // 1440}d"


# Each binding: a short description for the footer, and a tooltip that help shows, saying
# what the key does in the words of the person pressing it.
APP_BINDINGS: list[BindingType] = [
    Binding(
        "left",
        "step(-1)",
        "Prev change",
        tooltip="Move the cursor to the previous recorded change (any resource)",
        id="time.prev_change",
    ),
    Binding(
        "right",
        "step(1)",
        "Next change",
        tooltip="Move the cursor to the next recorded change (any resource)",
        id="time.next_change",
    ),
    Binding(
        "shift+left",
        "shift(-1)",
        "Back 10% of the window",
        show=False,
        tooltip="Move the cursor back a tenth of the timeline's window (2h24m at 1d zoom)",
        id="time.step_back",
    ),
    Binding(
        "shift+right",
        "shift(1)",
        "Forward 10% of the window",
        show=False,
        tooltip="Move the cursor forward a tenth of the timeline's window",
        id="time.step_fwd",
    ),
    Binding(
        "left_square_bracket",
        "resource_step(-1)",
        "Prev change of resource",
        key_display="[",
        show=False,
        tooltip="Move to the selected resource's previous change",
        id="time.prev_resource_change",
    ),
    Binding(
        "right_square_bracket",
        "resource_step(1)",
        "Next change of resource",
        key_display="]",
        show=False,
        tooltip="Move to the selected resource's next change (its creation, if not created yet)",
        id="time.next_resource_change",
    ),
    Binding(
        "n",
        "notable(1)",
        "Next drift/manual",
        show=False,
        tooltip="Move to the next drift opening or hand-made (manual) change",
        id="time.next_notable",
    ),
    Binding(
        "N",
        "notable(-1)",
        "Prev drift/manual",
        show=False,
        tooltip="Move to the previous drift opening or hand-made (manual) change",
        id="time.prev_notable",
    ),
    Binding(
        "g",
        "goto",
        "Go to",
        tooltip="Go to a time you type: 21:30, thursday 21:30, -2h, an RFC 3339 time",
        id="time.goto",
    ),
    Binding(
        "home",
        "first",
        "First change",
        show=False,
        tooltip="Go to the first thing recorded",
        id="time.first",
    ),
    Binding("end", "last", "Latest", show=False, tooltip="Go to now", id="time.last"),
    Binding(
        "l",
        "live",
        "Live",
        tooltip="Follow now: the cursor moves with the clock and new records (again: stop)",
        id="time.live",
    ),
    Binding(
        "plus,equals_sign",
        "zoom(-1)",
        "Zoom in",
        key_display="+",
        show=False,
        tooltip="Show less time on the timeline (15m at most zoomed in)",
        id="view.zoom_in",
    ),
    Binding(
        "minus",
        "zoom(1)",
        "Zoom out",
        key_display="-",
        show=False,
        tooltip="Show more time on the timeline (30 days at most)",
        id="view.zoom_out",
    ),
    Binding(
        "slash",
        "filter",
        "Filter",
        key_display="/",
        tooltip="Filter the resources by name, kind or namespace; state:drifted for drift, "
        "prov:unknown for images no recorded build produced",
        id="view.filter",
    ),
    Binding(
        "d",
        "toggle_unified",
        "Unified",
        tooltip="Unified: git and live in one column, - for git's lines, + for live's "
        "(again: side by side)",
        id="view.unified",
    ),
    Binding(
        "z",
        "toggle_noise",
        "Noise",
        tooltip="Noise: also show what is not drift (server defaults, status, fields "
        "controllers set) and controllers' status reports",
        id="view.noise",
    ),
    Binding(
        "v",
        "values",
        "Whole values",
        show=False,
        tooltip="Show the selected resource's differing values and changed fields whole "
        "(enter on the diff or the cause does too)",
        id="view.values",
    ),
    Binding(
        "I",
        "toggle_ignored",
        "Ignored",
        show=False,
        tooltip="Show or hide the differences an ignore rule expects ([drift] ignore, an "
        "Application's ignoreDifferences), dimmed with the rule",
        id="view.ignored",
    ),
    Binding(
        "t",
        "note",
        "Note",
        show=False,
        tooltip='Pin a note at the cursor ("incident started"), about the selected '
        "resource or the whole moment; everyone reading the store sees it",
        id="app.note",
    ),
    Binding(
        "m",
        "mark",
        "Mark moment",
        show=False,
        tooltip="Mark the cursor's moment (A) to compare with (again at the same moment: clear it)",
        id="time.mark",
    ),
    Binding(
        "x",
        "compare",
        "Compare with mark",
        show=False,
        tooltip="Compare the cursor with the marked moment: what was added, removed or "
        "changed, each resource at A and at B (again, or esc: leave)",
        id="view.compare",
    ),
    Binding(
        "X",
        "compare_cluster",
        "Compare clusters",
        show=False,
        tooltip="Compare the cluster shown with another at the cursor (again, or esc: leave)",
        id="view.compare_cluster",
    ),
    Binding(
        "D",
        "drift_intervals",
        "Drift intervals",
        show=False,
        tooltip="Every drift of the selected resource, the one at the cursor marked: opened "
        "when and by whom, closed when and how, how long",
        id="view.drift_intervals",
    ),
    Binding(
        "p",
        "artifacts",
        "Provenance",
        show=False,
        tooltip="Provenance: which image digests the selected workload (or Pod) ran when, "
        "and the build and source commit of each (unknown provenance: no recorded build)",
        id="view.artifacts",
    ),
    # Not in the footer: at 80 columns it would push Quit out; the header's "prod (1/3)"
    # says there are others, and help and the command palette name the key.
    Binding(
        "c",
        "pick_cluster",
        "Switch cluster",
        show=False,
        tooltip="Show another cluster recorded in this store",
        id="app.cluster",
    ),
    Binding(
        "e",
        "export",
        "Export",
        tooltip="Write the moment at the cursor as JSON, Markdown, HTML or a bundle",
        id="app.export",
    ),
    Binding(
        "colon",
        "jump",
        "Jump: kind, ns, resource",
        key_display=":",
        show=False,
        tooltip="Jump as in k9s: deploy, ns payments, cm/web-config, all; q quits",
        id="app.jump",
    ),
    Binding(
        "question_mark",
        "help",
        "Help",
        key_display="?",
        tooltip="This help",
        id="app.help",
    ),
    Binding(
        "escape",
        "clear_filter",
        "Clear filter (/ then :)",
        show=False,
        tooltip="Clear the / filter, then leave compare mode, then the : jump's kind and namespace",
        id="app.clear_filter",
    ),
    Binding("q", "quit", "Quit", tooltip="Quit", id="app.quit"),
]
