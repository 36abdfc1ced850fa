"""The timetravel screen: scrub a timeline over the store and see what ran, and why.

The event loop only moves the cursor and repaints; every read of the store happens in a
thread worker (see :mod:`timetravel.tui.loads`) that posts its result back as a message.
Results for a cursor that has moved on are dropped.
"""

from __future__ import annotations

import difflib
import time
from collections.abc import Callable, Iterable
from datetime import datetime, tzinfo
from pathlib import Path
from typing import ClassVar

from rich.style import Style
from textual import events, on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Input, Static
from textual.worker import Worker, WorkerState, get_current_worker

from timetravel.config import UiSettings, data_dir, load_ui, save_theme
from timetravel.domain.model import ResourceKey
from timetravel.domain.times import to_rfc3339
from timetravel.errors import UserError
from timetravel.query.desired import RENDERING
from timetravel.query.detail import with_drift
from timetravel.query.rows import ResourceSet
from timetravel.query.screen import ScreenData
from timetravel.query.timeline import Marker
from timetravel.query.workload_artifacts import ARTIFACT_KINDS
from timetravel.tui.clusters import ClusterSwitching
from timetravel.tui.investigate import Investigating
from timetravel.tui.jump import (
    JumpError,
    JumpIndex,
    Scope,
    cluster_of,
    land,
    parse_jump,
    same_text,
)
from timetravel.tui.keys import APP_BINDINGS, THEME_SETTLES, zoom_label
from timetravel.tui.loads import Loads
from timetravel.tui.messages import (
    AroundLoaded,
    ArtifactsLoaded,
    CausesLoaded,
    CausesWanted,
    DetailLoaded,
    DriftLoaded,
    ProvenanceLoaded,
    ResourceHighlighted,
    ResourcesLoaded,
    StoreChanged,
    TimelineLoaded,
)
from timetravel.tui.settings import keymap
from timetravel.tui.widgets.artifacts import ArtifactsScreen, history_text
from timetravel.tui.widgets.cause_panel import CausePanel
from timetravel.tui.widgets.changes_list import ChangesList
from timetravel.tui.widgets.desired_actual import DesiredActualView, FieldDiffList
from timetravel.tui.widgets.dialogs import HelpScreen
from timetravel.tui.widgets.export_dialog import ExportRequest, ExportScreen
from timetravel.tui.widgets.header import StatusHeader
from timetravel.tui.widgets.jump_palette import ColonJumpProvider, JumpHost, JumpPalette
from timetravel.tui.widgets.linelist import LineList
from timetravel.tui.widgets.resource_list import ResourceList
from timetravel.tui.widgets.timeline import Timeline
from timetravel.tui.widgets.values import ValuesScreen, values_text

# The smallest screen that holds the essentials (the moment, the selected resource's state
# and drift, its cause): a common terminal and tmux pane size.
MIN_SIZE = (80, 24)
TOO_SMALL = f"terminal too small (need {MIN_SIZE[0]}x{MIN_SIZE[1]})"


class TimetravelApp(Investigating, ClusterSwitching, JumpHost):
    """The screen. ``now`` freezes the clock (tests); ``tz`` is the local zone shown;
    ``jump`` is a ``:`` command (without the colon) run once the first moment is loaded."""

    CSS_PATH = "app.tcss"
    TITLE = "timetravel"
    BINDINGS: ClassVar[list[BindingType]] = APP_BINDINGS
    COMMANDS = App.COMMANDS | {ColonJumpProvider}

    def __init__(
        self,
        data: ScreenData,
        *,
        at: datetime | None = None,
        now: datetime | Callable[[], datetime] | None = None,
        tz: tzinfo | None = None,
        live: bool = False,
        recorder: str = "read-only",
        recorder_status: Callable[[], str] | None = None,
        poll_interval: float = 1.0,
        clock_tick: float = 1.0,
        export_dir: Path | None = None,
        select: ResourceKey | None = None,
        jump: str | None = None,
        settings: UiSettings | None = None,
    ) -> None:
        super().__init__(data, at=at, now=now, tz=tz, live=live, select=select)
        self.loads = Loads(self, data)
        if recorder_status is None and getattr(data, "read_only_copy", False):
            recorder = "read-only copy"  # a forensic copy: nothing records into it
        self.recorder = recorder
        # Asked from the poll worker (it may look at a child process and a log file).
        self.recorder_status = recorder_status
        self.poll_interval = poll_interval
        self.clock_tick = clock_tick  # seconds between LIVE's moves with the clock
        # Reports gather in one known place (the data directory's exports/), not wherever
        # the screen happened to be started.
        self.export_dir = export_dir or data_dir() / "exports"
        self.unified = False
        self.noise = False
        self.resources: ResourceSet | None = None
        self.gaps: list[Marker] = []  # the recorded gaps in the timeline's view
        self.kept_from: datetime | None = None  # history before it was pruned
        self._polled_once = False
        self._pending_jump = jump
        # [keymap] and [ui] theme: the user's timetravel.toml unless given (tests).
        self.settings = load_ui() if settings is None else settings
        self.user_keymap, warnings = keymap(self.settings.keymap)
        self._settings_warnings = [*self.settings.warnings, *warnings]
        self._saved_theme: str | None = None  # the theme the settings file says
        self._theme_timer: Timer | None = None
        self._jump_index: tuple[ResourceSet, JumpIndex] | None = None

    # -- layout ------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        # Kept as attributes: a modal screen on top must not hide them from the workers.
        self.w_header = StatusHeader(self.tz, id="header")
        self.w_timeline = Timeline(self.tz, id="timeline")
        self.w_filter = Input(
            placeholder="filter: name, kind, namespace, state:drifted", id="filter"
        )
        self.w_resources = ResourceList(id="resources")
        self.w_yaml = DesiredActualView(id="yaml")
        self.w_fields = FieldDiffList(id="fields")
        self.w_cause = CausePanel(self.tz, id="cause")
        self.w_changes = ChangesList(self.tz, id="changes")
        self.w_footer = Footer()
        self.w_too_small = Static(TOO_SMALL, id="too-small")
        yield self.w_header
        yield self.w_timeline
        yield self.w_too_small
        # 80x24 first: the resources, then what git wanted against what ran and why; the
        # YAML and the changes of every resource join as the terminal grows (app.tcss).
        with Horizontal(id="main"):
            with Vertical(id="left"):
                yield self.w_filter
                yield self.w_resources
                yield self.w_changes
            with Vertical(id="right"):
                yield self.w_yaml
                yield self.w_fields
                yield self.w_cause
        yield self.w_footer

    def on_mount(self) -> None:
        self._apply_settings()
        self._show_clusters()
        self.loads.own_threads()
        self.w_filter.display = False
        self.w_resources.focus()
        self.w_yaml.show(None, unified=False, noise=False)
        self.w_cause.show(None)
        self.w_fields.show(None, noise=False)
        self.on_resize()
        if self.live:
            self._follow_now()
        self._cursor_changed(immediate=True)
        self._poll_store()
        self.set_interval(self.clock_tick, self.tick)

    # -- the user's keymap and theme (timetravel.toml) ------------------------------------------
    def _apply_settings(self) -> None:
        if self.user_keymap:
            self.set_keymap(self.user_keymap)
        theme = self.settings.theme
        if theme is not None:
            if theme in self.available_themes:
                self.theme = theme
            else:
                near = difflib.get_close_matches(theme, list(self.available_themes), 1)
                hint = f"did you mean {near[0]!r}?" if near else "ctrl+p, Change theme, lists them"
                self._settings_warnings.append(f"[ui] theme: no theme {theme!r}; {hint}")
        self._saved_theme = self.theme
        self._settings_warnings += [f"[drift] ignore: {p}" for p in self.data.ignore_problems()]
        for line in self._settings_warnings:
            self.notify(line, title="Settings", severity="warning", timeout=8)

    def watch_theme(self, theme: str) -> None:
        """A theme chosen in the screen (ctrl+p, "Change theme") is kept for next time;
        written once the choice has settled, so browsing themes writes nothing."""
        if self._saved_theme is None or self.settings.config is None:
            return  # not mounted yet, or nowhere to keep it
        if self._theme_timer is not None:
            self._theme_timer.stop()
        self._theme_timer = self.set_timer(THEME_SETTLES, self._theme_settled)

    def _theme_settled(self) -> None:
        self._theme_timer = None
        if self.theme != self._saved_theme:
            self._saved_theme = self.theme
            self._save_theme(self.theme)

    @work(group="theme", thread=True, exit_on_error=False)
    def _save_theme(self, theme: str) -> None:
        try:
            save_theme(theme, self.settings.config, self.settings.state)
        except OSError as exc:
            self.call_from_thread(
                self.notify, f"theme not kept: {exc}", title="Settings", severity="warning"
            )

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key):
            self.loads.hold()
        await super().on_event(event)

    def on_resize(self, event: events.Resize | None = None) -> None:
        width, height = event.size if event is not None else self.size
        compact = width < 100 or height < 30
        self.screen.set_class(compact, "-compact")
        self.screen.set_class(width >= 150, "-wide")
        self.screen.set_class(width < MIN_SIZE[0] or height < MIN_SIZE[1], "-too-small")
        # "^p palette" on the right would push Quit out of an 80-column footer.
        self.w_footer.show_command_palette = self.size.width >= 100
        # The density bar has one bucket per column: ask again once the new width is known.
        self.call_after_refresh(self._load_timeline)

    # -- the cursor ----------------------------------------------------------------------------
    def _paint_cursor(self) -> None:
        self.w_timeline.show(self.view_start, self.view_start + self.span, self.cursor)
        # Asked again at every move: a gap is a span, and the cursor may leave it without
        # the timeline's view (and its marks) changing.
        in_gap = any(m.until is not None and m.at <= self.cursor <= m.until for m in self.gaps)
        self.w_header.update_state(
            cursor_at=self.cursor,
            live=self.live,
            recorder=self.recorder,
            zoom=f"zoom {zoom_label(self.span)}",
            gaps=len(self.gaps),
            in_gap=in_gap,
            kept_from=self.kept_from,
        )

    def _load_at_cursor(self) -> None:
        self._load_timer = None
        self._loaded_at = at = self.cursor
        self.w_resources.loading_stale = True
        self.loads.resources(at, self.selected)
        if self.selected is not None:
            self.loads.detail(self.selected, at)
        self.compare_at_cursor()  # compare mode: B moved

    def _loads_idle(self) -> bool:
        return not self.loads.slots["resources"].busy

    @property
    def settled(self) -> bool:
        """No load pending or running (tests wait for this rather than sleeping)."""
        # Loads are followed by their slots (their workers are never cancelled); the poller
        # never ends; seeks and exports are plain workers.
        others = ("poll", *Loads.KINDS)
        busy = [w for w in self.workers if w.group not in others and not w.is_finished]
        loading = self.loads.busy or bool(self.w_resources.asked)
        timeline = self.w_timeline
        density = timeline.density
        current = density is not None and (density.start, density.end, len(density.counts)) == (
            self.view_start,
            self.view_start + self.span,
            timeline.size.width,
        )
        polled = self._polled_once and current
        idle = not busy and not loading and self._load_timer is None and self._seek_origin is None
        idle = idle and self._theme_timer is None
        return polled and idle

    # -- workers -------------------------------------------------------------------------------
    def _load_timeline(self) -> None:
        width = self.w_timeline.size.width
        if width:
            self.loads.timeline(self.view_start, self.view_start + self.span, width)

    @work(exclusive=True, group="poll", thread=True, exit_on_error=False)
    def _poll_store(self) -> None:
        """Watch the store for new facts every ``poll_interval`` (the recorder appends)."""
        worker = get_current_worker()
        seen: tuple[object, ...] | None = None
        damage_told: str | None = None
        while not worker.is_cancelled:
            if self.recorder_status is not None:
                status = self.recorder_status()
                if status != self.recorder:
                    self.call_from_thread(self._set_recorder, status)
            if self.data.refresh_clusters():  # a recorder of another cluster joined
                self.call_from_thread(self._clusters_changed)
            kept = self.data.kept_from()  # a prune moved where kept history starts
            if kept != self.kept_from:
                self.call_from_thread(self._set_kept_from, kept)
                seen = None  # what was before it is gone: read again
            # Revisions and ref updates: a commit alone is news too.
            first, last = self.data.time_range()
            git, git_at = self.data.newest_ref_update()
            if (first, last, git) != seen:
                seen = (first, last, git)
                if git_at is not None and (last is None or git_at > last):
                    last = git_at
                self.post_message(StoreChanged(last))
                self.call_from_thread(self._set_range, (first, last))
            # Damaged stored bytes a load met (and left out): said once, as it grows.
            damage = self.data.damage_line()
            if damage is not None and damage != damage_told:
                damage_told = damage
                self.call_from_thread(
                    self.notify, damage, title="Damaged records", severity="warning", timeout=12
                )
            deadline = time.monotonic() + self.poll_interval
            while time.monotonic() < deadline and not worker.is_cancelled:
                time.sleep(0.02)

    @work(exclusive=True, group="export", thread=True, exit_on_error=False)
    def _export_worker(self, at: datetime, request: ExportRequest) -> None:
        from timetravel.export import write_export

        snapshot = self.data.export_snapshot(at, window=request.window)
        try:
            data = write_export(snapshot, request.fmt, tz=self.tz)
            request.path.parent.mkdir(parents=True, exist_ok=True)
            request.path.write_bytes(data)
        except (OSError, UserError) as exc:
            self.call_from_thread(self.notify, f"export failed: {exc}", severity="error")
            return
        self.call_from_thread(self.notify, f"wrote {request.path}", title="Export")

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A failed read is shown, not fatal: the screen stays up on the last good data."""
        if event.state == WorkerState.ERROR:
            error = event.worker.error
            self.notify(f"{event.worker.group}: {error}", severity="error", timeout=6)
        if event.worker.is_finished:
            self.loads.finished(event.worker)

    def _set_recorder(self, status: str) -> None:
        self.recorder = status
        self._paint_cursor()

    def _set_kept_from(self, kept_from: datetime | None) -> None:
        self.kept_from = kept_from
        self.w_timeline.set_kept_from(kept_from)
        self._paint_cursor()

    def _set_range(self, current: tuple[datetime | None, datetime | None]) -> None:
        self.first_at, self.last_at = current
        self.w_header.update_state(first_at=self.first_at)

    # -- results -------------------------------------------------------------------------------
    def on_resources_loaded(self, message: ResourcesLoaded) -> None:
        resources = message.resources
        if resources.at != self.moment or resources.cluster != self.data.cluster:
            return
        self.loads.rows_landed()
        self.resources = resources
        listing = self.w_resources
        listing.loading_stale = False
        if self._pending_jump is not None:
            jump, self._pending_jump = self._pending_jump, None
            self._land(jump, resources, first=True)
        if self.selected is None and resources.rows:
            self.selected = resources.rows[0].key
            self.loads.detail(self.selected, self.moment)
        if self.comparing is None:  # else the list shows the comparison (esc shows these)
            listing.set_rows(
                resources.rows,
                self.selected,
                positions=resources.positions,
                counts=resources.counts if resources.complete else None,
                complete=resources.complete,
                spliced=resources.spliced,
            )
        if not resources.complete:
            return  # a glimpse: the whole set follows, and what reads it comes after
        self.loads.provenance(resources)  # the rows running images no build produced
        # The changes around the moment once its rows are shown: read beside them, they
        # would hold the GIL the rows and the detail need first.
        self.loads.around(resources.at)
        self.w_header.update_state(repos=resources.repos)

    @on(CausesWanted)
    def _causes_wanted(self, message: CausesWanted) -> None:
        if self.resources is not None:
            self.loads.causes(self.resources, message.keys)

    def on_causes_loaded(self, message: CausesLoaded) -> None:
        if self.resources is not None and message.at == self.resources.at:
            self.w_resources.add_causes(message.causes)
        else:
            self.w_resources.ask_again()  # asked of rows no longer shown

    def on_detail_loaded(self, message: DetailLoaded) -> None:
        detail = message.detail
        if detail.key != self.selected or detail.at != self.moment:
            return
        self.detail = detail
        self._show_detail()
        if detail.view is not None and detail.view.state == "drifted":
            self.loads.drift(detail.key, detail.at)
        if detail.key.kind in ARTIFACT_KINDS:
            self.loads.artifacts(detail.key, detail.at)

    def on_artifacts_loaded(self, message: ArtifactsLoaded) -> None:
        if (message.key, message.at) != (self.selected, self.moment):
            return
        if message.cluster == self.data.cluster:
            self.w_cause.show_artifacts(message.artifacts)

    def on_provenance_loaded(self, message: ProvenanceLoaded) -> None:
        resources = self.resources
        if resources is None or (message.at, message.cluster) != (resources.at, resources.cluster):
            return
        self.w_resources.set_unknown(message.unknown, message.flagged)

    def action_artifacts(self) -> None:
        """The artifact history of the selected resource: which digests ran when."""
        key = self.selected
        if key is None:
            self.notify("no resource selected", timeout=2)
            return
        screen = ArtifactsScreen(f"Provenance · {key.display()}")
        self.push_screen(screen)
        self._artifacts_worker(key, self.moment, screen, self.w_cause.warn_style())

    @work(exclusive=True, group="artifact_history", thread=True, exit_on_error=False)
    def _artifacts_worker(
        self, key: ResourceKey, at: datetime, screen: ArtifactsScreen, warn: Style
    ) -> None:
        history = self.data.artifact_history(key, at)
        body = history_text(history, self.tz, warn=warn)
        self.call_from_thread(screen.show, body)

    def on_drift_loaded(self, message: DriftLoaded) -> None:
        detail = self.detail
        if detail is None or (detail.key, detail.at) != (message.key, message.at):
            return
        self.detail = with_drift(detail, message.interval)
        self._show_detail()

    def show_panels(self) -> None:
        self._show_detail()

    def note_added(self) -> None:
        # Notes are read with each detail and timeline load (nothing of them is cached).
        self._load_timeline()
        if self.selected is not None:
            self.loads.detail(self.selected, self.moment)

    def _show_detail(self) -> None:
        if not self.show_compared():  # compare mode: the resource at A and at B instead
            self.w_yaml.show(self.detail, unified=self.unified, noise=self.noise)
            self.w_fields.show(self.detail, noise=self.noise, ignored=self.show_ignored)
        self.w_cause.show(self.detail, noise=self.noise)

    def on_around_loaded(self, message: AroundLoaded) -> None:
        if message.at == self.moment and message.cluster == self.data.cluster:
            self.w_changes.set_changes(message.at, message.changes, message.after_index)

    def on_timeline_loaded(self, message: TimelineLoaded) -> None:
        density = message.density
        if (density.start, density.end) != (self.view_start, self.view_start + self.span):
            return  # the view moved on while this was counted
        if message.cluster != self.data.cluster:
            return  # counted for the cluster shown before a switch
        self.w_timeline.set_data(density, message.markers)
        self.gaps = [m for m in message.markers if m.kind == "gap"]
        self._paint_cursor()

    def on_store_changed(self, message: StoreChanged) -> None:
        self._polled_once = True
        self.data.invalidate()
        self.w_resources.forget_causes()
        if self.live:
            self._follow_now(message.last)
            self._cursor_changed(immediate=True, recenter=True)
        elif self.resources is not None and any(
            r.endswith(RENDERING) for r in self.resources.repos
        ):
            # The moment shown waits for its desired set: a render may have brought it.
            self._cursor_changed(immediate=True)
        self._load_timeline()

    @on(ResourceHighlighted)
    def _resource_highlighted(self, message: ResourceHighlighted) -> None:
        self.selected = message.key
        if message.key is not None:
            self.loads.detail(message.key, self.moment)
            self.highlighted(message.key)

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.w_resources.set_filter(event.value)

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        self.w_resources.focus()

    def _show_live(self, live: bool) -> None:
        self.w_header.update_state(live=live)

    # -- actions: view ---------------------------------------------------------------------------
    def action_filter(self) -> None:
        field = self.w_filter
        field.display = True
        field.focus()

    def action_clear_filter(self) -> None:
        """Esc: the ``/`` filter first, then the ``:`` jump's kind and namespace."""
        field = self.w_filter
        if field.has_focus or field.value:
            field.value = ""
            field.display = False
            self.w_resources.focus()
        elif self.leave_compare():
            pass
        elif self.w_resources.scope:
            self.w_resources.set_scope(Scope())

    # -- : jumps (k9s) ---------------------------------------------------------------------
    def action_jump(self) -> None:
        if not any(isinstance(s, JumpPalette) for s in self.screen_stack):
            self.push_screen(JumpPalette(self.jump_index(), self.jump))

    def jump_index(self) -> JumpIndex:
        """What the ``:`` prompt suggests from: the resources at the cursor."""
        resources = self.resources
        if resources is None:
            return JumpIndex(())
        if self._jump_index is None or self._jump_index[0] is not resources:
            keys = (row.key for row in resources.rows)
            self._jump_index = (resources, JumpIndex(keys, self.data.clusters()))
        return self._jump_index[1]

    def jump(self, text: str) -> None:
        """Run a ``:`` command (``deploy``, ``ns payments``, ``cm/web-config``, ``all``;
        ``q`` quits, as in k9s); before the first moment is loaded, once it is."""
        if text.strip().removeprefix(":") in ("q", "q!", "quit"):
            self.exit()
            return
        cluster = cluster_of(text)
        if cluster is not None:
            self._jump_cluster(cluster)
            return
        if self.resources is None:
            self._pending_jump = text
            return
        self._land(text, self.resources, first=False)

    def _jump_cluster(self, typed: str) -> None:
        if not typed:
            self.action_pick_cluster()
            return
        names = self.data.clusters()
        name = next((c for c in names if same_text(typed, c)), None)
        if name is None:
            self.notify(f"no cluster {typed} in this store", severity="warning", timeout=4)
        else:
            self.switch_cluster(name)

    def _land(self, text: str, resources: ResourceSet, *, first: bool) -> None:
        listing = self.w_resources
        try:
            jump = parse_jump(text)
        except JumpError as exc:
            self.notify(f":{exc}", severity="warning")
            return
        landing = land(jump, listing.scope, (row.key for row in resources.rows))
        if landing.warning:
            self.notify(landing.warning, severity="warning", timeout=4)
        key = landing.select
        if first:  # the rows are shown next, with this scope and selection
            listing.scope = landing.scope
            if key is not None and key != self.selected:
                self.selected = key
                self.detail = None
                self.loads.detail(key, self.moment)
            return
        listing.set_scope(landing.scope)
        if key is not None:
            listing.select(key)
        listing.focus()

    def action_toggle_unified(self) -> None:
        self.unified = not self.unified
        self._show_detail()

    def action_toggle_noise(self) -> None:
        self.noise = not self.noise
        self._show_detail()

    def action_values(self) -> None:
        """Every value of the selected resource whole (the panels cut long ones)."""
        detail = self.detail
        title = detail.key.display() if detail is not None else "Values"
        self.push_screen(ValuesScreen(title, values_text(detail, noise=self.noise)))

    def before_records(self, at: datetime) -> str | None:
        """What to say of a moment before anything was recorded (None: after it)."""
        if self.first_at is None:
            return "nothing is recorded yet" if self._polled_once else None
        if at < self.first_at:
            first = self.first_at.astimezone(self.tz).strftime("%a %Y-%m-%d %H:%M:%S")
            return f"nothing was recorded before {first} (home goes there)"
        return None

    def action_export(self) -> None:
        at = self.cursor
        empty = self.before_records(at)
        if empty is not None:  # an export would be an empty report: say why instead
            self.notify(f"no export: {empty}", title="Export", severity="warning", timeout=6)
            return
        stamp = to_rfc3339(at).replace(":", "").replace("-", "")

        def chosen(request: ExportRequest | None) -> None:
            if request is None:
                return
            self.notify(
                f"exporting {request.fmt} at {to_rfc3339(at)} to {request.path}…", timeout=3
            )
            self._export_worker(at, request)

        self.push_screen(ExportScreen(self.export_dir, stamp), chosen)

    # -- clusters (see ClusterSwitching) ---------------------------------------------------
    def _show_clusters(self) -> None:
        self.w_header.update_state(cluster=self.data.cluster, clusters=self.data.clusters())

    def _reload(self, switched: bool) -> None:
        self.leave_compare()  # what it compared was of the cluster shown before
        self.resources = None
        self.detail = None
        self.gaps = []
        if switched:  # another cluster's objects: nothing of the last one stays selected
            self.selected = None
            self.w_resources.set_rows((), None)
        self.w_resources.forget_causes()
        self._cursor_changed(immediate=True)
        self._load_timeline()

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.binding_rows()))

    def binding_rows(self) -> list[tuple[str, str, str, str]]:
        """(keys, what it does in the user's words, where, binding id): the id is what
        ``[keymap]`` takes. The time keys lists repeat are listed once, under anywhere."""
        rows = []
        for where, bindings in (("anywhere", self.BINDINGS), ("in a list", LineList.BINDINGS)):
            for binding in bindings:
                assert isinstance(binding, Binding)
                if where != "anywhere" and binding.action.startswith("app."):
                    continue
                what = binding.tooltip or binding.description
                rows.append((self.key_of(binding), what, where, binding.id or ""))
        rows.append(("tab", "Move to the next panel", "anywhere", ""))
        return rows

    def key_of(self, binding: Binding) -> str:
        """The keys of a binding as shown, after the user's keymap."""
        mapped = self.user_keymap.get(binding.id or "")
        return mapped if mapped is not None else binding.key_display or binding.key

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for binding in self.BINDINGS:
            assert isinstance(binding, Binding)
            if binding.action in ("command_palette", "clear_filter"):
                continue
            action = binding.action
            yield SystemCommand(
                binding.description,
                f"{self.key_of(binding)}: {binding.description}",
                lambda action=action: self.run_action(action),
            )
        yield from self.cluster_commands()
