"""``demo``: a recorded week of a small company's cluster, opened at its incident."""

from __future__ import annotations

import time
from pathlib import Path

import click

from timetravel.commands.options import time_arg, user_errors
from timetravel.config import data_dir
from timetravel.domain.model import ResourceKey
from timetravel.domain.timeparse import format_local
from timetravel.domain.times import DEFAULT_WINDOW, DEFAULT_WINDOW_TEXT, utc_now
from timetravel.host import local_zone


def plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


@click.command("demo")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to build it [default: the XDG data dir's demo/].",
)
@click.option("--no-ui", is_flag=True, help="Build, print the database path, and exit.")
@click.option(
    "--live", is_flag=True, help="Keep the environment changing while the screen follows LIVE."
)
@click.option(
    "--now",
    "now_text",
    default=None,
    hidden=True,
    help="Build the week as if it were this moment (reproducible screenshots and tests).",
)
@user_errors
def demo(directory: Path | None, no_ui: bool, live: bool, now_text: str | None) -> None:
    """Build a realistic recorded environment and open the screen at its incident.

    A week of payments, checkout, frontend and monitoring: deploys by GitHub Actions
    runs and Argo CD syncs, an autoscaler, and a Thursday-night incident (a bad image,
    a hand edit by the person on call, drift left behind), a recorder outage and a
    Secret rotation. The images are built from an application repository's commits and
    reported by CI (the frontend's deploy shows its lead time in `timetravel report`);
    one debugging Pod runs an image no build produced (/ prov:unknown in the screen).
    Everything goes through the real ingest paths: git repositories, import-events,
    record-run, record-build and import-audit.

    Example:

        timetravel demo --no-ui && timetravel export --db ~/.local/share/timetravel/demo/timetravel.db --at "thursday 21:30"
    """
    from timetravel.demo.build import build

    target = directory or data_dir() / "demo"
    started = time.monotonic()
    click.echo(f"building the demo in {target} ...", err=True)
    # The story is anchored to now: before Friday 04:40 local the recorder outage after the
    # incident has not happened yet, so tests pin the moment.
    now = utc_now() if now_text is None else time_arg(now_text)
    result = build(target, now=now)
    took = time.monotonic() - started
    story = result.story
    ci, syncs = story.runs_near_incident(DEFAULT_WINDOW)
    click.echo(
        f"built in {took:.1f}s: {len(story.commits)} commits, {len(story.writes)} cluster "
        f"changes, {plural(len(story.builds), 'build')} of "
        f"{plural(len(story.app_commits), 'source commit')}; incident at {format_local(story.incident, local_zone())}, with "
        f"{plural(ci, 'CI run')} and {plural(syncs, 'Argo CD sync')} within "
        f"{DEFAULT_WINDOW_TEXT} of it (as its export counts them)",
        err=True,
    )
    if no_ui:
        click.echo(str(result.db_path))
        return
    from timetravel.demo.live import LiveDemo
    from timetravel.query.screen import ScreenData
    from timetravel.tui.app import TimetravelApp

    feeder = LiveDemo(result.db_path) if live else None
    if feeder is not None:
        feeder.start()
    app = TimetravelApp(
        ScreenData(result.db_path),
        at=None if live else story.incident,
        live=live,
        recorder="demo (recording)" if live else "demo (read-only)",
        select=ResourceKey("prod-eu1", "apps", "Deployment", "payments", "api"),
    )
    try:
        app.run()
    finally:
        if feeder is not None:
            feeder.stop.set()
