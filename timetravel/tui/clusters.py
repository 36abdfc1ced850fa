"""The cluster the screen shows, in a store of several: the picker (``c``), the command
palette's "Switch cluster: NAME", and clusters joining the store while it is open.

Switching keeps the cursor time and reads every panel again for the other cluster; the
data layer (``ScreenData.set_cluster``) limits every query to it.
"""

from __future__ import annotations

from collections.abc import Iterable

from textual.app import SystemCommand
from textual.markup import escape

from timetravel.domain.printable import printable
from timetravel.errors import UserError
from timetravel.tui.scrub import ScrubbingApp
from timetravel.tui.widgets.cluster_picker import ClusterScreen


class ClusterSwitching(ScrubbingApp):
    """Which cluster is shown; the app shows it (``_show_clusters``) and reads again."""

    # -- for the app ---------------------------------------------------------------------------
    def _show_clusters(self) -> None:
        """Show the cluster shown and how many there are (the header)."""

    def _reload(self, switched: bool) -> None:
        """Read every panel again at the cursor; ``switched``: for another cluster."""

    # -- switching -----------------------------------------------------------------------------
    def action_pick_cluster(self) -> None:
        clusters = self.data.clusters()
        if len(clusters) < 2:
            only = f"only {clusters[0]} is" if clusters else "no cluster is"
            self.notify(f"{only} recorded in this store", timeout=3)
            return

        def chosen(name: str | None) -> None:
            if name is not None:
                self.switch_cluster(name)

        self.push_screen(ClusterScreen(clusters, self.data.cluster), chosen)

    def switch_cluster(self, name: str) -> None:
        """Show ``name``'s objects from now on, at the same cursor time."""
        if name == self.data.cluster:
            return
        try:
            self.data.set_cluster(name)
        except UserError as exc:  # gone from the store meanwhile
            self.notify(str(exc), severity="error")
            return
        self._show_clusters()
        self._reload(switched=True)

    def _clusters_changed(self) -> None:
        """The store's clusters changed (a recorder of another one joined): show them, and
        read again (reads of a store of one cluster need no filter, so were not filtered)."""
        self._show_clusters()
        self._reload(switched=False)

    def cluster_commands(self) -> Iterable[SystemCommand]:
        """The command palette's "Switch cluster: NAME", one per other cluster."""
        current = self.data.cluster
        for name in self.data.clusters():
            if name == current:
                continue
            # The palette reads titles as markup: a recorded name must not be.
            shown = escape(printable(name))
            yield SystemCommand(
                f"Switch cluster: {shown}",
                f"Show {shown} at the same time (c: every cluster)",
                lambda name=name: self.switch_cluster(name),
            )
