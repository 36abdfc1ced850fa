"""The cluster picker: which of the store's clusters the screen shows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from timetravel.domain.printable import printable


class ClusterScreen(ModalScreen[str | None]):
    """The clusters by name, the one shown highlighted; enter switches, esc cancels."""

    AUTO_FOCUS = "#cluster-list"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="cluster.cancel"),
    ]

    def __init__(self, clusters: Sequence[str], current: str | None) -> None:
        super().__init__()
        self.clusters = list(clusters)
        self.current = current

    def compose(self) -> ComposeResult:
        # Names are recorded text: shown as written, never read as markup.
        options = [
            Option(Text(printable(name) + ("  (shown)" if name == self.current else "")), id=name)
            for name in self.clusters
        ]
        with Vertical(id="cluster-box") as box:
            box.border_title = "Show cluster"
            yield OptionList(*options, id="cluster-list")
            yield Static("enter: show it at the same time · esc: cancel", id="cluster-hint")

    def on_mount(self) -> None:
        if self.current in self.clusters:
            self.query_one(OptionList).highlighted = self.clusters.index(self.current)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
