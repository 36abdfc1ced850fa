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


def zoom_label(span: timedelta) -> str:
    minutes = int(span.total_seconds() // 60)
    if minutes < 60:
        return f"{minutes}m"
    if minutes < 1440:
        return f"{minutes // 60}h"
    return f"{minutes // 1440}d"


APP_BINDINGS: list[BindingType] = [
    Binding("left", "step(-1)", "Prev change", id="time.prev_change"),
    Binding("right", "step(1)", "Next change", id="time.next_change"),
    Binding("shift+left", "shift(-1)", "Back one step", show=False, id="time.step_back"),
    Binding("shift+right", "shift(1)", "Forward one step", show=False, id="time.step_fwd"),
    Binding(
        "left_square_bracket",
        "resource_step(-1)",
        "Prev change of resource",
        key_display="[",
        show=False,
        id="time.prev_resource_change",
    ),
    Binding(
        "right_square_bracket",
        "resource_step(1)",
        "Next change of resource",
        key_display="]",
        show=False,
        id="time.next_resource_change",
    ),
    Binding("n", "notable(1)", "Next drift/manual", show=False, id="time.next_notable"),
    Binding("N", "notable(-1)", "Prev drift/manual", show=False, id="time.prev_notable"),
    Binding("g", "goto", "Go to", id="time.goto"),
    Binding("home", "first", "First change", show=False, id="time.first"),
    Binding("end", "last", "Latest", show=False, id="time.last"),
    Binding("l", "live", "Live", id="time.live"),
    Binding(
        "plus,equals_sign",
        "zoom(-1)",
        "Zoom in",
        key_display="+",
        show=False,
        id="view.zoom_in",
    ),
    Binding("minus", "zoom(1)", "Zoom out", key_display="-", show=False, id="view.zoom_out"),
    Binding("slash", "filter", "Filter", key_display="/", id="view.filter"),
    Binding("d", "toggle_unified", "Unified", id="view.unified"),
    Binding("z", "toggle_noise", "Noise", id="view.noise"),
    # Not in the footer: at 80 columns it would push Quit out; the header's "prod (1/3)"
    # says there are others, and help and the command palette name the key.
    Binding("c", "pick_cluster", "Switch cluster", show=False, id="app.cluster"),
    Binding("e", "export", "Export", id="app.export"),
    Binding("colon", "command_palette", "Command", key_display=":", show=False, id="app.command"),
    Binding("question_mark", "help", "Help", key_display="?", id="app.help"),
    Binding("escape", "clear_filter", "Clear filter", show=False, id="app.clear_filter"),
    Binding("q", "quit", "Quit", id="app.quit"),
]
