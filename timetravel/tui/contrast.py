"""Colours that stay legible whatever the theme puts behind them.

A state's colour comes from the theme ($warning for drifted, ...) and the cursor row's
background from another of its colours ($accent at 35%): in the default theme $warning and
$accent are the same orange, so the selected drifted row's "≠ drifted" vanished into its
highlight, and on the light theme's white the same orange reads at a contrast of ~2:1.
WCAG asks 4.5:1 of text; these helpers move a colour toward black or white until it has it,
and on a highlight draw it as a chip: a patch of the panel's own background in the row.
"""

from __future__ import annotations

from rich.color import Color
from rich.style import Style

# WCAG 2's contrast for normal text.
LEGIBLE = 4.5


def _rgb(color: Color | None, fallback: tuple[int, int, int]) -> tuple[int, int, int]:
    if color is None:
        return fallback
    triplet = color.get_truecolor()
    return (triplet.red, triplet.green, triplet.blue)


def luminance(rgb: tuple[int, int, int]) -> float:
    """WCAG relative luminance of an sRGB colour."""

    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    """WCAG contrast ratio of two colours (1 to 21)."""
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def _mix(a: tuple[int, int, int], b: tuple[int, int, int], t: float) -> tuple[int, int, int]:
    return (
        round(a[0] + (b[0] - a[0]) * t),
        round(a[1] + (b[1] - a[1]) * t),
        round(a[2] + (b[2] - a[2]) * t),
    )


def legible_on(style: Style, background: Color | None) -> Style:
    """``style`` with its colour moved toward black or white (whichever the background is
    not) just enough to read at :data:`LEGIBLE` against ``background``."""
    bg = _rgb(background, (0, 0, 0))
    fg = _rgb(style.color, (255, 255, 255))
    if contrast(fg, bg) >= LEGIBLE:
        return style
    target = (0, 0, 0) if luminance(bg) > 0.18 else (255, 255, 255)
    for step in range(1, 11):
        moved = _mix(fg, target, step / 10)
        if contrast(moved, bg) >= LEGIBLE:
            break
    return style + Style(color=Color.from_rgb(*moved))


def chip(style: Style, background: Color | None) -> Style:
    """``style``'s colour on ``background`` (the panel's own, not the highlight's), made
    legible there: a state that keeps its colour on a highlight of any colour, its own too."""
    return legible_on(style, background) + Style(bgcolor=background, bold=True)
