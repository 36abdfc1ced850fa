"""Recorded text as the screen shows it: as written, never read as markup, escapes visible.

A border title, a ``Static`` given a ``str`` and a notification read Textual markup, so a
resource named ``[red]x[/]`` would turn red, and one with an unbalanced ``[`` would not show
at all. :func:`literal` makes :class:`~textual.content.Content` of the text instead, after
:func:`~timetravel.domain.printable.printable` made its control characters visible.
"""

from __future__ import annotations

from textual.content import Content

from timetravel.domain.printable import printable


def literal(text: str) -> Content:
    """``text`` shown as it is written, its control and bidi characters as escapes."""
    return Content(printable(text))
