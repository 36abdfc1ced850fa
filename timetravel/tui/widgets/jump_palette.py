"""The ``:`` prompt: Textual's command palette with one provider, the k9s-style jumps.

Enter runs what was typed (``:deploy`` then enter, as in k9s) unless a suggestion was
picked with the arrows; tab completes to the best suggestion; esc closes. Suggestions come
from the resources at the cursor (:class:`~timetravel.tui.jump.JumpIndex`), and show their
names as written, never as markup.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import ClassVar

from textual import on
from textual.binding import Binding, BindingType
from textual.command import (
    CommandInput,
    CommandList,
    CommandPalette,
    Hit,
    Hits,
    Provider,
    SearchIcon,
)
from textual.content import Content
from textual.markup import escape
from textual.style import Style
from textual.widgets import Input

from timetravel.tui.jump import JumpIndex, Suggestion

PLACEHOLDER = "deploy · deploy/api payments · ns payments · all · ctx NAME   (tab completes)"


class JumpHost:
    """What the palette needs of the app (it is the app)."""

    def jump_index(self) -> JumpIndex:  # pragma: no cover - the app's
        raise NotImplementedError

    def jump(self, text: str) -> None:  # pragma: no cover - the app's
        raise NotImplementedError


class JumpProvider(Provider):
    """Suggests jumps to the kinds, namespaces and resources at the cursor."""

    prefix = ""  # the palette of ctrl+p answers only ``:...``

    async def startup(self) -> None:
        app = self.app
        self.index = app.jump_index() if isinstance(app, JumpHost) else JumpIndex(())
        self.run: Callable[[str], None] = app.jump if isinstance(app, JumpHost) else _nothing

    async def search(self, query: str) -> Hits:
        if self.prefix:
            if not query.startswith(self.prefix):
                return
            query = query[len(self.prefix) :]
        # In a thread: over thousands of resources a key takes milliseconds.
        for suggestion in await asyncio.to_thread(self.index.suggest, query):
            yield self._hit(suggestion)

    async def discover(self) -> Hits:
        if self.prefix:
            return
        for suggestion in self.index.suggest(""):
            yield self._hit(suggestion)

    def _hit(self, suggestion: Suggestion) -> Hit:
        label = Content(suggestion.label)  # as written: never markup
        mark = Style(bold=True, underline=True)
        for at in suggestion.marks:
            if at < len(suggestion.label):
                label = label.stylize(mark, at, at + 1)
        text = suggestion.text
        return Hit(
            suggestion.score,
            label,
            lambda: self.run(text),
            text=self.prefix + text,
            help=escape(suggestion.help),
        )


def _nothing(text: str) -> None:
    pass


class ColonJumpProvider(JumpProvider):
    """The same jumps in the ctrl+p palette, for a query typed with its colon."""

    prefix = ":"


class JumpPalette(CommandPalette):
    """The ``:`` prompt."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("tab", "complete", "Complete", show=False),
    ]

    def __init__(self, index: JumpIndex, run: Callable[[str], None]) -> None:
        super().__init__(providers=[JumpProvider], placeholder=PLACEHOLDER, id="jump-palette")
        self.index = index
        self._run = run
        self._picked = False  # a suggestion highlighted by the user, not by the palette

    def on_mount(self) -> None:
        self.query_one(SearchIcon).icon = ":"  # the prompt reads as k9s's

    @on(Input.Changed)
    def _typed(self, event: Input.Changed) -> None:
        self._picked = False  # the palette goes on to gather suggestions (its own handler)

    def _action_cursor_down(self) -> None:
        self._picked = True
        super()._action_cursor_down()

    def _action_command_list(self, action: str) -> None:
        self._picked = True
        super()._action_command_list(action)

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        """Enter runs the typed command when it names something known; else the best
        suggestion for it (``:depl`` runs ``deployment``), unless the user moved to one
        with the arrows: then the palette runs that one. The best is asked of the index
        here, not read off the list, which may not have caught up with fast typing."""
        commands = self.query_one(CommandList)
        if self._picked and self._list_visible and commands.highlighted is not None:
            return
        event.stop()
        event.prevent_default()  # not the palette's own "highlight the first" step
        text = self._completed(event.value.strip())
        self._cancel_gather_commands()
        self.dismiss()
        if text:
            self.app.call_later(self._run, text)

    def _completed(self, text: str) -> str:
        if self.index.knows(text):
            return text
        best = self.index.suggest(text)
        return best[0].text if best else text

    def action_complete(self) -> None:
        """Tab: fill in the highlighted suggestion, or the best for what is typed."""
        field = self.query_one(CommandInput)
        commands = self.query_one(CommandList)
        hit = None
        if self._picked and commands.highlighted is not None:
            hit = getattr(commands.get_option_at_index(commands.highlighted), "hit", None)
        if isinstance(hit, Hit) and hit.text:
            field.value = hit.text
        else:
            best = self.index.suggest(field.value)
            if not best:
                return
            field.value = best[0].text
        field.cursor_position = len(field.value)
